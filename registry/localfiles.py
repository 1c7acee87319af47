"""Writing downloads on this machine: where a download goes, and placing it there.

Django-free (like registry.hashing), so the remote client (datatrac.remote) places
downloads with the same guarantees as the direct one: a symlink is never written
through, an existing file is replaced only when agreed, and the file appears under its
final name only once complete (a temporary name, then a rename).
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import shutil
from pathlib import Path

from registry.errors import BadPath, ConfirmationRequired
from registry.naming import safe_file_name


def output_target(
    name: str,
    fallback: str,
    output: str | os.PathLike[str] | None,
    *,
    force: bool = False,
) -> tuple[Path, bool]:
    """The file a download of the dataset called ``name`` writes, and whether it
    replaces an existing file.

    ``output`` is a file, or a directory that gets the dataset's safe name inside it
    (``fallback``, its short hash, when the name makes no safe file name); ``None`` is
    that name in the cwd. A string ending in a path separator is always a directory,
    created (with its parents) when the download is placed. Refuses a symlink target
    and a missing directory otherwise. An existing file is replaced only with
    ``force``, else ConfirmationRequired (a command may ask, then pass ``force``).
    """
    default_name = safe_file_name(name, fallback=fallback)
    if output is None:
        target = Path(default_name)
    else:
        as_text = os.fspath(output)
        target = Path(as_text)
        if as_text.endswith((os.sep, "/")):
            return inside_new_or_existing_directory(target, default_name, force=force)
    if target.is_dir() and not target.is_symlink():
        target = target / default_name
    if target.is_symlink():
        raise BadPath(f"{target} is a symbolic link: refusing to write through it")
    parent = target.parent
    if not parent.is_dir():
        raise BadPath(
            f"cannot write {target}: directory {parent} does not exist "
            "(end --output with / to create a directory)"
        )
    if not os.access(parent, os.W_OK):
        raise BadPath(f"cannot write {target}: directory {parent} is not writable")
    return target, may_replace(target, force=force)


def inside_new_or_existing_directory(
    directory: Path, default_name: str, *, force: bool
) -> tuple[Path, bool]:
    if directory.is_symlink():
        raise BadPath(f"{directory} is a symbolic link: refusing to write through it")
    existing = directory
    while not existing.exists() and not existing.is_symlink():
        existing = existing.parent
    if not existing.is_dir():
        raise BadPath(f"cannot create directory {directory}: {existing} is not a directory")
    if not os.access(existing, os.W_OK):
        raise BadPath(f"cannot write in {directory}: directory {existing} is not writable")
    target = directory / default_name
    if target.is_symlink():
        raise BadPath(f"{target} is a symbolic link: refusing to write through it")
    return target, may_replace(target, force=force)


def may_replace(target: Path, *, force: bool) -> bool:
    """Whether ``target`` exists and may be replaced; ConfirmationRequired if it may not."""
    if not target.exists():
        return False
    if target.is_dir():
        raise BadPath(f"cannot write {target}: it is a directory")
    if force:
        return True
    raise ConfirmationRequired(f"{target} already exists: pass --force to overwrite it")


def place_copy(cached: Path, target: Path, *, replace: bool) -> None:
    """Write the verified cache entry to ``target`` as a file of its own, atomically.

    A reflink (FICLONE: the file system shares the blocks copy-on-write) where the file
    system has one, else a copy. Never a hard link: a download and the cache entry that
    are one inode change together, so editing one "verified" download (as root, or after
    a chmod) would silently change the cache and every later download. The copy gets the
    umask's permissions, not the cache entry's read-only ones. A missing ``target``
    directory (an ``--output dir/``) is created here, once the bytes are verified. Unless
    ``replace``, a file that appeared at ``target`` meanwhile is kept (ConfirmationRequired).
    """
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with cached.open("rb") as src, temp.open("xb") as dst:
            try:
                fcntl.ioctl(dst.fileno(), fcntl.FICLONE, src.fileno())
                cloned = True
            except OSError:  # no reflinks here (ext4, tmpfs, another file system...)
                cloned = False
        if not cloned:
            shutil.copyfile(cached, temp)
        if replace:
            os.replace(temp, target)
        else:
            link_new(temp, target)
    except OSError as exc:
        raise BadPath(f"cannot write {target}: {exc.strerror}") from exc
    finally:
        temp.unlink(missing_ok=True)


def link_new(temp: Path, target: Path) -> None:
    """Give ``temp`` the name ``target`` only if nothing has it (link(2) never replaces)."""
    try:
        os.link(temp, target)
    except FileExistsError:
        raise ConfirmationRequired(
            f"{target} already exists: pass --force to overwrite it"
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS):
            raise
        os.replace(temp, target)  # a file system without hard links: checked above
