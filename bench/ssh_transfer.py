"""`datatrac push` / `fetch --download` over SSH against the tools a user would use instead.

    uv run python bench/ssh_transfer.py                 # 1 GiB, 5 runs
    uv run python bench/ssh_transfer.py --size-mib 256 --runs 3

Starts its own OpenSSH sshd on 127.0.0.1 (tests/fixtures/sshd.py, throwaway keys), writes
a random file, and for each run times, side by side and interleaved so that load on the
machine hits both alike:

- baseline push: ``openssl dgst -sha256 FILE`` then ``scp FILE`` to the same server
- ``datatrac push FILE`` end to end (hash, upload, server-side check, register), into a
  fresh registry each run so every run uploads
- baseline fetch: ``scp`` of the stored object back
- ``datatrac fetch HASH --download`` end to end, with an empty cache each run

It prints the medians, the ratios (issue 3 asks push <= 1.5x, fetch <= 1.25x) and the
peak RSS of every datatrac process (os.wait4's ru_maxrss; issue 3 asks < 150 MB).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fixtures.sshd import SSHD, SSHServer, start_sshd  # noqa: E402

DATATRAC = str(Path(sys.executable).with_name("datatrac"))
MiB = 1024 * 1024


@dataclass
class Timed:
    seconds: float
    max_rss_mib: float
    stdout: str


def run(command: list[str], env: dict[str, str] | None = None) -> Timed:
    """Run ``command``; wall time and its own peak RSS (not the max over all children).

    Dirty pages are flushed first (untimed), so the write-back of what the previous
    command wrote (a 1 GiB download, say) does not land in this one's time.
    """
    os.sync()
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # communicate() would reap the child itself; read the pipes, then wait4 for its rusage.
    assert process.stdout is not None and process.stderr is not None
    stdout = process.stdout.read()
    stderr = process.stderr.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}): {stderr.strip()}")
    return Timed(elapsed, usage.ru_maxrss / 1024, stdout)


@dataclass
class Series:
    times: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)

    def add(self, *parts: Timed) -> None:
        self.times.append(sum(p.seconds for p in parts))
        self.rss.append(max(p.max_rss_mib for p in parts))

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def write_random_file(path: Path, size: int) -> None:
    with path.open("wb") as out:
        left = size
        while left:
            n = min(left, 16 * MiB)
            out.write(os.urandom(n))
            left -= n


def scp_options(server: SSHServer, ssh_config: Path) -> list[str]:
    """scp's options for ``server``: its key and known hosts, no prompt, an empty config."""
    return [
        "-i", str(server.keys.client_key),
        "-o", f"UserKnownHostsFile={server.known_hosts}",
        "-o", "BatchMode=yes",
        "-F", str(ssh_config),
        "-P", str(server.port),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="file size (default 1024)")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a temp dir)")
    args = parser.parse_args()

    # An installed DataTrac has its bytecode compiled; so should the one measured here
    # (under PYTHONDONTWRITEBYTECODE every start would compile the project anew).
    for package in ("datatrac_site", "registry", "lineage"):
        compileall.compile_dir(REPO / package, quiet=1)
    work = Path(tempfile.mkdtemp(prefix="dt-bench-ssh-", dir=args.workdir))
    server = start_sshd(work / "sshd")
    try:
        report(bench(server, work, args.size_mib * MiB, args.runs), server, args)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def bench(server: SSHServer, work: Path, size: int, runs: int) -> dict[str, Series]:
    data = work / "data.bin"
    write_random_file(data, size)
    store = work / "store"
    store.mkdir()
    ssh_config = work / "ssh_config"
    ssh_config.touch()
    ssh_options = scp_options(server, ssh_config)
    remote = f"{server.user}@127.0.0.1"
    home = work / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATATRAC_", "DATABASE_"))}
    env.pop("SSH_AUTH_SOCK", None)
    env.update(
        DATATRAC_HOME=str(home),
        DATATRAC_CACHE_DIR=str(work / "cache"),
        DATATRAC_STORAGE_URL=server.url(store),
        DATATRAC_SSH_KEY=str(server.keys.client_key),
        DATATRAC_SSH_KNOWN_HOSTS=str(server.known_hosts),
        DATATRAC_SSH_CONFIG=str(ssh_config),
        DATATRAC_USER="bench",
        DATABASE_URL=f"sqlite:///{home / 'datatrac.sqlite3'}",
        SECRET_KEY="bench-only-" + "x" * 40,
    )
    # One migrated registry, copied fresh before every push so every push uploads.
    template = work / "template.sqlite3"
    run([DATATRAC, "migrate", "--verbosity", "0"], {**env, "DATABASE_URL": f"sqlite:///{template}"})
    # Fold the WAL into the file so that copying the one file copies the whole registry.
    with contextlib.closing(sqlite3.connect(template)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("PRAGMA journal_mode=DELETE")

    series = {name: Series() for name in ("scp_push", "push", "scp_fetch", "fetch")}
    pushed_sha = ""

    def scp_push() -> None:
        # Baseline push: hash, then copy.
        digest = run(["openssl", "dgst", "-sha256", str(data)])
        copy = run(["scp", *ssh_options, str(data), f"{remote}:{store}/scp-upload.bin"])
        series["scp_push"].add(digest, copy)
        (store / "scp-upload.bin").unlink()

    def push() -> None:
        # datatrac push into a fresh registry and an empty store.
        nonlocal pushed_sha
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir()
        shutil.copy(template, home / "datatrac.sqlite3")
        for entry in store.iterdir():
            shutil.rmtree(entry)
        pushed = run([DATATRAC, "push", str(data), "--source", "bench"], env)
        series["push"].add(pushed)
        pushed_sha = pushed.stdout.strip()

    def scp_fetch() -> None:
        # Baseline fetch: scp the stored object back.
        stored = store / pushed_sha[:2] / pushed_sha[2:4] / pushed_sha
        target = work / "scp-download.bin"
        series["scp_fetch"].add(run(["scp", *ssh_options, f"{remote}:{stored}", str(target)]))
        target.unlink()

    def fetch() -> None:
        # datatrac fetch --download with an empty cache.
        shutil.rmtree(work / "cache", ignore_errors=True)
        output = work / "fetched.bin"
        series["fetch"].add(
            run([DATATRAC, "fetch", pushed_sha, "--download", "--output", str(output)], env)
        )
        output.unlink()

    for i in range(runs):
        # Every other run puts DataTrac first, so whatever the one run leaves behind for
        # the next (page cache, memory to fault in) weighs on both sides alike.
        pairs = [(scp_push, push), (scp_fetch, fetch)]
        for first, second in pairs if i % 2 == 0 else [(b, a) for a, b in pairs]:
            first()
            second()
        print(
            f"run {i + 1}/{runs}: "
            + ", ".join(f"{name} {s.times[-1]:.2f}s" for name, s in series.items()),
            file=sys.stderr,
        )
    return series


def report(series: dict[str, Series], server: SSHServer, args: argparse.Namespace) -> None:
    version = subprocess.run([str(SSHD), "-V"], capture_output=True, text=True)
    ssh_version = (version.stderr or version.stdout).strip().split(",")[0]
    push_ratio = series["push"].median / series["scp_push"].median
    fetch_ratio = series["fetch"].median / series["scp_fetch"].median
    rows = [
        ("`openssl dgst -sha256` + `scp` upload", "scp_push", ""),
        ("`datatrac push` (end to end)", "push", f"{push_ratio:.2f}x (goal <= 1.5x)"),
        ("`scp` download", "scp_fetch", ""),
        (
            "`datatrac fetch --download` (end to end)",
            "fetch",
            f"{fetch_ratio:.2f}x (goal <= 1.25x)",
        ),
    ]
    print(
        f"{args.size_mib} MiB random file, median of {args.runs} runs, loopback {ssh_version}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}\n"
    )
    print("| operation | median | runs | ratio | peak RSS |")
    print("|---|---:|---|---:|---:|")
    for label, key, ratio in rows:
        s = series[key]
        runs = ", ".join(f"{t:.2f}" for t in s.times)
        rss = f"{max(s.rss):.0f} MiB" if key in ("push", "fetch") else ""
        print(f"| {label} | {s.median:.2f} s | {runs} | {ratio} | {rss} |")


if __name__ == "__main__":
    main()
