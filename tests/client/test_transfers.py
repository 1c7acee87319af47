"""Remote push and download through a real gunicorn: the README walk-through in remote
mode, and interrupted transfers that resume without sending bytes twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from lineage.models import LineageEdge
from registry.models import Dataset
from tests.client.conftest import PART_SIZE, RemoteCLI, logged_requests, make_token
from tests.client.test_remote_cli import one_error_line


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_readme_walk_through_in_remote_mode(
    remote: RemoteCLI, people: dict[str, Any], tmp_path: Path
) -> None:
    raw_bytes = os.urandom(3 * PART_SIZE + 1234)
    raw_file = write(tmp_path / "sales.csv", raw_bytes)
    pushed = remote("push", str(raw_file), "--source", "https://example.org/sales.csv")
    assert pushed.returncode == 0, pushed.stderr
    raw = Dataset.objects.get()
    assert pushed.stdout.strip() == raw.sha256
    assert pushed.stderr.strip() == "pushed 'sales.csv' (193.2 KiB)"
    assert raw.pushed_by == "carl"

    again = remote("push", str(raw_file), "--source", "again")
    assert again.returncode == 0, again.stderr
    assert "already registered as 'sales.csv'" in again.stderr
    assert "nothing uploaded" in again.stderr

    clean_file = write(tmp_path / "clean.csv", b"region,total\nnorth,10\n")
    child = remote(
        "push", str(clean_file), "--source", "dedup", "--parent", raw.sha256[:8], "--json"
    )
    assert child.returncode == 0, child.stderr
    clean_data = json.loads(child.stdout)
    assert clean_data["outcome"] == "created" and clean_data["uploaded"] is True
    assert LineageEdge.objects.filter(parent=raw, child__sha256=clean_data["sha256"]).exists()

    listing = remote("fetch", "--all")
    assert "sales.csv" in listing.stdout and "clean.csv" in listing.stdout
    assert (
        json.loads(remote("fetch", "--all", "--search", "clean", "--json").stdout)[0]["sha256"]
        == clean_data["sha256"]
    )
    assert "sales.csv" in remote("fetch", clean_data["sha256"][:8]).stdout

    downloaded = remote("fetch", raw.sha256[:8], "--download")
    assert downloaded.returncode == 0, downloaded.stderr
    assert downloaded.stderr.startswith("verified 193.2 KiB")
    assert (remote.cwd / "sales.csv").read_bytes() == raw_bytes
    exists = remote("fetch", raw.sha256[:8], "--download")
    assert exists.returncode == 1
    assert "pass --force" in one_error_line(exists)
    forced = remote("fetch", raw.sha256[:8], "--download", "--force", "-o", "out/", "--json")
    assert json.loads(forced.stdout)["from_cache"] is True
    assert (remote.cwd / "out" / "sales.csv").read_bytes() == raw_bytes

    tree = remote("lineage", raw.sha256[:8])
    assert f"└── {clean_data['sha256'][:12]} clean.csv" in tree.stdout
    unlinked = remote(
        "lineage", "--parent", raw.sha256[:8], "--child", clean_data["sha256"][:8], "--remove"
    )
    assert unlinked.returncode == 0, unlinked.stderr
    relinked = remote("lineage", "--parent", raw.sha256[:8], "--child", clean_data["sha256"][:8])
    assert relinked.stdout.startswith("linked ")

    local = remote("delete", raw.sha256[:8], "--local")
    assert local.stdout.strip() == f"removed the local copy of {raw.short_hash}"
    assert remote("delete", raw.sha256[:8], "--local").stdout.strip().startswith("no local copy")

    refused = remote("delete", clean_data["sha256"][:8], "--yes")
    assert refused.returncode == 3
    one_error_line(refused)

    admin = {"DATATRAC_TOKEN": make_token(people["administrator"], "admin")}
    deleted = remote("delete", clean_data["sha256"][:8], "--yes", **admin)
    assert deleted.returncode == 0, deleted.stderr
    assert "its record is kept as a tombstone" in deleted.stdout
    gone = remote("fetch", clean_data["sha256"][:8], "--download")
    assert gone.returncode == 1
    assert "deleted" in one_error_line(gone)
    # Delete removed the bytes: restore says to push them again, and that restores it.
    no_bytes = remote("restore", clean_data["sha256"][:8], **admin)
    assert no_bytes.returncode == 1
    assert "push the file again" in one_error_line(no_bytes)
    restored = remote("push", str(clean_file), "--source", "dedup")
    assert restored.returncode == 0, restored.stderr
    assert restored.stderr.startswith("restored deleted dataset 'clean.csv'")
    assert remote("delete", clean_data["sha256"][:8], "--yes", **admin).returncode == 0
    purged = remote("delete", clean_data["sha256"][:8], "--purge", "--yes", **admin)
    assert purged.returncode == 0, purged.stderr
    assert purged.stdout.startswith(f"purged {clean_data['sha256'][:12]} ('clean.csv')")
    assert not Dataset.objects.filter(sha256=clean_data["sha256"]).exists()


def test_a_killed_push_resumes_without_sending_the_received_parts_again(
    remote: RemoteCLI, access_log: Path, tmp_path: Path
) -> None:
    data = os.urandom(8 * PART_SIZE + 100)  # 9 parts
    source = write(tmp_path / "big.bin", data)
    # The real client, killed (os._exit: no clean-up) while part 4 is being sent.
    killer = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from datatrac.remote import RemoteClient\n"
        f"size, part = {len(data)}, {PART_SIZE}\n"
        "seen = 0\n"
        "def progress(n):\n"
        "    global seen\n"
        "    seen += n\n"
        "    if seen > size + 3 * part:\n"
        "        os._exit(9)\n"
        "client = RemoteClient(os.environ['DATATRAC_URL'], token=os.environ['DATATRAC_TOKEN'],"
        " cache=Path(os.environ['DATATRAC_CACHE_DIR']))\n"
        f"client.push(Path({str(source)!r}), source='big', progress=progress)\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", killer], env=remote.env(), capture_output=True, text=True
    )
    assert killed.returncode == 9, killed.stderr
    memos = list((remote.cache / "uploads").rglob("*.json"))
    assert len(memos) == 1
    upload_id = json.loads(memos[0].read_text())["upload_id"]
    with httpx.Client(
        base_url=f"{remote.url}/api/v1", headers={"Authorization": f"Bearer {remote.token}"}
    ) as api:
        received = api.get(f"/uploads/{upload_id}").json()["received"]
    assert sorted(p["n"] for p in received) == [1, 2, 3]
    sent_before = len(logged_requests(access_log))

    resumed = remote("push", str(source), "--source", "big")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.startswith("pushed 'big.bin'")
    later = logged_requests(access_log)[sent_before:]
    parts_sent = sorted(int(r[1].rsplit("/", 1)[1]) for r in later if r[0] == "PUT")
    assert parts_sent == [4, 5, 6, 7, 8, 9]
    assert not any(r[0] == "POST" and r[1].endswith("/uploads") for r in later)
    dataset = Dataset.objects.get()
    assert dataset.size == len(data)
    assert not list((remote.cache / "uploads").rglob("*.json"))


def test_a_killed_download_resumes_with_range_and_is_verified(
    remote: RemoteCLI, access_log: Path, tmp_path: Path
) -> None:
    data = os.urandom(5 * 1024 * 1024 + 17)
    source = write(tmp_path / "big.bin", data)
    assert remote("push", str(source), "--source", "big").returncode == 0
    sha = Dataset.objects.get().sha256
    killer = (
        "import os\n"
        "from pathlib import Path\n"
        "from datatrac.remote import RemoteClient\n"
        "seen = 0\n"
        "def progress(n):\n"
        "    global seen\n"
        "    seen += n\n"
        "    if seen >= 2 * 1024 * 1024:\n"
        "        os._exit(9)\n"
        "client = RemoteClient(os.environ['DATATRAC_URL'], token=os.environ['DATATRAC_TOKEN'],"
        " cache=Path(os.environ['DATATRAC_CACHE_DIR']))\n"
        f"client.download({sha!r}, output='partial.bin', progress=progress)\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", killer],
        env=remote.env(),
        cwd=remote.cwd,
        capture_output=True,
        text=True,
    )
    assert killed.returncode == 9, killed.stderr
    assert not (remote.cwd / "partial.bin").exists()
    parts = list(remote.cache.rglob("*.remote.part"))
    assert len(parts) == 1
    kept = parts[0].stat().st_size
    assert 0 < kept < len(data)
    before = len(logged_requests(access_log))

    resumed = remote("fetch", sha[:8], "--download", "-o", "whole.bin")
    assert resumed.returncode == 0, resumed.stderr
    assert (remote.cwd / "whole.bin").read_bytes() == data
    content = [r for r in logged_requests(access_log)[before:] if r[1].endswith("/content")]
    assert len(content) == 1
    method, _, status, asked, *sent = content[0]
    assert (method, status, asked) == ("GET", "206", f"range=bytes={kept}-")
    assert " ".join(sent) == f"sent=bytes {kept}-{len(data) - 1}/{len(data)}"
    assert not list(remote.cache.rglob("*.remote.part"))


def test_a_corrupt_partial_download_is_refused_and_nothing_is_placed(
    remote: RemoteCLI, tmp_path: Path
) -> None:
    data = os.urandom(300_000)
    assert remote("push", str(write(tmp_path / "f.bin", data)), "--source", "x").returncode == 0
    sha = Dataset.objects.get().sha256
    # A partial file whose bytes are not the dataset's first bytes: the rest from the
    # server does not make the hash, so the whole is refused and the part removed.
    part = remote.cache / sha[:2] / sha[2:4] / f".{sha}.remote.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 1000)
    result = remote("fetch", sha[:8], "--download")
    assert result.returncode == 1
    assert "hash mismatch" in one_error_line(result)
    assert not (remote.cwd / "f.bin").exists()
    assert not part.exists()
    assert remote("fetch", sha[:8], "--download").returncode == 0
    assert (remote.cwd / "f.bin").read_bytes() == data


def test_an_empty_file_is_pushed_and_downloaded_remotely(remote: RemoteCLI, tmp_path: Path) -> None:
    pushed = remote("push", str(write(tmp_path / "empty.csv", b"")), "--source", "nothing")
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stderr.strip() == "pushed 'empty.csv' (0 B)"
    got = remote("fetch", pushed.stdout.strip()[:8], "--download", "-o", "again.csv")
    assert got.returncode == 0, got.stderr
    assert (remote.cwd / "again.csv").read_bytes() == b""
