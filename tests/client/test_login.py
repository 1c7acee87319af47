"""login / logout / whoami / token: the stored login (0600, never in argv), and the
account commands in both modes."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from tests.client.conftest import RemoteCLI, make_token
from tests.client.test_remote_cli import one_error_line
from tests.conftest import CLI
from tests.factories import DatasetFactory, member_of
from tokens.models import AccessToken


def login_file(remote: RemoteCLI) -> Path:
    return remote.home / ".config" / "datatrac" / "login.json"


def test_login_checks_the_token_stores_it_0600_and_every_command_then_uses_it(
    remote: RemoteCLI,
) -> None:
    DatasetFactory(name="kept.csv")
    token = remote.token
    assert token is not None
    logged_in = remote(
        "login", remote.url + "/", input=token + "\n", DATATRAC_URL=None, DATATRAC_TOKEN=None
    )
    assert logged_in.returncode == 0, logged_in.stderr
    assert f"logged in to {remote.url} as carl" in logged_in.stderr
    assert token not in logged_in.stdout + logged_in.stderr
    stored = login_file(remote)
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    assert json.loads(stored.read_text()) == {"url": remote.url, "token": token}
    assert not list(stored.parent.glob(".login.*"))

    # No DATATRAC_URL, no DATATRAC_TOKEN: the stored login is the server.
    bare = {"DATATRAC_URL": None, "DATATRAC_TOKEN": None}
    assert remote("whoami", **bare).stdout.startswith(f"carl on {remote.url}")
    assert "kept.csv" in remote("fetch", "--all", **bare).stdout

    out = remote("logout", **bare)
    assert out.returncode == 0
    assert not stored.exists()
    assert "no stored login" in remote("logout", **bare).stderr


def test_login_refuses_a_bad_token_and_stores_nothing(remote: RemoteCLI) -> None:
    result = remote(
        "login",
        remote.url,
        input="dtk_1_" + "0" * 64 + "\n",
        DATATRAC_URL=None,
        DATATRAC_TOKEN=None,
    )
    assert result.returncode == 3
    one_error_line(result)
    assert not login_file(remote).exists()


def test_a_token_on_the_command_line_is_refused(remote: RemoteCLI) -> None:
    for args in (
        ["login", remote.url, "--token", "dtk_1_x"],
        ["token", "create", "x", "--token=y"],
    ):
        result = remote(*args)
        assert result.returncode == 2
        assert "visible to other users" in one_error_line(result)
    assert not login_file(remote).exists()
    assert not AccessToken.objects.filter(name="x").exists()


def test_login_reads_datatrac_token_from_the_environment(remote: RemoteCLI) -> None:
    result = remote("login", remote.url, DATATRAC_URL=None)
    assert result.returncode == 0, result.stderr
    assert login_file(remote).exists()


def test_token_create_list_and_revoke_through_the_server(remote: RemoteCLI) -> None:
    created = remote("token", "create", "nightly CI", "--scope", "read", "--expires-days", "7")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("dtk_")
    assert "shown once" in created.stderr
    token_id = int(secret.split("_")[1])
    made = AccessToken.objects.get(pk=token_id)
    assert (made.name, made.scope, made.user.username) == ("nightly CI", "read", "carl")
    # The new token works, as itself.
    assert "scope read" in remote("whoami", DATATRAC_TOKEN=secret).stdout

    listing = json.loads(remote("token", "list", "--json").stdout)
    assert {t["name"] for t in listing} == {"cli test", "nightly CI"}
    assert "secret" not in listing[0]
    assert "nightly CI" in remote("token", "list").stdout

    revoked = remote("token", "revoke", str(token_id))
    assert revoked.stdout.strip() == f"revoked token {token_id}"
    assert remote("token", "revoke", str(token_id)).stdout.strip().endswith("already revoked")
    assert remote("whoami", DATATRAC_TOKEN=secret).returncode == 3


def test_a_token_cannot_make_a_wider_or_longer_lived_token(
    remote: RemoteCLI, people: dict[str, Any]
) -> None:
    read_only = make_token(people["contributor"], "read", days=3)
    wider = remote("token", "create", "more", "--scope", "write", DATATRAC_TOKEN=read_only)
    assert wider.returncode == 3
    one_error_line(wider)
    longer = remote("token", "create", "longer", "--expires-days", "300", DATATRAC_TOKEN=read_only)
    assert longer.returncode == 0, longer.stderr
    maker = AccessToken.objects.get(pk=int(read_only.split("_")[1]))
    made = AccessToken.objects.get(name="longer")
    assert made.expires_at == maker.expires_at


def test_whoami_and_tokens_work_in_direct_mode(cli: CLI) -> None:
    member_of("contributors", "tester")
    me = cli("whoami")
    assert me.returncode == 0, me.stderr
    assert me.stdout.startswith("tester on direct (direct)")
    created = cli("token", "create", "laptop", "--scope", "write")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().startswith("dtk_")
    assert AccessToken.objects.get().user.username == "tester"
    assert "laptop" in cli("token", "list").stdout
    admin = cli("token", "create", "too much", "--scope", "admin")
    assert admin.returncode == 3
    one_error_line(admin)
