"""`datatrac fetch --all`: a page by default, streamed in chunks, paged on a terminal."""

from __future__ import annotations

import io
import json
import math
import os
import pty
import select
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.management.commands import fetch
from registry.models import Dataset
from tests.conftest import CLI, DATATRAC_SCRIPT
from tests.factories import DatasetFactory


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("fetch", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def registry_of(n: int, *, ties: bool = False) -> list[Dataset]:
    """``n`` datasets, newest first; with ``ties`` several share one push time, so the
    order rests on the id as well."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = DatasetFactory.create_batch(n)
    for i, d in enumerate(rows):
        d.pushed_at = start + timedelta(minutes=(i // 3) if ties else i)
    Dataset.objects.bulk_update(rows, ["pushed_at"])
    return sorted(rows, key=lambda d: (d.pushed_at, d.pk), reverse=True)


@pytest.mark.django_db
def test_a_listing_shows_the_newest_page_and_says_how_to_see_more() -> None:
    newest = registry_of(fetch.DEFAULT_LIMIT + 7)
    out, err = run("--all")
    lines = out.splitlines()
    assert lines[0].split() == [
        "hash",
        "name",
        "size",
        "source",
        "pushed",
        "by",
        "pushed",
        "at",
        "downloads",
    ]
    assert [line.split()[0] for line in lines[1:]] == [
        d.short_hash for d in newest[: fetch.DEFAULT_LIMIT]
    ]
    last = newest[fetch.DEFAULT_LIMIT - 1]
    assert err.strip() == (
        f"{fetch.DEFAULT_LIMIT} listed, 7 more: add `--after {last.short_hash}` for the next "
        f"{fetch.DEFAULT_LIMIT}, `--limit N` to list N, `--limit 0` for every one"
    )
    rest, err = run("--all", "--after", last.short_hash)
    assert [line.split()[0] for line in rest.splitlines()[1:]] == [
        d.short_hash for d in newest[fetch.DEFAULT_LIMIT :]
    ]
    assert err == ""  # nothing more


@pytest.mark.django_db
def test_a_listing_that_fits_one_page_says_nothing_more() -> None:
    registry_of(3)
    out, err = run("--all")
    assert len(out.splitlines()) == 4
    assert err == ""


@pytest.mark.django_db
def test_more_than_the_cap_is_counted_as_at_least(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch, "MORE_CAP", 4)
    registry_of(12)
    _, err = run("--all", "--limit", "3")
    assert err.startswith("3 listed, 4+ more: ")


@pytest.mark.django_db
@pytest.mark.parametrize("chunk", [2, 1000])
def test_paging_with_limit_and_after_lists_every_dataset_exactly_once(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(fetch, "LIST_CHUNK", chunk)
    expected = [d.sha256 for d in registry_of(23, ties=True)]
    seen: list[str] = []
    args = ["--all", "--limit", "5", "--jsonl"]
    while True:
        out, err = run(*args)
        page = [json.loads(line)["sha256"] for line in out.splitlines()]
        seen += page
        if not err:
            break
        cursor = err.split("--after ")[1].split("`")[0]
        assert cursor == page[-1][:12]
        args = ["--all", "--limit", "5", "--jsonl", "--after", cursor]
    assert seen == expected


@pytest.mark.django_db
def test_limit_zero_lists_every_dataset() -> None:
    expected = [d.sha256 for d in registry_of(fetch.DEFAULT_LIMIT + 5)]
    out, err = run("--all", "--limit", "0", "--jsonl")
    assert [json.loads(line)["sha256"] for line in out.splitlines()] == expected
    assert err == ""


@pytest.mark.django_db
@pytest.mark.parametrize("n", [0, 1, 7, 9])
def test_streamed_json_is_one_valid_array(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    monkeypatch.setattr(fetch, "LIST_CHUNK", 3)  # rows from several chunks
    expected = [d.sha256 for d in registry_of(n)]
    out, _ = run("--all", "--limit", "0", "--json")
    assert [d["sha256"] for d in json.loads(out)] == expected


@pytest.mark.django_db
def test_a_listing_reads_in_chunks_its_queries_grow_with_chunks_not_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fetch, "LIST_CHUNK", 10)
    registry_of(95)
    for args in (["--limit", "0"], ["--limit", "0", "--json"], ["--limit", "90", "--jsonl"]):
        with CaptureQueriesContext(connection) as queries:
            out, _ = run("--all", *args)
        reads = [q for q in queries.captured_queries if "registry_dataset" in q["sql"]]
        # One query a chunk, and (for a full page) one capped count of the rest.
        assert len(reads) <= math.ceil(95 / 10) + 1, args
        assert len(out.splitlines()) >= 90


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--all", "--limit", "-1"], "--limit must be 0"),
        (["--all", "--json", "--jsonl"], "--json or --jsonl"),
        (["--all", "--after", "fedcba98"], "no dataset"),
        (["abcdef12", "--limit", "3"], "go with --all"),
    ],
)
def test_bad_listing_options_are_refused(args: list[str], message: str) -> None:
    DatasetFactory(sha256="abcdef12" + "0" * 56)
    with pytest.raises(CommandError, match=message):
        run(*args)


def read_terminal(args: list[str], env: dict[str, str], cwd: str) -> str:
    """Run the real script with its stdout on a pseudo-terminal; what it showed there."""
    main, side = pty.openpty()
    process = subprocess.Popen(
        [DATATRAC_SCRIPT, *args], stdout=side, stderr=subprocess.PIPE, env=env, cwd=cwd
    )
    os.close(side)
    shown = b""
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(main, 65536)
        except OSError:  # the other side closed
            break
        if not data:
            break
        shown += data
    assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
    os.close(main)
    return shown.decode().replace("\r\n", "\n")


def test_on_a_terminal_the_listing_goes_through_the_pager(cli: CLI) -> None:
    DatasetFactory(name="paged.csv")
    env = {**cli.env, "PAGER": "sed 's/^/paged: /'"}
    shown = read_terminal(["fetch", "--all"], env, str(cli.cwd))
    assert "paged: hash" in shown and "paged: " in shown.split("paged.csv")[0]
    plain = read_terminal(["fetch", "--all", "--no-pager"], env, str(cli.cwd))
    assert "paged.csv" in plain and "paged: " not in plain
    piped = cli("fetch", "--all", env={"PAGER": "sed 's/^/paged: /'"})
    assert "paged.csv" in piped.stdout and "paged: " not in piped.stdout


def test_a_pager_that_is_not_installed_leaves_the_listing_on_the_terminal(cli: CLI) -> None:
    DatasetFactory(name="unpaged.csv")
    env = {**cli.env, "PAGER": "no-such-pager-program --quit"}
    assert "unpaged.csv" in read_terminal(["fetch", "--all"], env, str(cli.cwd))


def test_a_reader_that_stops_early_ends_the_listing_quietly(cli: CLI) -> None:
    # More than a pipe holds (64 KiB), so the writer meets the closed end.
    Dataset.objects.bulk_create(DatasetFactory.build_batch(1500))
    env = {**cli.env, "PAGER": "head -n 2"}  # a pager quitting before the end
    shown = read_terminal(["fetch", "--all", "--limit", "0"], env, str(cli.cwd))
    assert len(shown.strip().splitlines()) == 2
    piped = subprocess.run(
        f"'{DATATRAC_SCRIPT}' fetch --all --limit 0 | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        env=cli.env,
        cwd=cli.cwd,
        check=False,
    )
    assert piped.stdout.startswith("hash")
    assert piped.stderr == ""
