"""How long a `datatrac` command takes to start and answer (issue 13, "a command is
also a process start"), direct mode, on a registry of 1,000 datasets.

    uv run python bench/cli_startup.py --runs 15
    uv run python bench/cli_startup.py --runs 15 --before floor   # also the code of `floor`

It compiles the bytecode of the venv's site-packages and of the project first (as an
installed DataTrac has it: with PYTHONDONTWRITEBYTECODE set and no bytecode, every start
would compile Django anew), seeds two registries of --datasets datasets with
bench/seed.py (the embedded SQLite default under a temporary DATATRAC_HOME, and
PostgreSQL at --postgres unless --no-postgres), then times the real `datatrac` script:

- `fetch <hash>`: show one dataset
- `lineage <hash>`: its ancestors and descendants (depth 3)
- `fetch -a --limit 1000`: list 1,000 datasets as a table

beside two baselines, `python -c pass` and `python -c "import django"`. With --before REV
the same commands also run the code of commit REV (extracted with `git archive`, run by
the same interpreter and venv), so "before" and "after" are measured in the same run.
Every run times every command once, in an order rotated run by run, so load from
elsewhere on the machine weighs on all alike; output goes to /dev/null. Each figure is
the wall time (median, and the fastest run) and the CPU time (user + system, median:
it swells much less than the wall time when other work shares the cores). One more row
times `fetch <hash>` with no bytecode at all (an empty PYTHONPYCACHEPREFIX, with
PYTHONDONTWRITEBYTECODE): what a venv that `uv sync` left without bytecode would pay.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SCRIPT = str(Path(sys.executable).with_name("datatrac"))
PACKAGES = ("datatrac_site", "registry", "lineage", "tokens")
GOALS = {"fetch <hash>": 0.45, "lineage <hash>": 0.45, "fetch -a --limit 1000": 0.5}

# The embedded registry lives in a temporary home; this process seeds it in-process.
WORK = Path(tempfile.mkdtemp(prefix="dt-bench-startup-"))
for _key in [k for k in os.environ if k.startswith(("DATATRAC_", "DATABASE_URL"))]:
    del os.environ[_key]
os.environ["DATATRAC_HOME"] = str(WORK / "home")
os.environ["DATATRAC_CACHE_DIR"] = str(WORK / "cache")
os.environ["DATATRAC_USER"] = "bench"
os.environ["PAGER"] = "cat"
sys.path.insert(0, str(REPO))

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from bench.seed import seed, sha_for  # noqa: E402  (sets Django up on the embedded home)


@dataclass(frozen=True)
class Case:
    registry: str  # "SQLite (embedded)", "PostgreSQL", or "" for a baseline
    label: str  # "fetch <hash>", ...
    code: str  # "after", "before", "baseline", "no bytecode"
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]


def compile_bytecode(*trees: Path) -> None:
    """What an installed DataTrac has: every module compiled (quietly, in parallel)."""
    compileall.compile_dir(sysconfig.get_paths()["purelib"], quiet=2, workers=0)
    for tree in trees:
        for package in PACKAGES:
            if (tree / package).is_dir():
                compileall.compile_dir(tree / package, quiet=2, workers=0)


def extract(rev: str) -> Path:
    """The project's files at commit ``rev``, in a temporary directory."""
    target = WORK / f"code-{rev}"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", rev],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def launcher(tree: Path) -> str:
    """A `datatrac` script running the code in ``tree`` (the venv's console script,
    with ``tree`` first on sys.path)."""
    path = WORK / f"datatrac-{tree.name}"
    path.write_text(
        f"#!{PYTHON}\nimport sys\nsys.path.insert(0, {str(tree)!r})\n"
        "from datatrac_site.cli import main\nsys.exit(main())\n"
    )
    path.chmod(0o755)
    return str(path)


def seed_postgres(url: str, n: int) -> None:
    """Create the database if it is missing, then seed it (bench/seed.py, its own process:
    this one's Django is on the embedded registry)."""
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [PYTHON, str(REPO / "bench" / "seed.py"), "--datasets", str(n)],
        env={**os.environ, "DATABASE_URL": url},
        check=True,
        stdout=subprocess.DEVNULL,
    )


