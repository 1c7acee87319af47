"""Start-up of a CLI command, direct mode vs remote mode, side by side (issue 13's goal:
remote `fetch <hash>`, `lineage` and `fetch -a` at most half of direct mode's time).

    uv run python bench/remote_startup.py --datasets 1000 --runs 10

Makes a throw-away SQLite registry of N datasets (bench/seed.py), an administrator and
a token, serves it with gunicorn on 127.0.0.1, then runs each command alternately in
direct mode (DATATRAC_HOME) and remote mode (only DATATRAC_URL/DATATRAC_TOKEN) and
prints the median wall-clock time of each.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
PROJECT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="datatrac-startup-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        direct = {
            "PATH": os.environ["PATH"],
            "HOME": tmp,
            "DATATRAC_HOME": str(home),
            "DATATRAC_CACHE_DIR": str(home / "cache"),
            "DATATRAC_CONFIG_DIR": str(Path(tmp) / "config"),
            "DATATRAC_USER": "bench",
            "SECRET_KEY": "bench-" + "x" * 50,
        }
        run = {"env": direct, "check": True, "capture_output": True, "text": True}
        subprocess.run([BIN / "datatrac", "migrate"], **run)  # type: ignore[call-overload]
        subprocess.run(  # type: ignore[call-overload]
            [sys.executable, PROJECT / "bench" / "seed.py", "--datasets", str(options.datasets)],
            **run,
        )
        made = subprocess.run(  # type: ignore[call-overload]
            [BIN / "datatrac", "shell", "-c", SETUP], **run
        ).stdout.split()
        token, sha = made[-2], made[-1]
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        server = subprocess.Popen(
            [BIN / "gunicorn", "datatrac_site.wsgi:application", "--bind",
             f"fd://{listener.fileno()}", "--workers", "2", "--chdir", str(PROJECT)],
            env={**direct, "DEBUG": "false", "ALLOWED_HOSTS": "127.0.0.1"},
            pass_fds=(listener.fileno(),),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        remote = {
            "PATH": os.environ["PATH"],
            "HOME": tmp,
            "DATATRAC_URL": f"http://127.0.0.1:{port}",
            "DATATRAC_TOKEN": token,
            "DATATRAC_CACHE_DIR": str(Path(tmp) / "remote-cache"),
        }
        try:
            for args in (["fetch", sha[:12]], ["lineage", sha[:12]], ["fetch", "-a"]):
                times: dict[str, list[float]] = {"direct": [], "remote": []}
                for _ in range(options.runs + 1):  # the first of each warms caches
                    for mode, env in (("direct", direct), ("remote", remote)):
                        start = time.perf_counter()
                        done = subprocess.run(
                            [BIN / "datatrac", *args], env=env, capture_output=True
                        )
                        times[mode].append(time.perf_counter() - start)
                        assert done.returncode == 0, done.stderr
                d = statistics.median(times["direct"][1:])
                r = statistics.median(times["remote"][1:])
                print(f"{' '.join(args):20} direct {d:.3f} s  remote {r:.3f} s  ({r / d:.2f}x)")
        finally:
            server.terminate()
            server.wait()
            listener.close()


SETUP = """
from django.contrib.auth.models import Group, User
from registry.actors import Actor
from registry.models import Dataset
from tokens.services import create_token
user = User.objects.create_user("bench", password="bench-password")
user.groups.add(Group.objects.get(name="administrators"))
user = User.objects.get(pk=user.pk)
print(create_token(actor=Actor.for_user(user), name="bench", scope="read").secret)
print(Dataset.objects.order_by("-pushed_at").first().sha256)
"""

if __name__ == "__main__":
    main()
