"""`datatrac push` / `fetch --download` in remote mode against openssl + scp, 1 GiB.

    uv run python bench/remote_transfer.py                       # 1 GiB, 3 runs
    uv run python bench/remote_transfer.py --before integ        # also the code of `integ`
    uv run python bench/remote_transfer.py --size-mib 256 --runs 1

Starts `datatrac serve` (gunicorn, one worker, SQLite, a ``file://`` store) on 127.0.0.1
in a throwaway DATATRAC_HOME with a contributor's write token, a throwaway OpenSSH sshd
on 127.0.0.1 (tests/fixtures/sshd.py; note that an sshd here runs the account's
.bashrc), writes a random file, and for each run times, interleaved so that load on the
machine hits every side alike:

- baseline upload: ``openssl dgst -sha256 FILE`` then ``scp FILE`` to the sshd
- ``datatrac push FILE`` with only DATATRAC_URL and DATATRAC_TOKEN set (remote mode),
  end to end; the server's dataset and object are removed (untimed) before each run,
  so every run uploads all the bytes
- baseline download: ``scp`` of the stored object back
- ``datatrac fetch HASH --download`` in remote mode with an empty cache

With ``--before REF`` the code of that commit (``git archive``) is measured too, CLI and
server, in the same runs. The CLI's peak RSS is GNU time's %M; the server worker's is its
VmHWM, read after the runs. Bytecode is compiled first, as an installed DataTrac's is.
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.ssh_transfer import Series, Timed, scp_options, write_random_file  # noqa: E402
from tests.fixtures.sshd import SSHD, SSHServer, start_sshd  # noqa: E402

MiB = 1024 * 1024
GNU_TIME = "/usr/bin/time"
# The CLI of a source tree, run by this interpreter (the tree first on the path).
LAUNCH = "import sys; from datatrac_site.cli import main; sys.exit(main())"


def run(command: list[str], env: dict[str, str] | None = None) -> Timed:
    """Run ``command`` under GNU time; wall time and its peak RSS (%M).

    Dirty pages are flushed first (untimed), so the write-back of what the previous
    command wrote does not land in this one's time.
    """
    os.sync()
    with tempfile.NamedTemporaryFile("r") as rss:
        started = time.perf_counter()
        done = subprocess.run(
            [GNU_TIME, "-f", "%M", "-o", rss.name, *command],
            env=env,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr}")
        kib = int(Path(rss.name).read_text().split()[-1])
    return Timed(elapsed, kib / 1024, done.stdout)


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Server:
    """`datatrac serve` of one source tree, with its own home, store and token."""

    label: str
    tree: Path
    home: Path
    env: dict[str, str]
    url: str = ""
    token: str = ""
    process: subprocess.Popen[bytes] | None = None

    def manage(self, *args: str, capture: bool = False) -> str:
        done = subprocess.run(
            [sys.executable, "-c", LAUNCH, *args],
            env=self.env,
            cwd=self.tree,
            check=True,
            capture_output=capture,
            text=True,
        )
        return done.stdout if capture else ""

    def start(self) -> None:
        self.manage("migrate", "--verbosity", "0")
        script = (
            "from django.contrib.auth.models import Group, User\n"
            "from registry.actors import Actor\n"
            "from tokens.services import create_token\n"
            "u = User.objects.create_user('bench', password='x')\n"
            "u.groups.add(Group.objects.get(name='contributors'))\n"
            "print(create_token(actor=Actor.for_user(u), name='bench', scope='write').secret)\n"
        )
        self.token = self.manage("shell", "-c", script, capture=True).split()[-1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        log = (self.home / "serve.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "serve", "--bind", f"127.0.0.1:{port}",
             "--workers", "1", "--access-log", ""],
            env=self.env, cwd=self.tree, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return
            if self.process.poll() is not None:
                raise SystemExit(f"{self.label} server exited: see {self.home / 'serve.log'}")
            time.sleep(0.2)
        raise SystemExit(f"{self.label} server did not listen within 120 s")

    def worker_hwm_mib(self) -> float:
        assert self.process is not None
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return max(vm_hwm_mib(int(child)) for child in children)

    def forget_everything(self) -> None:
        """Remove every dataset and stored object (untimed), so the next push uploads."""
        self.manage(
            "shell",
            "-c",
            "from registry.models import Dataset, dataset_delete_allowed\n"
            "for d in Dataset.objects.all():\n"
            "    with dataset_delete_allowed(d.pk): d.delete()",
        )
        shutil.rmtree(self.home / "store", ignore_errors=True)

    def client_env(self, cache: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATATRAC_", "DATABASE_"))}
        env.update(
            DATATRAC_URL=self.url,
            DATATRAC_TOKEN=self.token,
            DATATRAC_CACHE_DIR=str(cache),
            PYTHONPATH=str(self.tree),
        )
        return env

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)


def make_server(label: str, tree: Path, work: Path) -> Server:
    home = work / f"home-{label}"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATATRAC_", "DATABASE_"))}
    env.update(
        DATATRAC_HOME=str(home),
        DATATRAC_STORAGE_URL=(home / "store").as_uri(),
        DATATRAC_UPLOAD_DIR=str(home / "uploads"),
        DATABASE_URL=f"sqlite:///{home / 'db.sqlite3'}",
        SECRET_KEY="bench-only-" + "x" * 50,
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1",
        PYTHONPATH=str(tree),
    )
    return Server(label=label, tree=tree, home=home, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="file size (default 1024)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (default 3)")
    parser.add_argument("--before", metavar="REF", help="also measure this commit's code")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a temp dir)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dt-bench-remote-", dir=args.workdir))
    trees = {"now": REPO}
    if args.before:
        before = work / "before"
        before.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", args.before], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        trees = {"before": before, "now": REPO}
    # An installed DataTrac has its bytecode compiled; so should the one measured here.
    for tree in trees.values():
        for package in ("datatrac", "datatrac_site", "registry", "lineage", "tokens"):
            if (tree / package).is_dir():
                compileall.compile_dir(tree / package, quiet=1)
    sshd = start_sshd(work / "sshd")
    servers = [make_server(label, tree, work) for label, tree in trees.items()]
    try:
        for server in servers:
            server.start()
        series = bench(servers, sshd, work, args.size_mib * MiB, args.runs)
        report(series, servers, args)
    finally:
        for server in servers:
            server.stop()
        sshd.stop()
        shutil.rmtree(work, ignore_errors=True)


def bench(
    servers: list[Server], sshd: SSHServer, work: Path, size: int, runs: int
) -> dict[str, Series]:
    data = work / "data.bin"
    write_random_file(data, size)
    landing = work / "scp-landing"
    landing.mkdir()
    ssh_config = work / "ssh_config"
    ssh_config.touch()
    ssh_options = scp_options(sshd, ssh_config)
    remote = f"{sshd.user}@127.0.0.1"
    series: dict[str, Series] = {"scp_push": Series(), "scp_fetch": Series()}
    for server in servers:
        series[f"push_{server.label}"] = Series()
        series[f"fetch_{server.label}"] = Series()
    pushed: dict[str, str] = {}

    def scp_push() -> None:
        digest = run(["openssl", "dgst", "-sha256", str(data)])
        copy = run(["scp", *ssh_options, str(data), f"{remote}:{landing}/upload.bin"])
        series["scp_push"].add(digest, copy)

    def scp_fetch() -> None:
        target = work / "scp-download.bin"
        got = run(["scp", *ssh_options, f"{remote}:{landing}/upload.bin", str(target)])
        series["scp_fetch"].add(got)
        target.unlink()

    def push(server: Server) -> None:
        server.forget_everything()
        cache = work / f"cache-{server.label}"
        shutil.rmtree(cache, ignore_errors=True)
        command = [sys.executable, "-c", LAUNCH, "push", str(data), "--source", "bench"]
        timed = run(command, server.client_env(cache))
        series[f"push_{server.label}"].add(timed)
        pushed[server.label] = timed.stdout.split()[0]

    def fetch(server: Server) -> None:
        cache = work / f"cache-{server.label}"
        shutil.rmtree(cache, ignore_errors=True)
        output = work / f"fetched-{server.label}.bin"
        command = [sys.executable, "-c", LAUNCH, "fetch", pushed[server.label], "--download",
                   "--output", str(output)]  # fmt: skip
        series[f"fetch_{server.label}"].add(run(command, server.client_env(cache)))
        output.unlink()

    for i in range(runs):
        # Every other run reverses the order, so whatever one leaves behind for the next
        # (page cache, memory to fault in) weighs on every side alike.
        uploads = [scp_push, *(lambda s=s: push(s) for s in servers)]
        downloads = [scp_fetch, *(lambda s=s: fetch(s) for s in servers)]
        if i % 2:
            uploads.reverse()
            downloads.reverse()
        for step in [*uploads, *downloads]:
            step()
        print(
            f"run {i + 1}/{runs}: "
            + ", ".join(f"{name} {s.times[-1]:.2f}s" for name, s in series.items()),
            file=sys.stderr,
        )
    return series


def report(series: dict[str, Series], servers: list[Server], args: argparse.Namespace) -> None:
    version = subprocess.run([str(SSHD), "-V"], capture_output=True, text=True)
    ssh_version = (version.stderr or version.stdout).strip().split(",")[0]
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"{args.size_mib} MiB random file, median of {args.runs} runs, loopback "
        f"{ssh_version}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average at the end {' '.join(load)}\n"
    )
    print("| operation | median | runs | ratio | peak RSS CLI | peak RSS worker |")
    print("|---|---:|---|---:|---:|---:|")

    def row(label: str, key: str, ratio: str = "", cli: bool = False, worker: str = "") -> None:
        s = series[key]
        runs = ", ".join(f"{t:.2f}" for t in s.times)
        rss = f"{max(s.rss):.0f} MiB" if cli else ""
        print(f"| {label} | {s.median:.2f} s | {runs} | {ratio} | {rss} | {worker} |")

    row("`openssl dgst -sha256` + `scp` upload", "scp_push")
    for server in servers:
        ratio = series[f"push_{server.label}"].median / series["scp_push"].median
        hwm = f"{server.worker_hwm_mib():.0f} MiB"
        row(f"`datatrac push` remote ({server.label})", f"push_{server.label}",
            f"{ratio:.2f}x (goal <= 1.5x)", cli=True, worker=hwm)  # fmt: skip
    row("`scp` download", "scp_fetch")
    for server in servers:
        ratio = series[f"fetch_{server.label}"].median / series["scp_fetch"].median
        row(f"`datatrac fetch --download` remote ({server.label})", f"fetch_{server.label}",
            f"{ratio:.2f}x (goal <= 1.25x)", cli=True)  # fmt: skip
    print("\nworker VmHWM is over all the runs (uploads and downloads)")


if __name__ == "__main__":
    main()
