"""`tidelake up` starts, reports where it is, and stops cleanly; `tidelake demo --check` passes."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from support import free_port


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_up_prints_endpoint_and_stops_cleanly(tmp_path, stop):
    port = free_port()
    data_dir = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-m", "tidelake", "up", "--port", str(port), "--data-dir", str(data_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_tidelake/health", timeout=1) as answer:
                assert answer.status == 200
                break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
            time.sleep(0.05)
    proc.send_signal(stop)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert f"http://127.0.0.1:{port}" in err
    assert str(data_dir.resolve()) in err
    assert "/ui/" in err
    assert "stopped" in err
    assert "leaked" not in err and "Traceback" not in err, err  # a clean stop says nothing more
    assert not (data_dir / "stream" / "log.db-wal").exists() or (data_dir / "stream" / "log.db-wal").stat().st_size == 0


def test_second_server_on_the_same_data_dir_is_refused(server):
    result = subprocess.run([sys.executable, "-m", "tidelake", "up", "--port", str(free_port()),
                             "--data-dir", str(server.data_dir)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Another tidelake process" in result.stderr


@pytest.mark.e2e
def test_demo_check_passes(tmp_path):
    env = {**os.environ, "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "tidelake", "demo", "--check", "--port", str(free_port()),
                             "--records", "1500"], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout
    for stage in ("stream", "lake", "query", "functions", "schedule"):
        assert re.search(rf"^\W*{stage}\W+OK\b", result.stdout, re.MULTILINE), f"{stage} did not pass:\n{result.stdout}"
