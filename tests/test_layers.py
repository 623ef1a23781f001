"""The core never imports the wire layer, the server or the CLI (DESIGN.md: direction of imports)."""
import subprocess
import sys

import pytest

CORE = ["tidelake.stream.store", "tidelake.stream.consumer", "tidelake.platform", "tidelake.config",
        "tidelake.generate.retail", "tidelake.query.executions", "tidelake.functions.service",
        "tidelake.functions.mappings", "tidelake.functions.schedules", "tidelake.tables.store",
        "tidelake.schedule_expressions", "tidelake.group_commit", "tidelake.sqlite"]
EDGES = ["tidelake.aws", "tidelake.server", "tidelake.cli", "starlette", "uvicorn"]


@pytest.mark.parametrize("module", CORE)
def test_core_module_does_not_import_edges(module):
    code = (f"import sys, {module}; "
            f"bad = [m for m in sys.modules if any(m == e or m.startswith(e + '.') for e in {EDGES!r})]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"{module} pulls in {out}"
