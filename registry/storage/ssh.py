"""``ssh://`` store: objects on a central server, moved over one SSH connection.

This is the only module that imports fabric or paramiko. fabric resolves the connection
the way ``ssh`` would (``~/.ssh/config`` host aliases, ``IdentityFile``, ``ProxyJump``),
and paramiko does the transfers underneath it:

- Host keys are checked against known_hosts and an unknown or changed key is refused
  before any credential is offered (fabric's default AutoAddPolicy is replaced).
- Uploads go by SFTP to a temporary name beside the final path (the file was hashed
  locally before), are hashed *on the server* (``openssl dgst``, else ``sha256sum``)
  while the server flushes them to disk (``sync FILE``), and are renamed into place with
  ``posix-rename``; then the object's directory and the two fan-out levels above it are
  flushed, so neither the bytes nor their name are lost if the server crashes.
- While an upload runs, a remote shell holds an ``flock`` on its temporary (it creates
  the file, locks it, and waits on the channel), so ``gc`` - which removes a temporary
  only under ``flock -n`` - never sweeps an upload in progress, whatever its grace.
  The lock goes when the channel closes: the upload finished, or the client died.
- Downloads stream the stdout of a remote ``cat`` over one channel (paramiko's SFTP
  reads measured 3-30x slower than scp; see docs/benchmarks.md).
- Every remote command is a fixed script whose only variable parts are the configured
  base path and a hex hash, both passed through ``shlex.quote``.
- Connect, channel and I/O operations all time out after DATATRAC_SSH_TIMEOUT, so a
  server that accepts TCP and then says nothing fails instead of hanging.
"""

from __future__ import annotations

import contextlib
import errno
import io
import math
import posixpath
import re
import secrets
import shlex
import socket
import stat as stat_module
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO, Self
from urllib.parse import unquote, urlsplit

import paramiko
from django.conf import settings
from fabric import Config, Connection

from registry.errors import IntegrityFailure, ObjectMissing, StoreError
from registry.hashing import Progress, require_full_hash
from registry.storage.allocator import keep_freed_memory
from registry.storage.base import TEMP_SUFFIX, Storage, object_key

# AES-GCM first: paramiko's default list starts with AES-CTR + HMAC, and on loopback the
# separate MAC pass costs a third of the throughput. The rest keep old servers working.
# Re-key limits per direction (see _tuned_transport).
REKEY_BYTES = 2**36
REKEY_PACKETS = 2**31
PREFERRED_CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
    "aes192-ctr",
)
# Our receive window on other channels (SFTP replies, command output): it bounds what
# the server may send ahead of what we consume.
WINDOW_SIZE = 4 * 1024 * 1024
MAX_PACKET_SIZE = 32 * 1024
# paramiko splits SFTP reads and writes into 32 KiB requests. OpenSSH's sftp-server
# takes up to 255 KiB per request (its limits@openssh.com max-read/write-length), which
# cuts the per-request overhead eightfold; other servers keep paramiko's safe default.
OPENSSH_REQUEST_SIZE = 255 * 1024
# Downloads stream the stdout of a remote `cat` over one channel: measured on loopback
# it ran at twice scp's speed, while paramiko's SFTP reads (prefetch or pipelined) ran
# 2-30x slower than scp. The channel window is the only read-ahead: it bounds memory.
DOWNLOAD_WINDOW = 4 * 1024 * 1024
DOWNLOAD_PACKET = 32 * 1024
# Local reads for uploads: large, so the SFTP requests they are split into stay full.
UPLOAD_CHUNK = 4 * 1024 * 1024

_HEX64 = re.compile(r"\b([0-9a-f]{64})\b")
_OBJECT_NAME = re.compile(r"^\./([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})$")
_TEMP_NAME = re.compile(r"^\./([0-9a-f]{2})/([0-9a-f]{2})/(\.[0-9a-f]{64}\.[0-9a-f]+\.tmp)$")

# Exit codes of the fixed remote scripts.
_EXIT_MISSING = 66
_EXIT_NO_TOOL = 69
_EXIT_NO_FLOCK = 70
_EXIT_NOT_FLUSHED = 74
_EXIT_SWEPT = 75
_EXIT_NOT_WRITABLE = 77
# A new temporary swept by a concurrent gc between its creation and its lock is made
# again under another name, at most this many times.
TEMP_ATTEMPTS = 3
# Temporaries tested and removed per remote sweep command (bounds its length).
SWEEP_BATCH = 200
_NEEDS_FLOCK = f"command -v flock >/dev/null 2>&1 || exit {_EXIT_NO_FLOCK}"


def _flush_names_command(directory: str) -> str:
    """``sync`` of an object's directory and the two fan-out levels above it."""
    fanout = posixpath.dirname(directory)
    paths = " ".join(shlex.quote(p) for p in (directory, fanout, posixpath.dirname(fanout)))
    return f"sync -- {paths}"


