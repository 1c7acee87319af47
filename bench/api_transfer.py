"""The server side of transfers through the API: upload in parts and download, 1 GiB.

    uv run python bench/api_transfer.py                  # 1 GiB, 3 runs
    uv run python bench/api_transfer.py --size-mib 256 --runs 1

Starts gunicorn (one sync worker, a ``file://`` store, SQLite) on 127.0.0.1 in a
throwaway DATATRAC_HOME, makes a contributor with a write token, and for each run times,
interleaved with the baselines:

- baseline: ``openssl dgst -sha256 FILE`` then ``cp FILE`` into the home (the bytes
  hashed once and written once, as a push must at least)
- an upload through the API by a minimal httpx client (each part hashed for its
  Content-Digest and streamed from the file), ``complete`` included
- baseline: ``cat`` of the stored object to /dev/null
- a download of ``/content`` by httpx, streamed to /dev/null (sendfile on the server)

It prints the medians and the worker's peak RSS (VmHWM of the gunicorn worker, read
after each phase; the issue asks < 150 MB per worker). The CLI's own numbers (remote
push and fetch against scp) are bench material of the remote client.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
MiB = 1024 * 1024


def timed(command: list[str]) -> float:
    os.sync()
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


def upload(client: httpx.Client, path: Path, sha256: str, size: int) -> float:
    os.sync()
    started = time.perf_counter()
    body = {"sha256": sha256, "size": size, "name": path.name}
    answer = client.post("/uploads", json=body)
    answer.raise_for_status()
    upload = answer.json()
    with path.open("rb") as file:
        for n in range(1, upload["parts"] + 1):
            part = file.read(upload["part_size"])
            digest = base64.b64encode(hashlib.sha256(part).digest()).decode()
            sent = client.put(
                f"/uploads/{upload['upload_id']}/parts/{n}",
                content=part,
                headers={"Content-Digest": f"sha-256=:{digest}:"},
            )
            sent.raise_for_status()
    parts_done = time.perf_counter()
    done = client.post(f"/uploads/{upload['upload_id']}/complete")
    done.raise_for_status()
    finished = time.perf_counter()
    print(f"  upload: parts {parts_done - started:.2f} s, complete {finished - parts_done:.2f} s")
    return finished - started


def download(client: httpx.Client, sha256: str, size: int) -> float:
    os.sync()
    started = time.perf_counter()
    got = 0
    with client.stream("GET", f"/datasets/{sha256}/content") as response:
        response.raise_for_status()
        for chunk in response.iter_raw(MiB):
            got += len(chunk)
    assert got == size, (got, size)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mib * MiB
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        env = {
            **os.environ,
            "DATATRAC_HOME": str(home),
            "DATABASE_URL": f"sqlite:///{home / 'db.sqlite3'}",
            "SECRET_KEY": "bench-" + "x" * 50,
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
        }
        manage = [sys.executable, str(REPO / "manage.py")]
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
        script = (
            "from datetime import timedelta\n"
            "from django.contrib.auth.models import Group, User\n"
            "from registry.actors import Actor\n"
            "from tokens.services import create_token\n"
            "u = User.objects.create_user('bench', password='x')\n"
            "u.groups.add(Group.objects.get(name='contributors'))\n"
            "print(create_token(actor=Actor.for_user(u), name='bench', scope='write').secret)\n"
        )
        token = subprocess.run(
            [*manage, "shell", "-c", script], env=env, check=True, capture_output=True, text=True
        ).stdout.split()[-1]  # after the shell's own chatter
        data = Path(tmp) / "random.bin"
        with data.open("wb") as out:
            for _ in range(args.size_mib):
                out.write(os.urandom(MiB))
        sha256 = subprocess.run(
            ["sha256sum", str(data)], check=True, capture_output=True, text=True
        ).stdout.split()[0]
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        server = subprocess.Popen(
            [GUNICORN, "datatrac_site.wsgi:application", "--bind", f"fd://{listener.fileno()}",
             "--workers", "1", "--timeout", "600", "--chdir", str(REPO)],
            env=env, pass_fds=(listener.fileno(),),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        results: dict[str, list[float]] = {k: [] for k in ("base_up", "up", "base_down", "down")}
        hwm: list[float] = []
        try:
            client = httpx.Client(
                base_url=f"http://127.0.0.1:{port}/api/v1",
                headers={"Authorization": f"Bearer {token}"},
                timeout=600,
            )
            stored = home / "store" / sha256[:2] / sha256[2:4] / sha256
            for run in range(args.runs):
                copy = home / f"copy-{run}"
                results["base_up"].append(
                    timed(["sh", "-c", f"openssl dgst -sha256 {data} && cp {data} {copy}"])
                )
                copy.unlink()
                if stored.exists():  # every run uploads: a fresh store
                    subprocess.run(
                        [*manage, "shell", "-c",
                         "from registry.models import Dataset, dataset_delete_allowed\n"
                         "for d in Dataset.objects.all():\n"
                         "    with dataset_delete_allowed(d.pk): d.delete()"],
                        env=env, check=True,
                    )  # fmt: skip
                    stored.chmod(0o644)
                    stored.unlink()
                results["up"].append(upload(client, data, sha256, size))
                hwm.append(vm_hwm_mib(worker_pid(server.pid)))
                results["base_down"].append(timed(["sh", "-c", f"cat {stored} > /dev/null"]))
                results["down"].append(download(client, sha256, size))
                hwm.append(vm_hwm_mib(worker_pid(server.pid)))
        finally:
            server.terminate()
            server.wait()
            listener.close()
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"{args.size_mib} MiB, {args.runs} run(s), medians:")
    print(f"  openssl dgst + cp      {med['base_up']:.2f} s")
    print(f"  API upload (parts)     {med['up']:.2f} s  ({med['up'] / med['base_up']:.2f}x)")
    print(f"  cat > /dev/null        {med['base_down']:.2f} s")
    print(f"  API download           {med['down']:.2f} s")
    print(f"  gunicorn worker peak RSS (VmHWM): {max(hwm):.0f} MiB")


if __name__ == "__main__":
    main()
