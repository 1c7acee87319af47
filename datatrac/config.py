"""Where a client's settings come from, and picking the backend.

1. ``DATATRAC_URL`` (and ``DATATRAC_TOKEN``) in the environment: a team server.
2. Else the stored login (``datatrac login URL``): ``login.json`` in the user's config
   directory (platformdirs; ``DATATRAC_CONFIG_DIR`` overrides), mode 0600.
3. Else direct mode: this machine's registry (Django settings from the environment).

Nothing here imports Django.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from datatrac.errors import DataTracError

if TYPE_CHECKING:
    from datatrac.client import Client

LOGIN_FILE = "login.json"


@dataclass(frozen=True)
class Remote:
    """A team server to talk to: its base URL (no /api/v1) and the token, if any."""

    url: str
    token: str | None
    #: "environment" or the login file's path: said when the server refuses the token.
    origin: str


def config_dir() -> Path:
    if configured := os.environ.get("DATATRAC_CONFIG_DIR"):
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_config_dir("datatrac"))


def cache_dir() -> Path:
    """The download cache: the same directory direct mode uses (DATATRAC_CACHE_DIR)."""
    if configured := os.environ.get("DATATRAC_CACHE_DIR"):
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_cache_dir("datatrac"))


def normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    url = url.removesuffix("/api/v1")
    if not url.startswith(("http://", "https://")):
        raise DataTracError(f"{url!r} is not a server URL: give http(s)://host[:port]")
    return url


def read_login() -> Remote | None:
    """The stored login, or None when there is none (a damaged file is an error)."""
    path = config_dir() / LOGIN_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DataTracError(
            f"cannot read the stored login {path}: {exc}; run `datatrac logout`"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        raise DataTracError(f"the stored login {path} is damaged: run `datatrac logout`")
    token = data.get("token")
    return Remote(
        url=data["url"], token=token if isinstance(token, str) else None, origin=str(path)
    )


def remote_settings() -> Remote | None:
    """The team server this process talks to, or None for direct mode."""
    token = os.environ.get("DATATRAC_TOKEN") or None
    if url := os.environ.get("DATATRAC_URL", "").strip():
        url = normalize_url(url)
        if token is None:
            # DATATRAC_URL naming the server logged in to: its stored token.
            stored = read_login()
            if stored is not None and stored.url == url:
                return stored
        return Remote(url=url, token=token, origin="environment")
    stored = read_login()
    if stored is None:
        return None
    if token:
        return Remote(url=stored.url, token=token, origin="environment")
    return stored


def write_login(url: str, token: str) -> Path:
    """Store the login: directory 0700, file 0600, written under a temporary name and
    renamed, so no other user can read the token and no half-written file is left."""
    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    path = directory / LOGIN_FILE
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".login.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"url": url, "token": token}, out)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    return path


def remove_login() -> Path | None:
    """Forget the stored login; its path, or None when there was none."""
    path = config_dir() / LOGIN_FILE
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    return path


def connect() -> Client:
    """The client this environment asks for: remote when a server is configured (see
    the module docstring), else direct (which sets Django up when first used)."""
    remote = remote_settings()
    if remote is not None:
        from datatrac.remote import RemoteClient

        return RemoteClient(remote.url, token=remote.token, cache=cache_dir())
    from datatrac.direct import DirectClient

    return DirectClient()
