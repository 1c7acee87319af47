"""Turning user text (dataset names) into safe local file names."""

from __future__ import annotations

import re
import unicodedata

_UNSAFE = re.compile(r"[^\w.\-+=@,]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_NAME = 200


def safe_file_name(name: str, *, fallback: str) -> str:
    """A plain file name made from ``name``: no directories, no leading dot or dash.

    Path separators, control characters and shell-special characters become ``_``;
    the result never escapes the directory it is joined to.
    """
    base = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip("._-")
    # File systems limit a name to 255 *bytes*; keep room for the download temporary's
    # ".<name>.<random>.part" around it. Cut on a character boundary.
    base = base.encode("utf-8")[:MAX_NAME].decode("utf-8", "ignore").rstrip("._-")
    return base or fallback


def escape_control_chars(text: str) -> str:
    """``text`` with control, format and line/paragraph separator characters escaped.

    ``"a\\nb"`` becomes ``"a\\\\x0ab"``: a newline, carriage return or ANSI escape in a
    name can then neither start a forged line in a terminal, a log or an export, nor
    recolour a terminal. Everything else (quotes, ``../``, non-ASCII) is kept as given.
    """
    out = []
    for char in text:
        # Cs: a lone surrogate (undecodable bytes) can be neither printed nor stored.
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def storable_text(value: str) -> str:
    """``value`` as a database can hold it, every valid character kept as given.

    Bytes that are not UTF-8 reach Python from argv and file names as lone surrogates
    (``surrogateescape``), and PostgreSQL refuses NUL; both become visible ``\\xNN``
    escapes instead of failing the insert after the bytes were already stored.
    """
    if "\x00" not in value and not _SURROGATE.search(value):
        return value
    try:
        text = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that stands for no byte: escape it as such
        text = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\x00")