def _hold_lock_script(temp: str) -> str:
    """A POSIX sh script that creates ``temp`` (never an existing file), locks it with
    ``flock``, prints ``locked`` and keeps the lock until a line arrives on its stdin:
    ``flush`` once the object is renamed into place (it then syncs the object's
    directories, which a push needs done anyway, so the lock costs no extra session),
    or end of input if the upload failed or the client died.

    The sweep holds the same lock while it removes a temporary, so if it removed ours
    between the creation and the lock, the name is gone once the lock is granted: exit
    _EXIT_SWEPT and the client tries another name. ``read`` is the shell's own, so the
    script needs nothing on the PATH but ``flock`` (and ``sync``).
    """
    t = shlex.quote(temp)
    return (
        f"{_NEEDS_FLOCK}; "
        f"[ -w {shlex.quote(posixpath.dirname(temp))} ] || exit {_EXIT_NOT_WRITABLE}; "
        f"set -C; exec 9>{t}; "
        "flock -x 9 || exit 1; "
        f"[ -f {t} ] || exit {_EXIT_SWEPT}; "
        "echo locked; read -r next || exit 0; "
        '[ "$next" = flush ] || exit 0; '
        f"{_flush_names_command(posixpath.dirname(temp))} || exit {_EXIT_NOT_FLUSHED}"
    )


def _sweep_script(base: str, names: list[str], *, dry_run: bool) -> str:
    """A POSIX sh script removing each temporary ``names`` (relative to ``base``) that
    no upload holds locked, printing ``+name`` for each it removed (or, dry, would) and
    ``!name`` for each it failed to remove.

    The file is opened without creating it (``8<``) and locked with ``flock -n``: a
    lock held means an upload in progress, and the temporary is kept. The lock is held
    across the removal, so an uploader that created the file just before cannot lock
    it and then write to a name that no longer exists (see _hold_lock_script).
    """
    remove = 'echo "+$t"' if dry_run else '{ rm -f -- "$t" && echo "+$t" || echo "!$t"; }'
    quoted = " ".join(shlex.quote(name) for name in names)
    return (
        f"{_NEEDS_FLOCK}; cd {shlex.quote(base)} || exit 1; "
        f"for t in {quoted}; do "
        f'{{ flock -n -x 8 && [ -f "$t" ] && {remove}; }} 2>/dev/null 8<"$t"; '
        "done; exit 0"
    )


def _hash_script(path: str, *, flush: bool = False) -> str:
    """A POSIX sh script printing the SHA-256 of ``path``, preferring OpenSSL.

    coreutils ``sha256sum`` is several times slower than ``openssl dgst`` on CPUs with
    SHA extensions, so it is only the fallback. With ``flush`` the file is also fsynced
    (``sync FILE``), alongside the hashing rather than after it: a push reports its
    bytes stored only once they are on the server's disk, not just in its page cache.
    """
    p = shlex.quote(path)
    hashing = (
        "if command -v openssl >/dev/null 2>&1; then "
        f"openssl dgst -sha256 -r {p}; "
        "elif command -v sha256sum >/dev/null 2>&1; then "
        f"sha256sum {p}; "
        f"else exit {_EXIT_NO_TOOL}; fi"
    )
    if not flush:
        return f"[ -f {p} ] || exit {_EXIT_MISSING}; {hashing}"
    return (
        f"[ -f {p} ] || exit {_EXIT_MISSING}; "
        f"sync -- {p} & flushing=$!; "
        f"{hashing}; hashed=$?; "
        f"wait $flushing || exit {_EXIT_NOT_FLUSHED}; exit $hashed"
    )


class RefuseUnknownHost(paramiko.RejectPolicy):
    """Refuse a host that is not in known_hosts, saying how to check and trust it.

    paramiko calls this after key exchange and before authentication, so nothing
    secret has been sent when it raises.
    """

    def __init__(self, known_hosts: str, port: int) -> None:
        self.known_hosts = known_hosts
        self.port = port

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        host = (
            hostname.removeprefix("[").partition("]")[0] if hostname.startswith("[") else hostname
        )
        keyscan = f"ssh-keyscan -p {self.port} {host}" if self.port != 22 else f"ssh-keyscan {host}"
        raise StoreError(
            f"host key for {hostname} is not in {self.known_hosts} (offered "
            f"{key.get_name()} {key.fingerprint}); check that fingerprint with the server's "
            f"admin, then to trust it run: {keyscan} >> {self.known_hosts}"
        )


def _tuned_transport(sock: Any, **kwargs: Any) -> paramiko.Transport:
    """The Transport SSHClient.connect builds, with fast ciphers and big windows."""
    transport = paramiko.Transport(
        sock,
        default_window_size=WINDOW_SIZE,
        default_max_packet_size=MAX_PACKET_SIZE,
        **kwargs,
    )
    # paramiko starts a key re-exchange every 512 MiB, and one that starts while a
    # download fills the channel window stalls for 30 s and then drops the connection
    # ("Key-exchange timed out"; seen on 1 GiB fetches). Re-key where OpenSSH itself does
    # for these 128-bit-block ciphers (every 2^32 blocks, 64 GiB) rather than mid-transfer.
    packetizer = transport.packetizer
    for limit in ("REKEY_BYTES", "REKEY_BYTES_OVERFLOW_MAX"):
        setattr(packetizer, limit, REKEY_BYTES)
    for limit in ("REKEY_PACKETS", "REKEY_PACKETS_OVERFLOW_MAX"):
        setattr(packetizer, limit, REKEY_PACKETS)
    options = transport.get_security_options()
    supported = set(options.ciphers)
    preferred = [c for c in PREFERRED_CIPHERS if c in supported]
    options.ciphers = tuple(preferred + [c for c in options.ciphers if c not in preferred])
    return transport


