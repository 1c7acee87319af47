"""Hostile names, sources and arguments: stored literally, shown escaped, never executed,
and never able to steer a path or a command."""

from __future__ import annotations

import io
import json
import os
import unicodedata
from pathlib import Path

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils.html import escape

from registry.actors import Actor
from registry.cli import terminal_safe
from registry.errors import BadPath, InvalidHash
from registry.models import Dataset
from registry.services import download_dataset
from registry.storage.local import LocalStorage
from tests.conftest import CLI
from tests.factories import DatasetFactory, LineageEdgeFactory, UserFactory

SCRIPT = '<script>alert(1)</script><b hx-get="/evil" hx-trigger="load" onclick="x()">x</b>'
HOSTILE: dict[str, str] = {
    "shell": "; rm -rf ~ && echo pwned",
    "substitution": "$(id) ${HOME} $((1+1))",
    "backticks": "`id` `touch pwned`",
    "leading-dash": "-rf --yes --force",
    "dot-dot": "../../../../etc/passwd",
    "absolute": "/etc/shadow",
    "newlines": "first line\nforged: line\r\nthird\u2028fourth",
    "terminal-escapes": "\x1b[2J\x1b[31mred\x1b[0m\x1b]0;owned title\x07\x9b31m",
    "binary-junk": "".join(chr(c) for c in range(1, 256)),
    "long": "é" * 5000 + "x" * 5000,  # 10 kB and more of it as UTF-8
    "nfc": unicodedata.normalize("NFC", "café Ångström"),
    "nfd": unicodedata.normalize("NFD", "café Ångström"),
    "html": SCRIPT,
    "quotes": 'it\'s "quoted" \\ back\\slash',
}
IDS = list(HOSTILE)


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- the CLI ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("key", IDS)
def test_hostile_text_is_stored_literally_and_shown_escaped(key: str, make_file) -> None:
    value = HOSTILE[key]
    path = make_file()
    # The --opt=value form: a value may start with "-", like any argv value may.
    out, _ = run(
        "push", str(path), f"--source={value}", f"--name={value}", f"--description={value}"
    )
    dataset = Dataset.objects.get(sha256=out.strip())
    assert (dataset.name, dataset.source, dataset.description) == (value, value, value)

    shown, _ = run("fetch", dataset.sha256)
    listed, _ = run("fetch", "--all")
    for text in (shown, listed):
        assert terminal_safe(value)[:50] in text
        assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text
    # A newline in a name never forges a line of its own in the listing.
    assert len(listed.strip().splitlines()) == 2
    data = json.loads(run("fetch", dataset.sha256, "--json")[0])
    assert (data["name"], data["source"], data["description"]) == (value, value, value)


def test_hostile_text_through_the_real_script_runs_nothing(
    cli: CLI, make_file, operator: Actor
) -> None:
    """argv, not a shell: nothing in a name or source is ever executed."""
    # Outside the working directory: a download there is named after the last path part.
    canary = cli.cwd.parent / "canary" / "executed"
    canary.parent.mkdir()
    every_way = (
        f"; touch {canary} && touch {canary} | touch {canary} $(touch {canary}) `touch {canary}`"
    )
    for value in (every_way, f"-- $(touch {canary})"):
        path = make_file()
        pushed = cli("push", str(path), f"--source={value}", f"--name={value}")
        assert pushed.returncode == 0, pushed.stderr
        sha256 = pushed.stdout.strip()
        assert Dataset.objects.get(sha256=sha256).name == value
        # Both names make the same safe file name: the second replaces the first.
        fetched = cli("fetch", sha256, "--download", "--force")
        assert fetched.returncode == 0, fetched.stderr
        assert cli("verify", sha256).returncode == 0
    assert not canary.exists()


