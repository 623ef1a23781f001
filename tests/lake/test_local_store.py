"""LocalObjectStore only: the on-disk layout, crash safety, path containment, listing cost."""
from __future__ import annotations

import hashlib
import os
import random
import threading
from pathlib import Path

import duckdb
import orjson
import pytest

from tidelake.clock import ManualClock
from tidelake.lake import layout
from tidelake.lake.errors import (
    InvalidContinuationToken,
    InvalidObjectKey,
    ObjectNotFound,
    UploadNotFound,
)
from tidelake.lake.local_store import LocalObjectStore


def files_under(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()}


def bucket_files(store: LocalObjectStore, bucket: str) -> set[str]:
    return files_under(store.root / bucket)


@pytest.fixture
def lake(local_store: LocalObjectStore) -> LocalObjectStore:
    local_store.create_bucket("raw")
    return local_store


# -- layout --------------------------------------------------------------------------------

def test_objects_are_plain_hive_partitioned_files(lake: LocalObjectStore) -> None:
    for month, price in (("10", 1), ("11", 2)):
        lake.put_object("raw", f"json-data/year=2026/month={month}/part-0.json",
                        orjson.dumps({"ticker": "AMZN", "price": price}) + b"\n")
    assert bucket_files(lake, "raw") == {"json-data/year=2026/month=10/part-0.json",
                                         "json-data/year=2026/month=11/part-0.json"}
    rows = duckdb.sql(f"""
        SELECT ticker, price, year, month
        FROM read_json('{lake.root}/raw/json-data/**/*.json', hive_partitioning = true)
        ORDER BY month""").fetchall()
    assert rows == [("AMZN", 1, 2026, 10), ("AMZN", 2, 2026, 11)]