def time_once(case: Case) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one run of ``case``."""
    env = {**os.environ, **dict(case.env)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        case.argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=WORK
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(case.argv)} failed: {result.stderr.decode().strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15, help="runs per figure (15)")
    parser.add_argument("--datasets", type=int, default=1000, help="registry size (1000)")
    parser.add_argument("--before", metavar="REV", help="also time the code of commit REV")
    parser.add_argument(
        "--postgres",
        default="postgres://postgres@127.0.0.1:5432/datatrac_bench_startup",
        help="PostgreSQL database to seed and use (created if missing)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()

    trees = {"after": REPO}
    if args.before:
        trees["before"] = extract(args.before)
    print("compiling bytecode ...", flush=True)
    compile_bytecode(*trees.values())

    print(f"seeding {args.datasets:,} datasets ...", flush=True)
    call_command("migrate", interactive=False, verbosity=0)
    seed(args.datasets, 7)
    connection.close()
    registries: list[tuple[str, dict[str, str]]] = [("SQLite (embedded)", {})]
    if not args.no_postgres:
        seed_postgres(args.postgres, args.datasets)
        registries.append(("PostgreSQL", {"DATABASE_URL": args.postgres}))

    target = sha_for(args.datasets // 2)
    commands = {
        "fetch <hash>": ("fetch", target),
        "lineage <hash>": ("lineage", target),
        "fetch -a --limit 1000": ("fetch", "-a", "--limit", "1000"),
    }
    scripts = {code: SCRIPT if code == "after" else launcher(tree) for code, tree in trees.items()}
    cases = [
        Case("", "`python -c pass`", "baseline", (PYTHON, "-c", "pass"), ()),
        Case("", '`python -c "import django"`', "baseline", (PYTHON, "-c", "import django"), ()),
    ]
    for registry, env in registries:
        for label, command in commands.items():
            for code, script in scripts.items():
                cases.append(Case(registry, label, code, (script, *command), tuple(env.items())))
    empty_cache = WORK / "no-bytecode"
    empty_cache.mkdir()
    cases.append(
        Case(
            "SQLite (embedded)",
            "fetch <hash>",
            "no bytecode",
            (SCRIPT, *commands["fetch <hash>"]),
            (("PYTHONPYCACHEPREFIX", str(empty_cache)), ("PYTHONDONTWRITEBYTECODE", "1")),
        )
    )

    for case in cases:  # warm-up: the page cache, the database's buffers
        time_once(case)
    times: dict[Case, list[float]] = defaultdict(list)
    cpu: dict[Case, list[float]] = defaultdict(list)
    for run in range(args.runs):
        shift = run % len(cases)
        for case in cases[shift:] + cases[:shift]:
            wall, used = time_once(case)
            times[case].append(wall)
            cpu[case].append(used)
        print(f"run {run + 1}/{args.runs} done", flush=True)

    report(times, cpu, args)
    shutil.rmtree(WORK, ignore_errors=True)


def report(
    times: dict[Case, list[float]], cpu: dict[Case, list[float]], args: argparse.Namespace
) -> None:
    """Wall time as median [fastest], and CPU time (user + system) as median: on a
    loaded machine the wall times swell with the load, the CPU times much less."""

    def wall(case: Case) -> str:
        return f"{statistics.median(times[case]):.3f} [{min(times[case]):.3f}]"

    def used(case: Case) -> str:
        return f"{statistics.median(cpu[case]):.3f}"

    print(
        f"\n{args.datasets:,} datasets, {args.runs} runs, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; seconds: wall median "
        "[fastest], CPU median\n"
    )
    for case in (c for c in times if c.code == "baseline"):
        print(f"{case.label}: wall {wall(case)}, CPU {used(case)}")
    olds = {(c.argv[1:], c.env): c for c in times if c.code == "before"}
    header = ["registry", "command"]
    if olds:
        header += ["before: wall", "before: CPU"]
    header += ["after: wall", "after: CPU"]
    if olds:
        header += ["after / before (wall, CPU)"]
    header += ["goal (median wall)"]
    print("\n| " + " | ".join(header) + " |")
    print("|---|---|" + "---:|" * (len(header) - 3) + "---|")
    for case in (c for c in times if c.code == "after"):
        cells = [case.registry, f"`{case.label}`"]
        old = olds.get((case.argv[1:], case.env))
        if old is not None:
            cells += [wall(old), used(old)]
        cells += [wall(case), used(case)]
        median = statistics.median(times[case])
        if old is not None:
            wall_ratio = median / statistics.median(times[old])
            cpu_ratio = statistics.median(cpu[case]) / statistics.median(cpu[old])
            cells.append(f"{wall_ratio:.2f}x, {cpu_ratio:.2f}x")
        goal = GOALS[case.label]
        cells.append(f"<= {goal}: {'met' if median <= goal else 'not met'}")
        print("| " + " | ".join(cells) + " |")
    for case in (c for c in times if c.code == "no bytecode"):
        print(
            f"\n`{case.label}` ({case.registry}) with no bytecode at all (not even the "
            f"standard library's): wall {wall(case)}, CPU {used(case)}"
        )


if __name__ == "__main__":
    main()
