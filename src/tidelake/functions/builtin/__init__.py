"""Functions tidelake ships as ordinary function code: registered like a user's, from this folder
(``code_dir=CODE_DIR``) or as a zip through the Lambda API (``zip_code()``)."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

CODE_DIR = Path(__file__).parent
COMPACTION_FUNCTION = "tidelake-compaction"
COMPACTION_HANDLER = "compaction.lambda_handler"


def zip_code(module: str = "compaction.py") -> bytes:
    """A deployment package holding one built-in handler module at its root."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(CODE_DIR / module, module)
    return buffer.getvalue()
