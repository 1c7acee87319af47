"""Object stores, picked by ``DATATRAC_STORAGE_URL``: ``file://`` or ``ssh://``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings

from registry.errors import StoreError
from registry.storage.base import Storage


def get_storage(url: str | None = None) -> Storage:
    """A new store for ``url`` (default: the DATATRAC_STORAGE_URL setting).

    Use it as a context manager so a connection is opened once and closed at the end.
    """
    url = url or settings.DATATRAC_STORAGE_URL
    scheme = urlsplit(url).scheme
    if scheme == "file":
        from registry.storage.local import LocalStorage

        return LocalStorage(Path(unquote(urlsplit(url).path)), url)
    if scheme == "ssh":
        from registry.storage.ssh import SSHStorage

        return SSHStorage.from_url(url)
    raise StoreError(
        f"DATATRAC_STORAGE_URL {url!r} is not supported: use file:///path or ssh://user@host/path"
    )


__all__ = ["Storage", "get_storage"]
