"""The `datatrac` script in remote mode against a real gunicorn, with only a URL and a
token: the same output, --json, exit codes and one-line errors as direct mode."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lineage.models import LineageEdge
from tests.client.conftest import RemoteCLI, make_token
from tests.conftest import CLI
from tests.factories import DatasetFactory, LineageEdgeFactory, member_of
from tests.fixtures.gunicorn import Gunicorn


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_whoami_names_the_token_user_and_the_server(remote: RemoteCLI) -> None:
    result = remote("whoami")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"carl on {remote.url} (token ")
    assert "scope write" in result.stdout
    data = json.loads(remote("whoami", "--json").stdout)
    assert data["username"] == "carl"
    assert data["via"] == "token"
    assert "registry.push_dataset" in data["permissions"]


def test_fetch_lists_searches_and_shows_datasets_from_the_server(remote: RemoteCLI) -> None:
    raw = DatasetFactory(name="raw.csv", source="https://example.org/raw")
    clean = DatasetFactory(name="clean.csv", source="dedup")
    LineageEdgeFactory(parent=raw, child=clean)
    listing = remote("fetch", "--all")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
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
    assert [line.split()[0] for line in lines[1:]] == [clean.short_hash, raw.short_hash]
    found = remote("fetch", "--all", "--search", "raw", "--json")
    assert [d["sha256"] for d in json.loads(found.stdout)] == [raw.sha256]
    shown = remote("fetch", clean.sha256[:8])
    assert shown.returncode == 0, shown.stderr
    assert clean.sha256 in shown.stdout
    assert f"{raw.short_hash} raw.csv" in shown.stdout
    data = json.loads(remote("fetch", clean.sha256[:8], "--json").stdout)
    assert data["name"] == "clean.csv"
    assert data["parents"] == [{"sha256": raw.sha256, "name": "raw.csv", "note": ""}]


def test_fetch_all_pages_through_the_server_and_continues_after_a_hash(remote: RemoteCLI) -> None:
    made = [DatasetFactory(name=f"d{i}.csv") for i in range(5)]
    newest_first = sorted(made, key=lambda d: (d.pushed_at, d.pk), reverse=True)
    first = remote("fetch", "--all", "--limit", "2", "--jsonl")
    assert [json.loads(line)["sha256"] for line in first.stdout.splitlines()] == [
        d.sha256 for d in newest_first[:2]
    ]
    assert f"--after {newest_first[1].short_hash}" in first.stderr
    rest = remote("fetch", "--all", "--limit", "0", "--after", newest_first[1].sha256, "--jsonl")
    assert [json.loads(line)["sha256"] for line in rest.stdout.splitlines()] == [
        d.sha256 for d in newest_first[2:]
    ]


def test_lineage_shows_links_and_unlinks_through_the_server(remote: RemoteCLI) -> None:
    raw = DatasetFactory(name="raw.csv", sha256="aa" + "0" * 62)
    clean = DatasetFactory(name="clean.csv", sha256="bb" + "0" * 62)
    report = DatasetFactory(name="report.pdf", sha256="cc" + "0" * 62)
    LineageEdgeFactory(parent=raw, child=clean)
    shown = remote("lineage", "bb0000")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        f"ancestors of {clean.short_hash} clean.csv",
        f"└── {raw.short_hash} raw.csv",
        f"descendants of {clean.short_hash} clean.csv",
        "└── (none)",
    ]
    linked = remote("lineage", "--parent", "bb0000", "--child", "cc0000", "--note", "summary")
    assert linked.stdout.strip() == f"linked {clean.short_hash} -> {report.short_hash}"
    assert LineageEdge.objects.filter(parent=clean, child=report, note="summary").exists()
    again = remote("lineage", "--parent", "bb0000", "--child", "cc0000")
    assert again.stdout.strip() == f"already linked {clean.short_hash} -> {report.short_hash}"
    graph = json.loads(remote("lineage", "bb0000", "--json").stdout)
    assert [d["sha256"] for d in graph["descendants"]] == [report.sha256]
    unlinked = remote("lineage", "--parent", "bb0000", "--child", "cc0000", "--remove")
    assert unlinked.returncode == 0, unlinked.stderr
    assert not LineageEdge.objects.filter(parent=clean, child=report).exists()
    missing = remote("lineage", "--parent", "bb0000", "--child", "cc0000", "--remove")
    assert missing.returncode == 1
    assert "is not a parent of" in one_error_line(missing)


def test_a_cycle_is_refused_in_one_line(remote: RemoteCLI) -> None:
    raw = DatasetFactory(sha256="aa" + "0" * 62)
    clean = DatasetFactory(sha256="bb" + "0" * 62)
    LineageEdgeFactory(parent=raw, child=clean)
    result = remote("lineage", "--parent", "bb0000", "--child", "aa0000")
    assert result.returncode == 1
    assert "cycle" in one_error_line(result)


def test_unknown_ambiguous_and_malformed_refs_are_one_line_each(remote: RemoteCLI) -> None:
    DatasetFactory(sha256="ab1234" + "0" * 58)
    DatasetFactory(sha256="ab1234" + "1" * 58)
    for args, fragment in [
        (("fetch", "ffffff"), "no dataset has a hash starting with ffffff"),
        (("fetch", "ab1234"), "ambiguous"),
        (("fetch", "xyz123"), "not a hash"),
        (("lineage", "ab12"), "too short"),
    ]:
        result = remote(*args)
        assert result.returncode == 1, (args, result.stderr)
        assert fragment in one_error_line(result)


def test_a_viewer_token_may_read_but_not_link(remote: RemoteCLI, people: dict[str, Any]) -> None:
    DatasetFactory(sha256="aa" + "0" * 62)
    DatasetFactory(sha256="bb" + "0" * 62)
    viewer = {"DATATRAC_TOKEN": make_token(people["viewer"], "read")}
    assert remote("fetch", "--all", **viewer).returncode == 0
    result = remote("lineage", "--parent", "aa0000", "--child", "bb0000", **viewer)
    assert result.returncode == 3
    one_error_line(result)


def test_a_refused_token_is_one_line_saying_to_log_in_exit_3(
    remote: RemoteCLI, people: dict[str, Any]
) -> None:
    wrong = remote("fetch", "--all", DATATRAC_TOKEN="dtk_1_" + "0" * 64)
    assert wrong.returncode == 3
    assert "DATATRAC_TOKEN" in one_error_line(wrong)
    malformed = remote("whoami", DATATRAC_TOKEN="not-a-token")
    assert malformed.returncode == 3
    assert "malformed token" in one_error_line(malformed)


def test_an_expired_or_revoked_token_is_refused_in_one_line(
    remote: RemoteCLI, people: dict[str, Any]
) -> None:
    from tokens.models import AccessToken

    token = make_token(people["contributor"], "write", name="short-lived")
    token_id = int(token.split("_")[1])
    AccessToken.objects.filter(pk=token_id).update(
        expires_at=AccessToken.objects.get(pk=token_id).created_at
    )
    expired = remote("fetch", "--all", DATATRAC_TOKEN=token)
    assert expired.returncode == 3
    assert "expired" in one_error_line(expired)
    revoked = remote("token", "revoke", str(int(remote.token.split("_")[1])))  # type: ignore[union-attr]
    assert revoked.returncode == 0, revoked.stderr
    after = remote("whoami")
    assert after.returncode == 3
    assert "revoked" in one_error_line(after)


def test_an_unreachable_server_is_one_line(remote: RemoteCLI, silent_listener: int) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    result = remote("fetch", "--all", DATATRAC_URL=f"http://127.0.0.1:{closed_port}")
    assert result.returncode == 1
    assert "cannot reach the server at http://127.0.0.1:" in one_error_line(result)


def test_a_tls_failure_is_one_line(remote: RemoteCLI) -> None:
    # The plain-HTTP server spoken to with TLS: the handshake fails.
    result = remote("whoami", DATATRAC_URL=remote.url.replace("http://", "https://"))
    assert result.returncode == 1
    assert "TLS failed with https://127.0.0.1:" in one_error_line(result)


def test_server_only_and_django_commands_say_to_run_them_on_the_server(remote: RemoteCLI) -> None:
    for command in ("verify", "gc", "migrate", "createsuperuser"):
        result = remote(command)
        assert result.returncode in (1, 2), result.stderr
        assert "on the server" in one_error_line(result) or "server" in result.stderr


def test_a_remote_command_never_imports_django(remote: RemoteCLI) -> None:
    DatasetFactory(sha256="aa" + "0" * 62)
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['datatrac', 'fetch', 'aa0000', '--json']\n"
        "from datatrac_site.cli import main\n"
        "code = main()\n"
        "assert not [m for m in sys.modules if m == 'django' or m.startswith('django.')], "
        "sorted(m for m in sys.modules if m.startswith('django'))\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=remote.env(),
        cwd=remote.cwd,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sha256"] == "aa" + "0" * 62


def test_direct_and_remote_mode_print_the_same(remote: RemoteCLI, cli: CLI) -> None:
    member_of("viewers", "tester")  # the direct CLI's DATATRAC_USER, a viewer like the token
    raw = DatasetFactory(name="raw.csv", sha256="aa" + "0" * 62)
    clean = DatasetFactory(name="clean\x1b[31m.csv", sha256="bb" + "0" * 62)
    LineageEdgeFactory(parent=raw, child=clean, note="dedup")
    for args in (
        ["fetch", "bb0000"],
        ["fetch", "bb0000", "--json"],
        ["fetch", "--all", "--json"],
        ["fetch", "--all", "--jsonl"],
        ["lineage", "aa0000"],
        ["lineage", "bb0000", "--json", "--depth", "2"],
        ["fetch", "cc0000"],
        ["fetch", "xyz"],
    ):
        direct, over_api = cli(*args), remote(*args)
        assert (direct.returncode, direct.stdout, direct.stderr) == (
            over_api.returncode,
            over_api.stdout,
            over_api.stderr,
        ), args


def test_a_server_error_is_one_line(
    remote: RemoteCLI, gunicorn_factory: Callable[..., Gunicorn], tmp_path: Path
) -> None:
    # A server whose database cannot be opened: every request fails on the server (5xx).
    broken = gunicorn_factory({"DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/db.sqlite3"})
    result = remote("fetch", "--all", DATATRAC_URL=broken.url)
    assert result.returncode == 1
    line = one_error_line(result)
    assert f"the server at {broken.url} failed (HTTP 5" in line


def test_a_stored_login_is_used_when_datatrac_url_names_its_server(remote: RemoteCLI) -> None:
    assert remote("login", remote.url, DATATRAC_URL=None).returncode == 0
    assert remote("whoami", DATATRAC_TOKEN=None).stdout.startswith("carl on ")