def test_file_names_that_are_not_utf8_are_kept_as_visible_escapes(cli: CLI, tmp_path: Path) -> None:
    """A file name is bytes: what is not UTF-8 is stored as \\xNN, never a crash after
    the upload, never a half-registered push."""
    raw = b"caf\xe9 \xff\xfe-" + bytes(range(1, 32)) + b".csv"
    directory = tmp_path / "raw"
    directory.mkdir()
    path = os.path.join(os.fsencode(directory), raw)
    with open(path, "wb") as f:
        f.write(b"latin-1 named data")
    result = cli("push", os.fsdecode(path), "--source", os.fsdecode(b"src \xff"))
    assert result.returncode == 0, result.stderr
    dataset = Dataset.objects.get()
    assert dataset.name.startswith("caf\\xe9 \\xff\\xfe-\x01\x02")
    assert dataset.source == "src \\xff"


@pytest.mark.django_db
def test_a_file_whose_name_starts_with_a_dash_is_pushed_by_its_path(
    make_file, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_file(name="-rf --no-preserve-root")
    monkeypatch.chdir(path.parent)
    out, _ = run("push", "./-rf --no-preserve-root", "--source", "s")
    assert Dataset.objects.get(sha256=out.strip()).name == "-rf --no-preserve-root"


@pytest.mark.django_db
def test_names_that_differ_only_in_normalisation_stay_distinct(make_file) -> None:
    nfc, nfd = HOSTILE["nfc"], HOSTILE["nfd"]
    assert nfc != nfd
    run("push", str(make_file()), "--source", "s", "--name", nfc)
    run("push", str(make_file()), "--source", "s", "--name", nfd)
    assert sorted(Dataset.objects.values_list("name", flat=True)) == sorted([nfc, nfd])


# --- downloads never escape the chosen directory ----------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("key", IDS)
def test_download_by_a_hostile_name_stays_in_the_chosen_directory(
    key: str,
    make_file,
    push,
    local_store: LocalStorage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dataset = push(make_file(b"payload"), name=HOSTILE[key])
    chosen = tmp_path / "downloads"
    chosen.mkdir()
    monkeypatch.chdir(chosen)
    actor = Actor.for_cli()
    default = download_dataset(dataset=dataset, actor=actor, storage=local_store)
    into_dir = download_dataset(
        dataset=dataset, actor=actor, storage=local_store, output=chosen, force=True
    )
    for result in (default, into_dir):
        target = (chosen / result.path).resolve() if not result.path.is_absolute() else result.path
        assert target.parent == chosen.resolve()
        assert not target.name.startswith((".", "-"))
        assert target.read_bytes() == b"payload"
    assert sorted(p.name for p in chosen.iterdir()) == [default.path.name]


@pytest.mark.django_db
def test_download_refuses_symlinked_targets(make_file, push, local_store, tmp_path: Path) -> None:
    dataset = push(make_file(b"payload"), name="data.csv")
    victim = tmp_path / "victim.txt"
    victim.write_text("must stay")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    links = tmp_path / "links"
    links.mkdir()
    (links / "to-file").symlink_to(victim)
    (links / "dangling").symlink_to(tmp_path / "nowhere")
    (links / "to-dir").symlink_to(elsewhere, target_is_directory=True)
    for name in ("to-file", "dangling", "to-dir"):
        with pytest.raises(BadPath, match="symbolic link"):
            download_dataset(
                dataset=dataset, actor=Actor.for_cli(), storage=local_store, output=links / name
            )
    assert victim.read_text() == "must stay"
    assert list(elsewhere.iterdir()) == []
    assert not (tmp_path / "nowhere").exists()


# --- hash arguments are checked before any I/O ------------------------------------------

BAD_REFS = [
    "../../etc/passwd",
    "abcdef/../../x",
    "..",
    "/etc/passwd",
    "abc",
    "ghijklmn",
    "abcdef;id",
    "-abcdef",
    "a" * 65,
    "abcdef\x00",
]


@pytest.mark.django_db
@pytest.mark.parametrize("ref", BAD_REFS)
def test_bad_hash_arguments_are_rejected_before_any_query(
    ref: str, django_assert_num_queries
) -> None:
    with django_assert_num_queries(0), pytest.raises(InvalidHash):
        Dataset.objects.resolve(ref)


@pytest.mark.parametrize("ref", ["../../etc/passwd", "a" * 63 + "/", "A" * 64, "0" * 63])
def test_the_store_refuses_anything_but_a_full_hex_hash(ref: str, datatrac_dirs: Path) -> None:
    store = LocalStorage(datatrac_dirs / "store")
    source = datatrac_dirs / "source"
    source.write_bytes(b"x")
    calls = [
        lambda: store.put(ref, source),
        lambda: store.open(ref),
        lambda: store.delete(ref),
        lambda: store.exists(ref),
        lambda: store.stat(ref),
        lambda: store.verify(ref),
        lambda: store.age(ref),
        lambda: store.location(ref),
    ]
    for call in calls:
        with pytest.raises(InvalidHash):
            call()
    assert not (datatrac_dirs / "store").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["fetch", "../../etc/passwd", "--download"],
        ["fetch", "abcdef/..", "--json"],
        ["verify", "../x0000000"],
        ["delete", "/etc/passwd", "--local"],
        ["lineage", "--parent", "..", "--child", "abcdef"],
    ],
)
def test_bad_hash_arguments_fail_the_commands_with_one_line(
    cli: CLI, args: list[str], datatrac_dirs: Path
) -> None:
    result = cli(*args)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "is not a hash" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (datatrac_dirs / "store").exists()
    assert list(cli.cwd.iterdir()) == []