def _finish_pipelined_writes(sftp: paramiko.SFTPClient, remote: paramiko.SFTPFile) -> None:
    """Read the reply to every pipelined write still outstanding; raise the first error.

    paramiko files pipelined writes under no file object, and its close() only waits
    for replies addressed to the file, so a write refused with ENOSPC would otherwise
    pass in silence. sftp-server answers in order, so reading them in order is safe
    (paramiko's own _write does the same when its queue grows).
    """
    pending = remote._reqs
    while pending:
        sftp._read_response(pending.popleft())


class SSHStorage(Storage):
    """Objects under ``base`` on an SSH server, reached with one connection per instance."""

    # Ask for as much as the channel may hold: each read then takes all that arrived in
    # one copy, where a smaller request leaves paramiko shifting the rest of its buffer
    # down (1 GiB: 7.6 s at 1 MiB reads, 5.9 s at the window's size; measured).
    read_size = DOWNLOAD_WINDOW

    def __init__(
        self,
        *,
        url: str,
        host: str,
        base: str,
        user: str | None = None,
        port: int | None = None,
        key_file: str = "",
        known_hosts: str = "",
        ssh_config: str = "",
        timeout: float = 15.0,
    ) -> None:
        self.url = url
        self.host = host
        self.base = base
        self.user = user
        self.port = port
        self.key_file = key_file
        self.known_hosts = known_hosts or str(Path("~/.ssh/known_hosts").expanduser())
        self.ssh_config = ssh_config
        self.timeout = timeout
        self._conn: Connection | None = None
        self._sftp_client: paramiko.SFTPClient | None = None
        self._request_size = paramiko.SFTPFile.MAX_REQUEST_SIZE
        self._clock_offset: float | None = None

    @classmethod
    def from_url(cls, url: str) -> Self:
        """A store for ``ssh://[user@]host[:port]/base/path`` with the SSH settings.

        ``host`` may be a ``~/.ssh/config`` alias. ``ssh://host/~/store`` is a path
        relative to the login directory.
        """
        parts = urlsplit(url)
        if parts.password is not None:
            raise StoreError(
                "DATATRAC_STORAGE_URL must not hold a password: use a key file "
                "(DATATRAC_SSH_KEY) or ssh-agent"
            )
        if not parts.hostname:
            raise StoreError(
                f"DATATRAC_STORAGE_URL {url!r} names no host: use ssh://user@host/path"
            )
        try:
            port = parts.port
        except ValueError:
            raise StoreError(f"DATATRAC_STORAGE_URL {url!r} has an invalid port") from None
        base = unquote(parts.path)
        if base.startswith("/~/"):
            base = base[3:]
        base = posixpath.normpath(base) if base else ""
        if base in ("", "/", ".") or base.startswith("-"):
            raise StoreError(
                f"DATATRAC_STORAGE_URL {url!r} needs a store directory: ssh://user@host/srv/datatrac"
            )
        return cls(
            url=url,
            host=parts.hostname,
            base=base,
            user=unquote(parts.username) if parts.username else None,
            port=port,
            key_file=settings.DATATRAC_SSH_KEY,
            known_hosts=settings.DATATRAC_SSH_KNOWN_HOSTS,
            ssh_config=settings.DATATRAC_SSH_CONFIG,
            timeout=float(settings.DATATRAC_SSH_TIMEOUT),
        )

    # --- connection -----------------------------------------------------------------

    @property
    def destination(self) -> str:
        """``user@host:port`` as resolved (after ssh_config), for messages."""
        conn = self._conn or self._new_connection()
        return f"{conn.user}@{conn.host}:{conn.port}"

    def _new_connection(self) -> Connection:
        if self.ssh_config and Path(self.ssh_config).expanduser().is_file():
            config = Config(runtime_ssh_path=str(Path(self.ssh_config).expanduser()))
        else:
            # No file: an explicit empty config, so fabric reads no other ssh_config.
            config = Config(ssh_config=paramiko.SSHConfig())
        connect_kwargs: dict[str, Any] = {
            "allow_agent": True,
            "look_for_keys": True,
            "banner_timeout": self.timeout,
            "auth_timeout": self.timeout,
            "channel_timeout": self.timeout,
            "transport_factory": _tuned_transport,
        }
        if self.key_file:
            connect_kwargs["key_filename"] = [str(Path(self.key_file).expanduser())]
        conn = Connection(
            self.host,
            user=self.user,
            port=self.port,
            config=config,
            # fabric truncates this to int seconds; never let it round down to "none".
            connect_timeout=max(1, math.ceil(self.timeout)),
            connect_kwargs=connect_kwargs,
        )
        # fabric trusts any host key on first sight; a registry must not.
        conn.client.set_missing_host_key_policy(RefuseUnknownHost(self.known_hosts, conn.port))
        return conn

    def _connect(self) -> Connection:
        if self._conn is not None and self._conn.is_connected:
            return self._conn
        self.close()
        # A connection streams megabytes through paramiko's buffers: reuse freed memory.
        keep_freed_memory()
        conn = self._new_connection()
        where = f"{conn.user}@{conn.host}:{conn.port}"
        try:
            known_hosts = Path(self.known_hosts).expanduser()
            if known_hosts.is_file():
                # "system" host keys: read-only, never written back.
                conn.client.load_system_host_keys(str(known_hosts))
            conn.open()
        except StoreError:
            conn.client.close()
            raise
        except BaseException as exc:
            conn.client.close()
            if not isinstance(exc, Exception):  # Ctrl-C stays Ctrl-C
                raise
            raise StoreError(self._describe_connect_error(exc, where, conn)) from exc
        self._conn = conn
        self._clock_offset = None
        transport = conn.client.get_transport()
        if transport is not None and "OpenSSH" in (transport.remote_version or ""):
            self._request_size = OPENSSH_REQUEST_SIZE
        return conn

    def _describe_connect_error(self, exc: BaseException, where: str, conn: Connection) -> str:
        if isinstance(exc, paramiko.BadHostKeyException):
            host = f"[{conn.host}]:{conn.port}" if conn.port != 22 else conn.host
            return (
                f"host key for {host} has CHANGED: the server offered {exc.key.get_name()} "
                f"{exc.key.fingerprint} but {self.known_hosts} has {exc.expected_key.fingerprint}; "
                "this may be an attack. If the server's key was really replaced, remove the "
                f"old entry with: ssh-keygen -R '{host}' -f {self.known_hosts}"
            )
        if isinstance(exc, paramiko.PasswordRequiredException):
            return (
                f"cannot log in to {where}: the key file is protected by a passphrase; "
                "load it into ssh-agent (ssh-add) instead"
            )
        if isinstance(exc, paramiko.AuthenticationException):
            offered = f"key file {self.key_file}, " if self.key_file else ""
            return (
                f"authentication to {where} failed: the server accepted none of the keys "
                f"offered ({offered}ssh-agent, ~/.ssh/id_*)"
            )
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
            return f"cannot connect to {where}: connection refused"
        if isinstance(exc, socket.gaierror):
            return f"cannot connect to {where}: unknown host name"
        if isinstance(exc, TimeoutError):
            return f"cannot connect to {where}: timed out after {self.timeout:g}s"
        if isinstance(exc, paramiko.SSHException) and (
            "banner" in str(exc).lower() or "timed out" in str(exc).lower()
        ):
            return (
                f"cannot connect to {where}: no SSH answer within {self.timeout:g}s "
                "(is it an SSH server?)"
            )
        if isinstance(exc, ConnectionRefusedError):
            return f"cannot connect to {where}: connection refused"
        if isinstance(exc, OSError):
            return f"cannot connect to {where}: {exc.strerror or exc}"
        return f"cannot connect to {where}: {exc or type(exc).__name__}"

    def _sftp(self) -> paramiko.SFTPClient:
        if self._sftp_client is not None and self._conn is not None and self._conn.is_connected:
            return self._sftp_client
        conn = self._connect()
        try:
            sftp = conn.client.open_sftp()
        except Exception as exc:
            raise self._error(exc, "starting SFTP") from exc
        channel = sftp.get_channel()
        assert channel is not None
        # Every SFTP request and pipelined write now gives up after the timeout.
        channel.settimeout(self.timeout)
        self._sftp_client = sftp
        return sftp

    def close(self) -> None:
        sftp, conn = self._sftp_client, self._conn
        self._sftp_client = None
        self._conn = None
        if sftp is not None:
            # Closing a dead connection must not mask the error that killed it.
            with contextlib.suppress(Exception):
                sftp.close()
        if conn is not None:
            conn.client.close()

    @property
    def transport(self) -> paramiko.Transport | None:
        """The live SSH transport, if connected (tests check that it is reused)."""
        return self._conn.client.get_transport() if self._conn is not None else None

    # --- errors ---------------------------------------------------------------------

    def _error(self, exc: BaseException, what: str, path: str | None = None) -> StoreError:
        """One clear line for a failure while doing ``what``."""
        if isinstance(exc, StoreError):
            return exc
        where = self.destination
        if isinstance(exc, TimeoutError):
            # Replies may still be in flight: this connection is out of step for good.
            self.close()
            return StoreError(
                f"timed out after {self.timeout:g}s {what} on {where}: the server stopped answering"
            )
        if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM):
            # Creating, renaming or removing a name needs write access to its directory.
            directory = posixpath.dirname(path) if path else self.base
            return StoreError(f"permission denied on {directory} ({what} on {where})")
        if isinstance(exc, (EOFError, paramiko.SSHException, ConnectionError)) or (
            isinstance(exc, OSError) and "closed" in str(exc).lower()
        ):
            self.close()
            return StoreError(f"lost the connection to {where} while {what}")
        if isinstance(exc, OSError):
            return StoreError(self._diagnose_failure(exc, what, path))
        return StoreError(f"{what} on {where} failed: {exc}")

    def _diagnose_failure(self, exc: OSError, what: str, path: str | None) -> str:
        """Name the cause of a bare SFTP "Failure" (sftp-server reports ENOSPC, EROFS,
        EDQUOT all as that) by asking the server about free space and write access."""
        where = self.destination
        directory = posixpath.dirname(path) if path else self.base
        script = (
            f"df -Pk {shlex.quote(self.base)} | tail -n 1; "
            f"if [ -w {shlex.quote(directory)} ]; then echo writable; else echo readonly; fi"
        )
        try:
            out = self._run(script, what="checking free space")
        except StoreError:
            return f"{what} on {where} failed: {exc}"
        lines = out.decode(errors="replace").split("\n")
        fields = lines[0].split() if lines else []
        if len(fields) >= 4 and fields[3].isdigit() and int(fields[3]) < 64:
            return f"no space left on the store {where}:{self.base} while {what}"
        if "readonly" in lines:
            return f"permission denied on {directory} ({what} on {where})"
        return f"{what} on {where} failed: {exc}"

    # --- remote commands ------------------------------------------------------------

    def _probe(self) -> None:
        """Prove the server is alive (raises TimeoutError if not) during a long command."""
        self._sftp().normalize(".")

    def _stream(self, script: str, *, what: str) -> Iterator[bytes]:
        """Run a fixed sh ``script`` on the server, yielding its stdout as it comes.

        A hash of a big file prints nothing for a long time, so instead of a read
        timeout this probes the connection (an SFTP round trip bounded by the timeout)
        whenever the command is quiet. Raises StoreError on a non-zero exit, with
        ``.exit_status`` set.
        """
        try:
            transport = self._connect().client.get_transport()
            assert transport is not None
            channel = transport.open_session(timeout=self.timeout)
        except StoreError:
            raise
        except Exception as exc:
            raise self._error(exc, what) from exc
        quiet = max(0.5, min(self.timeout / 2, 5.0))
        try:
            channel.settimeout(quiet)
            # /bin/sh whatever the login shell is; the script is one quoted argument.
            channel.exec_command(f"/bin/sh -c {shlex.quote(script)}")
            channel.shutdown_write()
            while True:
                try:
                    data = channel.recv(1024 * 1024)
                except TimeoutError:
                    self._probe()
                    continue
                if not data:
                    break
                yield data
            while not channel.status_event.wait(quiet):
                self._probe()
            status = channel.exit_status
            err = b""
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
        except StoreError:
            raise
        except Exception as exc:
            raise self._error(exc, what) from exc
        finally:
            channel.close()
        if status == -1:  # closed without an exit status: the connection died
            self.close()
            raise StoreError(f"lost the connection to {self.destination} while {what}")
        if status != 0:
            message = err.decode(errors="replace").strip().splitlines()
            error = StoreError(
                f"{what} on {self.destination} failed (exit {status})"
                + (f": {message[-1]}" if message else "")
            )
            error.exit_status = status  # type: ignore[attr-defined]
            raise error

    def _run(self, script: str, *, what: str) -> bytes:
        """Run a fixed script; return its stdout or raise StoreError."""
        return b"".join(self._stream(script, what=what))

    def _remote_sha256(self, path: str, sha256: str, *, flush: bool = False) -> str:
        """The SHA-256 of ``path`` computed by the server (``flush``: and fsynced)."""
        try:
            out = self._run(_hash_script(path, flush=flush), what=f"hashing {sha256}")
        except StoreError as exc:
            status = getattr(exc, "exit_status", None)
            if status == _EXIT_MISSING:
                raise ObjectMissing(sha256, self.url) from None
            if status == _EXIT_NO_TOOL:
                raise StoreError(
                    f"the server {self.destination} has neither openssl nor sha256sum, so it "
                    "cannot check what it stores: install one of them there"
                ) from None
            if status == _EXIT_NOT_FLUSHED:
                raise StoreError(
                    f"the server {self.destination} could not write {sha256} to its disk "
                    "(its sync command failed or is missing); nothing was stored"
                ) from None
            raise
        found = _HEX64.search(out.decode(errors="replace"))
        if not found:
            raise StoreError(f"hashing {sha256} on {self.destination} printed no SHA-256")
        return found.group(1)

    # --- paths ----------------------------------------------------------------------

    def _path(self, sha256: str) -> str:
        return posixpath.join(self.base, object_key(sha256))

    def location(self, sha256: str) -> str:
        return f"{self.url.rstrip('/')}/{object_key(sha256)}"

    def _makedirs(self, sftp: paramiko.SFTPClient, directory: str) -> None:
        """Create the store directory and the object's two fan-out levels if missing."""
        try:
            sftp.stat(directory)
            return
        except FileNotFoundError:
            pass
        todo = []
        current = directory
        while current not in ("", "/", ".") and current != posixpath.dirname(self.base):
            todo.append(current)
            current = posixpath.dirname(current)
        for path in reversed(todo):
            try:
                sftp.mkdir(path)
            except OSError as exc:
                # mkdir of an existing directory is a bare "Failure"; tell it from real ones.
                try:
                    if stat_module.S_ISDIR(sftp.stat(path).st_mode or 0):
                        continue
                except FileNotFoundError:
                    pass
                if exc.errno == errno.ENOENT:
                    raise StoreError(
                        f"the store directory's parent {posixpath.dirname(self.base)} does not "
                        f"exist on {self.destination}"
                    ) from None
                raise self._error(exc, f"creating {path}", path) from exc

    # --- the Storage contract -------------------------------------------------------

    def put(self, sha256: str, source: Path, *, progress: Progress | None = None) -> None:
        require_full_hash(sha256)
        final = self._path(sha256)
        directory = posixpath.dirname(final)
        # The temporary sits beside the final name so posix-rename is atomic.
        temp = posixpath.join(directory, f".{sha256}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
        # A local file that cannot be read is the caller's problem, not the store's:
        # let that OSError through before touching the server.
        src = source.open("rb", buffering=0)
        try:
            sftp = self._sftp()
            self._makedirs(sftp, directory)
        except BaseException:
            src.close()
            raise
        created = False
        lock: paramiko.Channel | None = None
        try:
            for _attempt in range(TEMP_ATTEMPTS):
                lock = self._hold_temporary(temp, sha256)
                if lock is not None:
                    break
                temp = posixpath.join(directory, f".{sha256}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
            else:
                raise StoreError(
                    f"temporary uploads of {sha256} on {self.destination} kept being removed "
                    "by a concurrent gc; nothing was stored"
                )
            created = True
            # No second local hash as the bytes go out: the server hashes what it received
            # before anything is renamed into place, which catches a file that changed
            # since it was hashed as well as bytes damaged on the way (and costs the
            # client nothing: hashing 1 GiB here took ~0.5 s of a ~5.7 s push).
            sent = 0
            with src:
                try:
                    # The file exists already (the lock made it): open it, never create.
                    remote = sftp.open(temp, "r+b", bufsize=0)
                    with remote:
                        remote.set_pipelined(True)
                        remote.MAX_REQUEST_SIZE = self._request_size
                        while chunk := src.read(UPLOAD_CHUNK):
                            remote.write(chunk)
                            sent += len(chunk)
                            if progress:
                                progress(len(chunk))
                        _finish_pipelined_writes(sftp, remote)
                except OSError as exc:
                    if exc.filename == str(source):
                        raise
                    raise self._error(exc, f"uploading {sha256}", temp) from exc
                except (EOFError, paramiko.SSHException) as exc:
                    raise self._error(exc, f"uploading {sha256}") from exc
            try:
                size = sftp.stat(temp).st_size
            except Exception as exc:
                raise self._error(exc, f"checking the upload of {sha256}", temp) from exc
            if size != sent:
                raise IntegrityFailure(
                    f"the store {self.destination} holds {size} bytes of {sha256} where "
                    f"{sent} were sent; nothing was stored"
                )
            remote_hash = self._remote_sha256(temp, sha256, flush=True)
            if remote_hash != sha256:
                raise IntegrityFailure(
                    f"the bytes of {source} that reached {self.destination} hash to "
                    f"{remote_hash}, not {sha256}: it changed while it was being pushed, or "
                    "was damaged on the way; nothing was stored"
                )
            try:
                sftp.chmod(temp, 0o444)
                sftp.posix_rename(temp, final)
                created = False
            except Exception as exc:
                raise self._error(exc, f"renaming {sha256} into place", temp) from exc
            self._flush_directories(sha256, lock)
        finally:
            if created:
                self._remove_quietly(temp)
            if lock is not None:
                lock.close()  # the shell holding the lock reads EOF and exits

    def _hold_temporary(self, temp: str, sha256: str) -> paramiko.Channel | None:
        """Create ``temp`` on the server, locked for as long as the returned channel is
        open; None if a concurrent sweep removed it before the lock was granted."""
        what = f"uploading {sha256}"
        channel: paramiko.Channel | None = None
        try:
            transport = self._connect().client.get_transport()
            assert transport is not None
            channel = transport.open_session(timeout=self.timeout)
            channel.settimeout(self.timeout)
            channel.exec_command(f"/bin/sh -c {shlex.quote(_hold_lock_script(temp))}")
            answer = b""
            while not answer.endswith(b"\n") and len(answer) < 64:
                data = channel.recv(64)
                if not data:
                    break
                answer += data
            if answer == b"locked\n":
                held, channel = channel, None
                return held
            channel.status_event.wait(self.timeout)
            status = channel.exit_status
            err = b""
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
        except StoreError:
            raise
        except Exception as exc:
            raise self._error(exc, what, temp) from exc
        finally:
            if channel is not None:
                channel.close()
        if status == -1:  # closed without an exit status: the connection died
            self.close()
            raise StoreError(f"lost the connection to {self.destination} while {what}")
        if status == _EXIT_SWEPT:
            return None
        if status == _EXIT_NO_FLOCK:
            raise StoreError(
                f"the server {self.destination} has no flock command, so an upload cannot "
                "be kept safe from a concurrent gc: install util-linux there"
            )
        if status == _EXIT_NOT_WRITABLE:
            raise StoreError(
                f"permission denied on {posixpath.dirname(temp)} ({what} on {self.destination})"
            )
        message = err.decode(errors="replace").strip().splitlines()
        raise StoreError(
            f"{what} on {self.destination} failed (exit {status})"
            + (f": {message[-1]}" if message else "")
        )

    def _flush_directories(self, sha256: str, lock: paramiko.Channel) -> None:
        """Make the object's new name durable: fsync its directory and the two above it.

        Until then a crash of the server could leave the bytes under their temporary
        name (which gc sweeps), or lose a fan-out directory the push just created. The
        shell holding the temporary's lock does it (see _hold_lock_script), then ends.
        The object is in place when this fails, so the message says to push again.
        """
        what = f"flushing {sha256} to disk"
        try:
            lock.sendall(b"flush\n")
            lock.shutdown_write()
            # A sync can take a while on a busy disk: probe the server while it is quiet.
            quiet = max(0.5, min(self.timeout / 2, 5.0))
            while not lock.status_event.wait(quiet):
                self._probe()
            status = lock.exit_status
        except StoreError:
            raise
        except Exception as exc:
            raise self._error(exc, what) from exc
        if status == -1:  # closed without an exit status: the connection died
            self.close()
            raise StoreError(f"lost the connection to {self.destination} while {what}")
        if status != 0:
            raise StoreError(
                f"the server {self.destination} could not flush the name of {sha256} to its "
                "disk (sync failed); nothing was registered: push again"
            )

    def _remove_quietly(self, path: str) -> None:
        """Best-effort cleanup of a temporary; a dead connection leaves it to the sweep."""
        # The original failure is the one to report.
        with contextlib.suppress(Exception):
            if self._sftp_client is not None and self._conn is not None and self._conn.is_connected:
                self._sftp_client.remove(path)

    def open(self, sha256: str) -> AbstractContextManager[BinaryIO]:
        path = self._path(sha256)
        channel: paramiko.Channel | None = None
        try:
            transport = self._connect().client.get_transport()
            assert transport is not None
            channel = transport.open_session(
                window_size=DOWNLOAD_WINDOW, max_packet_size=DOWNLOAD_PACKET, timeout=self.timeout
            )
            channel.settimeout(self.timeout)
            script = (
                f"[ -f {shlex.quote(path)} ] || exit {_EXIT_MISSING}; exec cat {shlex.quote(path)}"
            )
            channel.exec_command(f"/bin/sh -c {shlex.quote(script)}")
            channel.shutdown_write()
        except BaseException as exc:
            if channel is not None:
                channel.close()
            if isinstance(exc, StoreError) or not isinstance(exc, Exception):
                raise
            raise self._error(exc, f"opening {sha256}", path) from exc
        reader = _ChannelReader(channel, self, sha256)
        try:
            # ObjectMissing now, not after the caller has started its output. One
            # channel does it: a separate SFTP stat cost a second session (~0.2 s).
            reader.wait_for_start()
        except BaseException:
            reader.close()
            raise
        return self._reading(reader)

    @contextmanager
    def _reading(self, reader: _ChannelReader) -> Iterator[BinaryIO]:
        try:
            yield reader  # type: ignore[misc]
        finally:
            reader.close()

    def delete(self, sha256: str) -> None:
        path = self._path(sha256)
        sftp = self._sftp()
        try:
            sftp.remove(path)
        except FileNotFoundError:
            raise ObjectMissing(sha256, self.url) from None
        except Exception as exc:
            raise self._error(exc, f"deleting {sha256}", path) from exc

    def _stat(self, sha256: str) -> paramiko.SFTPAttributes | None:
        path = self._path(sha256)
        try:
            return self._sftp().stat(path)
        except FileNotFoundError:
            return None
        except StoreError:
            raise
        except Exception as exc:
            raise self._error(exc, f"looking up {sha256}", path) from exc

    def exists(self, sha256: str) -> bool:
        attrs = self._stat(sha256)
        return attrs is not None and stat_module.S_ISREG(attrs.st_mode or 0)

    def stat(self, sha256: str) -> int:
        attrs = self._stat(sha256)
        if attrs is None:
            raise ObjectMissing(sha256, self.url)
        return attrs.st_size or 0

    def age(self, sha256: str) -> timedelta:
        attrs = self._stat(sha256)
        if attrs is None:
            raise ObjectMissing(sha256, self.url)
        return timedelta(seconds=max(0.0, self._server_time() - (attrs.st_mtime or 0)))

    def _server_time(self) -> float:
        """Now, by the server's clock (what its mtimes are in), from one query per connection."""
        self._connect()
        if self._clock_offset is None:
            before = time.time()
            out = self._run("date +%s", what="reading the server clock")
            self._clock_offset = int(out.decode().strip() or "0") - (before + time.time()) / 2
        return time.time() + self._clock_offset

    def verify(self, sha256: str) -> bool:
        require_full_hash(sha256)
        return self._remote_sha256(self._path(sha256), sha256) == sha256

    def _find(self, predicate: str, *, what: str) -> Iterator[str]:
        """Paths ``./ab/cd/name`` under the base matching a fixed ``find`` predicate."""
        base = shlex.quote(self.base)
        script = f"[ -d {base} ] || exit 0; cd {base} && find . {predicate} -type f -print"
        pending = b""
        for data in self._stream(script, what=what):
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode(errors="replace")
        if pending:
            yield pending.decode(errors="replace")

    def iter_objects(self) -> Iterator[str]:
        for line in self._find("-path './??/??/*' ! -name '.*'", what="listing objects"):
            match = _OBJECT_NAME.match(line)
            if match and match.group(3).startswith(match.group(1) + match.group(2)):
                yield match.group(3)

    def sweep_temporaries(self, *, older_than: timedelta, dry_run: bool = False) -> list[str]:
        # Ages come from the server's own clock, so client clock skew cannot sweep an
        # upload that is still running.
        cutoff = self._server_time() - older_than.total_seconds()
        temps = [
            line[2:]
            for line in self._find(f"-path './??/??/.*{TEMP_SUFFIX}'", what="listing temporaries")
            if _TEMP_NAME.match(line)
        ]
        sftp = self._sftp()
        stale: list[str] = []
        for name in temps:
            path = posixpath.join(self.base, name)
            try:
                if (sftp.stat(path).st_mtime or 0) < cutoff:
                    stale.append(name)
            except FileNotFoundError:
                continue
            except Exception as exc:
                raise self._error(exc, f"looking at the temporary {name}", path) from exc
        removed: list[str] = []
        for start in range(0, len(stale), SWEEP_BATCH):
            script = _sweep_script(self.base, stale[start : start + SWEEP_BATCH], dry_run=dry_run)
            try:
                out = self._run(script, what="removing temporaries")
            except StoreError as exc:
                if getattr(exc, "exit_status", None) == _EXIT_NO_FLOCK:
                    raise StoreError(
                        f"the server {self.destination} has no flock command, so gc cannot "
                        "tell a running upload from a stale one: install util-linux there"
                    ) from None
                raise
            lines = out.decode(errors="replace").splitlines()
            failed = [line[1:] for line in lines if line.startswith("!")]
            if failed:
                raise StoreError(
                    f"removing the temporary {failed[0]} on {self.destination} failed "
                    f"(permission denied?); {len(failed)} temporary upload(s) left in place"
                )
            removed.extend(line[1:] for line in lines if line.startswith("+"))
        # A temporary kept (locked: an upload in progress), or gone meanwhile, is not listed.
        done = set(removed)
        return [name for name in stale if name in done]


class _ChannelReader(io.RawIOBase):
    """The stdout of a remote ``cat`` of one object, as a streaming binary reader.

    The SSH channel window (DOWNLOAD_WINDOW) is the only read-ahead, so memory stays
    flat whatever the object's size. At the end the exit status is checked, so a
    server that dies mid-stream is an error, never a short file (the byte count and
    the hash are the caller's to check, as for every store).
    """

    def __init__(self, channel: paramiko.Channel, store: SSHStorage, sha256: str) -> None:
        super().__init__()
        self._channel = channel
        self._store = store
        self._sha256 = sha256
        self._received = 0
        # What wait_for_start received, handed out before anything else is read.
        self._first = memoryview(b"")

    def wait_for_start(self) -> None:
        """Block until the first bytes arrive or the command ends (raising if it failed)."""
        first = self._recv(self._store.read_size)
        if not first:
            self._check_end()
        self._first = memoryview(first)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes: whatever has arrived, waiting only if nothing has.

        One ``recv`` per call and no gathering: joining packets into chunks of a set
        size copied every byte once more, for nothing (see SSHStorage.read_size).
        """
        if size is None or size < 0:
            return self.readall()
        if size == 0:
            return b""
        if self._first:
            first, self._first = self._first[:size], self._first[size:]
            return first.tobytes()
        data = self._recv(size)
        if not data:
            self._check_end()
        return data

    def _recv(self, size: int) -> bytes:
        try:
            data = self._channel.recv(size)
        except Exception as exc:
            raise self._store._error(exc, f"downloading {self._sha256}") from exc
        self._received += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def _check_end(self) -> None:
        """At EOF: did ``cat`` exit 0?"""
        channel = self._channel
        if not channel.status_event.wait(self._store.timeout):
            raise StoreError(
                f"timed out after {self._store.timeout:g}s downloading {self._sha256} "
                f"from {self._store.destination}"
            )
        status = channel.exit_status
        if status == _EXIT_MISSING:
            raise ObjectMissing(self._sha256, self._store.url)
        if status != 0:
            reason = (
                "lost the connection"
                if status == -1
                else f"the server's cat exited {status} after {self._received} bytes"
            )
            raise StoreError(
                f"downloading {self._sha256} from {self._store.destination} failed: {reason}"
            )

    def close(self) -> None:
        if not self.closed:
            self._channel.close()
        super().close()
