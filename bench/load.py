"""Load test: the app under gunicorn (2 workers) on loopback, driven by wrk.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/datatrac_bench \
        uv run python bench/load.py --seed 1000000 --duration 20

It serves the registry in DATABASE_URL (seeding it first with --seed N) with gunicorn,
DEBUG off and public read on, as a production install would run, then points wrk
(Debian's ``wrk`` package) at each page for --duration seconds and reports requests per
second and the 50th/95th/99th percentile latency. wrk keeps --connections requests in
flight on --threads threads; the client shares the machine's cores with the server and
PostgreSQL, so the figures are a floor for a dedicated server, not a ceiling.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# wrk reports percentiles through its Lua API; its built-in --latency table has no p95.
REPORT_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d %d %d\\n",
    summary.requests, summary.duration, summary.errors.status + summary.errors.connect
      + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def run_wrk(
    url: str, *, duration: int, connections: int, threads: int, script: Path
) -> dict[str, float]:
    """One bounded wrk run against ``url``: requests/s and latency percentiles in ms."""
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    match = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", out)
    if match is None:
        raise SystemExit(f"wrk gave no result for {url}:\n{out}")
    requests, duration_us, errors, p50, p95, p99, worst = map(int, match.groups())
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": requests,
        "rps": requests / (duration_us / 1e6),
        "errors": errors + (int(non_2xx.group(1)) if non_2xx else 0),
        "p50_ms": p50 / 1000,
        "p95_ms": p95 / 1000,
        "p99_ms": p99 / 1000,
        "max_ms": worst / 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, help="seed this many datasets first")
    parser.add_argument("--duration", type=int, default=20, help="seconds per page (20)")
    parser.add_argument("--connections", type=int, default=8, help="requests in flight (8)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datatrac_site.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from bench.pages import page_urls
    from bench.seed import seed
    from registry.models import Dataset

    call_command("migrate", interactive=False, verbosity=0)
    if args.seed:
        seed(args.seed, 7)
    n = Dataset.objects.count()
    urls = page_urls(n)
    pages = {
        "health check (/healthz)": urls["health check (/healthz, no database)"],
        "trivial page (sign-in form)": urls["trivial page (sign-in form)"],
        "browser, first page": urls["browser, first page"],
        "browser, deep page": urls["browser, deep page"],
        "dataset page": urls["dataset page"],
    }

    port = free_port()
    env = {
        **os.environ,
        "DATATRAC_PUBLIC_READ": "true",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "datatrac_site.wsgi:application",
            "--workers",
            str(args.workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    results: list[dict[str, object]] = []
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/healthz")
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "report.lua"
            script.write_text(REPORT_LUA)
            print(
                f"\n## load: {n:,} datasets, gunicorn {args.workers} workers, wrk "
                f"{args.threads} threads x {args.connections} connections, "
                f"{args.duration} s per page\n"
            )
            print("| page | requests/s | p50 | p95 | p99 | errors |")
            print("|---|---:|---:|---:|---:|---:|")
            for label, path in pages.items():
                urllib.request.urlopen(base + path, timeout=30).read()
                row = run_wrk(
                    base + path,
                    duration=args.duration,
                    connections=args.connections,
                    threads=args.threads,
                    script=script,
                )
                results.append({"size": n, "page": label, "url": path, **row})
                print(
                    f"| {label} | {row['rps']:.0f} | {row['p50_ms']:.1f} ms "
                    f"| {row['p95_ms']:.1f} ms | {row['p99_ms']:.1f} ms | {row['errors']:.0f} |",
                    flush=True,
                )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    if any(row["errors"] for row in results):
        raise SystemExit("some requests failed")


if __name__ == "__main__":
    main()