# --- the web pages and the admin ----------------------------------------------------------


@pytest.fixture
def admin_client(client: Client, db: None) -> Client:
    client.force_login(UserFactory(username="root-user", is_superuser=True, is_staff=True))
    return client


def assert_escaped(html: str, value: str) -> None:
    assert "<script>alert(1)" not in html
    assert 'hx-get="/evil"' not in html
    assert 'onclick="x()"' not in html
    if value == SCRIPT:
        assert escape(SCRIPT)[:40] in html or "&lt;script&gt;" in html


@pytest.mark.parametrize("key", IDS)
def test_hostile_text_is_escaped_on_the_dataset_pages(admin_client: Client, key: str) -> None:
    value = HOSTILE[key]
    dataset = DatasetFactory(name=value, source=value, description=value)
    detail = admin_client.get(reverse("registry:dataset-detail", kwargs={"ref": dataset.sha256}))
    assert detail.status_code == 200
    html = detail.content.decode()
    assert_escaped(html, value)
    if key not in ("long",):
        assert escape(value) in html  # the description is shown whole, escaped
    listing = admin_client.get(reverse("registry:dataset-list"), {"q": value[:100]})
    assert listing.status_code == 200
    assert dataset.short_hash in listing.content.decode()  # its row is there, escaped
    assert_escaped(listing.content.decode(), value)
    # The lineage explorer draws it as the centre and as another node's parent.
    child = DatasetFactory(name="child.csv")
    LineageEdgeFactory(parent=dataset, child=child)
    for center in (dataset, child):
        graph = admin_client.get(reverse("registry:dataset-lineage", args=[center.sha256]))
        assert graph.status_code == 200
        assert f'data-sha256="{dataset.sha256}"' in graph.content.decode()
        assert_escaped(graph.content.decode(), value)


@pytest.mark.parametrize("key", ["html", "newlines", "terminal-escapes", "dot-dot", "long"])
def test_hostile_text_is_escaped_in_the_admin(admin_client: Client, key: str) -> None:
    if not admin.site.is_registered(Dataset):
        pytest.skip("the Dataset admin is not registered yet")
    value = HOSTILE[key]
    dataset = DatasetFactory(name=value, source=value, description=value)
    try:
        urls = [
            reverse("admin:registry_dataset_changelist"),
            reverse("admin:registry_dataset_change", args=[dataset.pk]),
        ]
    except NoReverseMatch:
        pytest.skip("the Dataset admin has no change pages")
    for url in urls:
        response = admin_client.get(url, follow=True)
        assert response.status_code == 200, url
        assert_escaped(response.content.decode(), value)


@pytest.mark.django_db
@pytest.mark.parametrize("ref", ["..%2F..%2Fetc%2Fpasswd", "abc", "zzzzzzzz", "%00abcdef"])
def test_bad_hash_in_a_url_is_a_404(admin_client: Client, ref: str) -> None:
    response = admin_client.get(f"/datasets/{ref}/")
    assert response.status_code == 404
