"""`datatrac fetch --download` through the real script: where the file goes, when it may
replace one, that it is a file of its own, and a cache that cannot be written."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from registry.models import Dataset
from registry.services import cache_path
from tests.conftest import CLI, DATATRAC_SCRIPT

DATA = b"station,mm\n" + b"LHR,3.2\n" * 20_000
SHA256 = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def pushed(cli: CLI, make_file: Callable[..., Path]) -> Dataset:
    result = cli("push", str(make_file(DATA, name="rain.csv")), "--source", "s")
    assert result.returncode == 0, result.stderr
    return Dataset.objects.get(sha256=SHA256)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr.strip()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- 3. each download is a file of its own ---------------------------------------------


def test_each_download_is_its_own_file_and_changing_it_changes_nothing_else(
    cli: CLI, pushed: Dataset
) -> None:
    for name in ("a.csv", "b.csv"):
        result = cli("fetch", SHA256[:8], "--download", "--output", name)
        assert result.returncode == 0, result.stderr
    first, second, cached = cli.cwd / "a.csv", cli.cwd / "b.csv", cache_path(SHA256)
    assert len({first.stat().st_ino, second.stat().st_ino, cached.stat().st_ino}) == 3
    assert (first.stat().st_nlink, cached.stat().st_nlink) == (1, 1)
    assert stat.S_IMODE(cached.stat().st_mode) == 0o444  # the cache stays read-only
    assert first.stat().st_mode & stat.S_IWUSR  # the download is the user's to change

    first.chmod(0o644)
    with first.open("r+b") as edit:  # as root, as anyone who chmods their download
        edit.write(b"EDITED")
    assert sha256_of(cached) == SHA256
    assert sha256_of(second) == SHA256
    assert stat.S_IMODE(cached.stat().st_mode) == 0o444

    third = cli("fetch", SHA256[:8], "--download", "--output", "c.csv")
    assert third.returncode == 0, third.stderr
    assert "(from the local cache)" in third.stderr
    assert sha256_of(cli.cwd / "c.csv") == SHA256


# --- 13. a cache directory that cannot be written --------------------------------------


@pytest.mark.parametrize("where", ["under a regular file", "a regular file"])
def test_an_unwritable_cache_directory_is_one_line_and_writes_nothing(
    cli: CLI, pushed: Dataset, tmp_path: Path, where: str
) -> None:
    # Tests run as root, who ignores permission bits: a file in the path stops root too.
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file")
    cache = blocker / "cache" if where == "under a regular file" else blocker
    result = cli(
        "fetch",
        SHA256[:8],
        "--download",
        "--output",
        "x.csv",
        env={"DATATRAC_CACHE_DIR": str(cache)},
    )
    error = one_line_error(result)
    assert error.startswith(f"error: cannot write to the download cache {cache}: ")
    assert "DATATRAC_CACHE_DIR" in error
    assert list(cli.cwd.iterdir()) == []
    assert blocker.read_text() == "a file"
    pushed.refresh_from_db()
    assert pushed.download_count == 0


# --- 15. --output: a directory to create, a file to replace -----------------------------


@pytest.mark.parametrize("output", ["newdir/", "new/nested/dir/"])
def test_an_output_with_a_trailing_slash_is_a_directory_made_for_the_download(
    cli: CLI, pushed: Dataset, output: str
) -> None:
    result = cli("fetch", SHA256[:8], "--download", "--output", output)
    assert result.returncode == 0, result.stderr
    written = cli.cwd / output / "rain.csv"
    assert result.stdout.strip() == str(Path(output) / "rain.csv")
    assert sha256_of(written) == SHA256
    assert not (cli.cwd / output.rstrip("/")).is_file()


def test_an_output_directory_that_does_not_exist_without_a_slash_is_refused(
    cli: CLI, pushed: Dataset
) -> None:
    error = one_line_error(cli("fetch", SHA256[:8], "--download", "--output", "nope/x.csv"))
    assert "directory nope does not exist (end --output with / to create a directory)" in error
    assert list(cli.cwd.iterdir()) == []


def test_a_trailing_slash_on_an_existing_file_is_refused(cli: CLI, pushed: Dataset) -> None:
    (cli.cwd / "afile").write_text("mine")
    error = one_line_error(cli("fetch", SHA256[:8], "--download", "--output", "afile/"))
    assert "afile is not a directory" in error
    assert (cli.cwd / "afile").read_text() == "mine"


@pytest.mark.parametrize("output", [None, "kept.csv", "."])
def test_an_existing_file_is_not_overwritten_without_force(
    cli: CLI, pushed: Dataset, output: str | None
) -> None:
    existing = cli.cwd / ("rain.csv" if output in (None, ".") else output)
    existing.write_text("precious")
    args = ["fetch", SHA256[:8], "--download"] + (["--output", output] if output else [])
    error = one_line_error(cli(*args))
    assert error.endswith("already exists: pass --force to overwrite it")
    assert existing.read_text() == "precious"
    assert sorted(p.name for p in cli.cwd.iterdir()) == [existing.name]
    pushed.refresh_from_db()
    assert pushed.download_count == 0

    forced = cli(*args, "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"overwrote the existing {forced.stdout.strip()}" in forced.stderr
    assert sha256_of(existing) == SHA256


def test_json_says_whether_a_file_was_replaced(cli: CLI, pushed: Dataset) -> None:
    import json

    fresh = cli("fetch", SHA256[:8], "--download", "--json")
    assert json.loads(fresh.stdout)["replaced"] is False
    again = cli("fetch", SHA256[:8], "--download", "--json", "--force")
    assert json.loads(again.stdout)["replaced"] is True


def run_on_a_terminal(cli: CLI, answer: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `datatrac` with its stdin on a pseudo-terminal that types ``answer``."""
    controller, terminal = os.openpty()
    try:
        os.write(controller, answer.encode() + b"\n")
        return subprocess.run(
            [DATATRAC_SCRIPT, *args],
            stdin=terminal,
            capture_output=True,
            text=True,
            cwd=cli.cwd,
            env=cli.env,
            timeout=120,
        )
    finally:
        os.close(terminal)
        os.close(controller)


def test_on_a_terminal_overwriting_is_asked_and_no_keeps_the_file(
    cli: CLI, pushed: Dataset
) -> None:
    existing = cli.cwd / "rain.csv"
    existing.write_text("precious")
    refused = run_on_a_terminal(cli, "n", "fetch", SHA256[:8], "--download")
    assert refused.returncode == 1
    assert "rain.csv already exists; overwrite it? [y/N]" in refused.stderr
    assert refused.stderr.strip().endswith("error: not overwritten: rain.csv already exists")
    assert existing.read_text() == "precious"

    agreed = run_on_a_terminal(cli, "y", "fetch", SHA256[:8], "--download")
    assert agreed.returncode == 0, agreed.stderr
    assert agreed.stdout.strip() == "rain.csv"  # the question never goes to stdout
    assert "overwrote the existing rain.csv" in agreed.stderr
    assert sha256_of(existing) == SHA256
