"""Turning user text (dataset names) into safe local file names."""

from __future__ import annotations

import re
import unicodedata

_UNSAFE = re.compile(r"[^\w.\-+=@,]+")
MAX_NAME = 200


def safe_file_name(name: str, *, fallback: str) -> str:
    """A plain file name made from ``name``: no directories, no leading dot or dash.

    Path separators, control characters and shell-special characters become ``_``;
    the result never escapes the directory it is joined to.
    """
    base = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip("._-")
    base = base[:MAX_NAME].rstrip("._-")
    return base or fallback