def test_objects_are_readable_by_other_tools(lake: LocalObjectStore) -> None:
    """Staged with mkstemp (0600), but a lake file gets the mode open() would give it."""
    lake.put_object("raw", "k", b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert (lake.root / "raw" / "k").stat().st_mode & 0o777 == 0o666 & ~umask


def test_key_and_folder_of_the_same_name(lake: LocalObjectStore) -> None:
    lake.put_object("raw", "a", b"file a")
    lake.put_object("raw", "a/b", b"file a/b")  # "a" must become a folder
    assert bucket_files(lake, "raw") == {"a/.tl~self", "a/b"}
    assert lake.get_object("raw", "a")[1] == b"file a"

    lake.delete_object("raw", "a/b")  # the escape goes away with the conflict
    assert bucket_files(lake, "raw") == {"a"}
    assert (lake.root / "raw" / "a").read_bytes() == b"file a"

    lake.put_object("raw", "x/y/z", b"deep")
    lake.put_object("raw", "x", b"top")  # the other order
    assert bucket_files(lake, "raw") == {"a", "x/.tl~self", "x/y/z"}
    lake.delete_object("raw", "x/y/z")
    assert bucket_files(lake, "raw") == {"a", "x"}
    assert lake.head_object("raw", "x").etag == '"' + hashlib.md5(b"top").hexdigest() + '"'


def test_folder_markers_and_empty_segments(lake: LocalObjectStore) -> None:
    lake.put_object("raw", "year=2026/", b"")
    lake.put_object("raw", "year=2026/part.json", b"{}")
    lake.put_object("raw", "a//b", b"x")
    lake.put_object("raw", ".tl~self", b"a user key that looks like an escape")
    assert bucket_files(lake, "raw") == {"year=2026/.tl~empty", "year=2026/part.json",
                                         "a/.tl~empty/b", ".tl~x.tl~self"}
    assert [o.key for o in lake.list_objects("raw").objects] == [
        ".tl~self", "a//b", "year=2026/", "year=2026/part.json"]
    for key in ("year=2026/", "year=2026/part.json", "a//b", ".tl~self"):
        lake.delete_object("raw", key)
    assert bucket_files(lake, "raw") == set()
    assert list((lake.root / "raw").iterdir()) == []  # empty folders are pruned


def test_internal_state_is_not_a_bucket(lake: LocalObjectStore) -> None:
    (lake.root / "Not_A_Bucket").mkdir()
    assert [b.name for b in lake.list_buckets()] == ["raw"]
    assert (lake.root / ".tidelake").is_dir()


def test_folders_dropped_in_by_hand_are_read(lake: LocalObjectStore) -> None:
    """Files copied into the lake without the store: listed, with ETags computed once."""
    (lake.root / "raw" / "import" / "d=1").mkdir(parents=True)
    (lake.root / "raw" / "import" / "d=1" / "f.csv").write_bytes(b"a,b\n1,2\n")
    (lake.root / "manual").mkdir()
    etag = '"' + hashlib.md5(b"a,b\n1,2\n").hexdigest() + '"'
    (summary,) = lake.list_objects("raw", prefix="import/").objects
    assert (summary.key, summary.etag) == ("import/d=1/f.csv", etag)
    assert lake.head_object("raw", "import/d=1/f.csv").content_type == "binary/octet-stream"
    assert "manual" in [b.name for b in lake.list_buckets()]


# -- metadata sidecars ---------------------------------------------------------------------

def test_etag_survives_a_lost_sidecar(lake: LocalObjectStore) -> None:
    lake.put_object("raw", "k", b"payload", content_type="text/plain", metadata={"a": "1"})
    sidecars = list((lake.root / ".tidelake" / "meta" / "raw" / "objects").rglob("*.json"))
    assert len(sidecars) == 1
    sidecars[0].unlink()
    info = lake.head_object("raw", "k")
    assert info.etag == '"' + hashlib.md5(b"payload").hexdigest() + '"'
    assert info.content_type == "binary/octet-stream" and info.metadata == {}
    assert sidecars[0].exists()  # repaired, so the next read does not hash again


def test_a_file_replaced_by_hand_gets_a_fresh_etag(lake: LocalObjectStore) -> None:
    lake.put_object("raw", "k", b"old", content_type="text/plain")
    path = lake.root / "raw" / "k"
    path.write_bytes(b"new content, by hand")
    os.utime(path, ns=(1, 1))
    info = lake.head_object("raw", "k")
    assert info.etag == '"' + hashlib.md5(b"new content, by hand").hexdigest() + '"'
    assert info.size == len(b"new content, by hand")


def test_crash_between_sidecar_and_rename_keeps_old_metadata(
        lake: LocalObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    lake.put_object("raw", "k", b"old", content_type="text/csv", metadata={"v": "1"})
    real_replace = os.replace

    def crash_on_data_rename(src, dst):
        if os.path.basename(src).startswith("obj-"):
            raise OSError("simulated crash before the data rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_data_rename)
    with pytest.raises(OSError):
        lake.put_object("raw", "k", b"new", content_type="text/plain")
    monkeypatch.undo()
    info, body = lake.get_object("raw", "k")
    assert (body, info.content_type, info.metadata) == (b"old", "text/csv", {"v": "1"})


def test_last_modified_comes_from_the_clock(tmp_path: Path) -> None:
    clock = ManualClock(start=1_800_000_000.5)
    store = LocalObjectStore(tmp_path / "lake", fsync=False, clock=clock)
    store.create_bucket("raw")
    assert store.put_object("raw", "k", b"x").last_modified == pytest.approx(1_800_000_000.5)
    assert store.head_object("raw", "k").last_modified == pytest.approx(1_800_000_000.5)
    assert store.head_bucket("raw").creation_date == pytest.approx(1_800_000_000.5)


# -- atomicity and crashes -----------------------------------------------------------------

def test_failed_write_leaves_no_temp_file(lake: LocalObjectStore) -> None:
    def dying():
        yield b"x" * 1_000_000
        raise RuntimeError("producer crashed")

    with pytest.raises(RuntimeError):
        lake.put_object("raw", "logs/part-0.json", dying())
    assert bucket_files(lake, "raw") == set()
    assert files_under(lake.root / ".tidelake" / "tmp") == set()


def test_readers_never_see_a_partial_object(lake: LocalObjectStore) -> None:
    size = 256 * 1024
    lake.put_object("raw", "hot", b"A" * size)
    stop = threading.Event()
    seen: set[bytes] = set()
    errors: list[str] = []

    def read() -> None:
        while not stop.is_set():
            _, body = lake.get_object("raw", "hot")
            if len(body) != size or body.count(body[:1]) != size:
                errors.append(f"torn read: {len(body)} bytes")
            seen.add(body[:1])

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    for i in range(60):
        lake.put_object("raw", "hot", (b"A" if i % 2 else b"B") * size)
    stop.set()
    for thread in readers:
        thread.join()
    assert errors == [] and seen <= {b"A", b"B"}


def test_interrupted_file_to_folder_move_is_repaired(tmp_path: Path) -> None:
    """Kill the process between the two renames that turn ``a`` into ``a/.tl~self``."""
    root = tmp_path / "lake"
    store = LocalObjectStore(root, fsync=False)
    store.create_bucket("raw")
    store.put_object("raw", "a", b"object a", content_type="text/plain")
    parked = root / ".tidelake" / "tmp" / "park-crashed"
    os.replace(root / "raw" / "a", parked)  # step 1 done, process "dies"
    (root / ".tidelake" / "journal" / "park-crashed.json").write_bytes(
        orjson.dumps({"parked": str(parked), "path": str(root / "raw" / "a")}))

    reopened = LocalObjectStore(root, fsync=False)
    info, body = reopened.get_object("raw", "a")
    assert (body, info.content_type) == (b"object a", "text/plain")
    assert list((root / ".tidelake" / "journal").iterdir()) == []


def test_interrupted_folder_to_file_move_is_repaired(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    store = LocalObjectStore(root, fsync=False)
    store.create_bucket("raw")
    store.put_object("raw", "a", b"object a")
    store.put_object("raw", "a/b", b"object a/b")
    (root / "raw" / "a" / "b").unlink()  # as if a/b was deleted, then the move below died
    parked = root / ".tidelake" / "tmp" / "park-crashed"
    os.replace(root / "raw" / "a" / layout.SELF, parked)
    (root / ".tidelake" / "journal" / "park-crashed.json").write_bytes(
        orjson.dumps({"parked": str(parked), "path": str(root / "raw" / "a")}))

    reopened = LocalObjectStore(root, fsync=False)
    assert reopened.get_object("raw", "a")[1] == b"object a"
    assert bucket_files(reopened, "raw") == {"a"}


def test_concurrent_puts_and_deletes_on_conflicting_keys(lake: LocalObjectStore) -> None:
    keys = ["a", "a/b", "a/b/c", "a/", "a//d", "b"]

    def churn(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(150):
            key = rng.choice(keys)
            if rng.random() < 0.6:
                lake.put_object("raw", key, key.encode())
            else:
                lake.delete_object("raw", key)

    threads = [threading.Thread(target=churn, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    listed = [o.key for o in lake.list_objects("raw").objects]
    assert listed == sorted(listed)
    for key in keys:
        if key in listed:
            assert lake.get_object("raw", key)[1] == key.encode()
        else:
            with pytest.raises(ObjectNotFound):
                lake.head_object("raw", key)
    assert list((lake.root / ".tidelake" / "journal").iterdir()) == []
    assert files_under(lake.root / ".tidelake" / "tmp") == set()


# -- containment ---------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["../escape", "a/../../escape", "/etc/passwd", "..\\escape",
                                 "a/..", "."])
def test_escaping_keys_write_nothing_anywhere(tmp_path: Path, key: str) -> None:
    store = LocalObjectStore(tmp_path / "lake", fsync=False)
    store.create_bucket("raw")
    before = files_under(tmp_path)
    with pytest.raises(InvalidObjectKey):
        store.put_object("raw", key, b"pwned")
    assert files_under(tmp_path) == before


@pytest.mark.parametrize("key", ["%2e%2e/%2e%2e/x", "..%2fx", "..x/..y", "x/...", "\u2024\u2024/x"])
def test_look_alike_keys_stay_inside_the_bucket(tmp_path: Path, key: str) -> None:
    """Percent-decoding is the HTTP edge's job; here these are literal, harmless names."""
    store = LocalObjectStore(tmp_path / "lake", fsync=False)
    store.create_bucket("raw")
    store.put_object("raw", key, b"data")
    assert bucket_files(store, "raw") == {key}
    assert store.get_object("raw", key)[1] == b"data"


def test_segment_longer_than_a_file_name(lake: LocalObjectStore) -> None:
    with pytest.raises(InvalidObjectKey):
        lake.put_object("raw", "x" * 256, b"")
    lake.put_object("raw", "x" * 255, b"")  # the longest a name can be


def test_forged_upload_ids_are_unknown(lake: LocalObjectStore) -> None:
    for upload_id in ("../../raw", "", "0" * 31 + "/"):
        with pytest.raises(UploadNotFound):
            lake.upload_part("raw", "k", upload_id, 1, b"x")
    upload_id = lake.create_multipart_upload("raw", "k")
    with pytest.raises(UploadNotFound):  # it belongs to another key
        lake.upload_part("raw", "other", upload_id, 1, b"x")
    etag = lake.upload_part("raw", "k", upload_id, 1, b"x")
    lake.complete_multipart_upload("raw", "k", upload_id, [(1, etag)])
    with pytest.raises(UploadNotFound):
        lake.upload_part("raw", "k", upload_id, 2, b"late")


def test_delete_bucket_drops_its_uploads_and_metadata(lake: LocalObjectStore) -> None:
    lake.create_multipart_upload("raw", "k")
    lake.put_object("raw", "k", b"x")
    lake.delete_object("raw", "k")
    lake.delete_bucket("raw")
    system = lake.root / ".tidelake"
    assert list((system / "uploads").iterdir()) == []
    assert not (system / "meta" / "raw").exists()


def test_bad_continuation_token(lake: LocalObjectStore) -> None:
    for token in ("garbage", "tl1.!!!", "tl1." + "//8="):
        with pytest.raises(InvalidContinuationToken):
            lake.list_objects("raw", continuation_token=token)


# -- listing at scale ----------------------------------------------------------------------

def partitioned_lake(root: Path, parts_per_day: int) -> tuple[LocalObjectStore, list[str]]:
    """Objects in Hive partitions: 12 months x 28 days x ``parts_per_day``."""
    store = LocalObjectStore(root, fsync=False)
    store.create_bucket("raw")
    keys = [f"events/year=2026/month={month:02d}/day={day:02d}/part-{part:04d}.json"
            for month in range(1, 13) for day in range(1, 29) for part in range(parts_per_day)]
    for key in keys:
        store.put_object("raw", key, b"{}\n")
    return store, sorted(keys)


@pytest.fixture(scope="module")
def hive_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalObjectStore, list[str]]:
    return partitioned_lake(tmp_path_factory.mktemp("hive") / "lake", parts_per_day=2)


def count_scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    scanned: list[str] = []
    real_scandir = os.scandir

    def counting(path):
        scanned.append(os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(layout.os, "scandir", counting)
    return scanned


def test_narrow_prefix_reads_only_its_folder(hive_lake, monkeypatch: pytest.MonkeyPatch) -> None:
    store, _ = hive_lake
    scanned = count_scans(monkeypatch)
    page = store.list_objects("raw", prefix="events/year=2026/month=07/day=15/")
    assert len(page.objects) == 2
    assert [Path(p).name for p in scanned] == ["day=15"]


def test_delimiter_rolls_up_without_walking_everything(hive_lake,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    store, _ = hive_lake
    scanned = count_scans(monkeypatch)
    page = store.list_objects("raw", prefix="events/year=2026/", delimiter="/")
    assert page.common_prefixes == [f"events/year=2026/month={m:02d}/" for m in range(1, 13)]
    assert len(scanned) <= 1 + 12 * 2  # the year folder, then one path down per month


def test_start_after_skips_folders_without_reading_them(hive_lake,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    store, keys = hive_lake
    scanned = count_scans(monkeypatch)
    after = "events/year=2026/month=12/day=27/part-0001.json"
    page = store.list_objects("raw", start_after=after)
    assert [o.key for o in page.objects] == [k for k in keys if k > after]
    # bucket, events, year, month=12, day=27 (holds the start), day=28: months 1-11 and
    # days 1-26 are never opened.
    assert len(scanned) == 6


@pytest.mark.slow  # 10,080 puts: creating files is ~0.5 ms each on some disks
def test_paging_through_ten_thousand_objects(tmp_path: Path) -> None:
    store, keys = partitioned_lake(tmp_path / "lake", parts_per_day=30)
    listed, token = [], None
    while True:
        page = store.list_objects("raw", prefix="events/", max_keys=1000, continuation_token=token)
        listed += [o.key for o in page.objects]
        if not page.is_truncated:
            break
        token = page.next_continuation_token
    assert listed == keys
