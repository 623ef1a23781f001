"""`tidelake tables ...` against a running server, as a user types it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import tidelake

PRODUCTS = Path(__file__).resolve().parents[2] / "src" / "tidelake" / "generate" / "data" / "products.csv"


@pytest.mark.slow  # 5,446 items over HTTP and four CLI processes: about 4 s
def test_load_products_then_list_and_get(server):
    out = tidelake(server, "tables", "load", "cli_products", str(PRODUCTS), "--key", "product_cd").stdout
    assert "loaded 5446 items into cli_products" in out
    listing = tidelake(server, "tables", "list").stdout
    assert "cli_products" in listing and "5446" in listing
    item = json.loads(tidelake(server, "tables", "get", "cli_products", "88017099").stdout)
    assert item == {"division_cd": "45", "division_name": "담배", "maincategory_cd": "72",
                    "maincategory_name": "담배", "subcategory_cd": "220", "subcategory_name": "외산담배",
                    "product_cd": "88017099", "product_name": "던힐1mg", "is_pb": "N"}
    missing = tidelake(server, "tables", "get", "cli_products", "nope", check=False)
    assert missing.returncode == 1 and "No item with product_cd = nope" in missing.stderr


def test_load_types_keys_and_number_columns(server, tmp_path):
    rows = tmp_path / "scores.csv"
    rows.write_text("player,game,score,note\nann,1,10.50,\nann,2,7,good\nann,2,8,later row wins\n")
    tidelake(server, "tables", "load", "cli_scores", str(rows), "--key", "player", "--sort-key", "game",
             "--sort-key-type", "N", "--number", "score")
    item = json.loads(tidelake(server, "tables", "get", "cli_scores", "ann", "--sort", "2").stdout)
    assert item == {"player": "ann", "game": 2, "score": 8, "note": "later row wins"}
    assert json.loads(tidelake(server, "tables", "get", "cli_scores", "ann", "--sort", "1").stdout)["score"] == 10.5
    wrong = tidelake(server, "tables", "load", "cli_scores", str(rows), "--key", "score", check=False)
    assert wrong.returncode == 1 and "has the key player, game" in wrong.stderr
    absent = tidelake(server, "tables", "load", "cli_absent", str(rows), "--key", "player", "--no-create", check=False)
    assert absent.returncode == 1 and "does not exist" in absent.stderr
