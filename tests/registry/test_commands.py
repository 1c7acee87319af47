"""The push, fetch and delete commands through call_command."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from registry.models import AuditEvent, Dataset
from tests.factories import DatasetFactory, UserFactory, member_of

pytestmark = pytest.mark.django_db


def run(*args: str, **options: object) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_push_prints_the_hash_and_reports_known_content(make_file) -> None:
    path = make_file(b"hello", name="hello.txt")
    out, err = run("push", str(path), "--source", "https://example.org/hello")
    sha = Dataset.objects.get().sha256
    assert out.strip() == sha
    assert "pushed 'hello.txt'" in err
    out, err = run("push", str(path), "--source", "elsewhere")
    assert out.strip() == sha
    assert f"already registered as 'hello.txt' ({sha[:12]}); nothing uploaded" in err


def test_push_takes_name_description_and_parents(make_file) -> None:
    parent_out, _ = run("push", str(make_file(b"raw")), "--source", "s")
    out, _ = run(
        "push",
        str(make_file(b"clean")),
        "--source",
        "derived",
        "--name",
        "clean data",
        "--description",
        "no duplicates",
        "--parent",
        parent_out.strip()[:7],
        "--json",
    )
    data = json.loads(out)
    assert (data["name"], data["description"], data["outcome"]) == (
        "clean data",
        "no duplicates",
        "created",
    )
    child = Dataset.objects.get(sha256=data["sha256"])
    assert [e.parent.sha256 for e in child.parent_edges.all()] == [parent_out.strip()]


def test_push_requires_a_source(make_file) -> None:
    with pytest.raises(CommandError, match="--source"):
        run("push", str(make_file(b"x")))


def test_push_of_a_missing_file_fails_with_one_line(tmp_path) -> None:
    with pytest.raises(CommandError, match="no such file") as info:
        run("push", str(tmp_path / "nope.csv"), "--source", "s")
    assert "\n" not in str(info.value)
    assert Dataset.objects.count() == 0


def test_fetch_all_lists_available_datasets_and_hides_tombstones() -> None:
    shown = DatasetFactory(name="visible.csv", size=1536)
    DatasetFactory(name="gone.csv", state=Dataset.State.DELETED)
    out, _ = run("fetch", "--all")
    assert shown.short_hash in out
    assert "visible.csv" in out and "1.5 KiB" in out
    assert "gone.csv" not in out
    out, _ = run("fetch", "--all", "--deleted")
    assert "gone.csv" in out and "(deleted)" in out


def test_fetch_all_search_matches_name_source_description_and_hash() -> None:
    a = DatasetFactory(name="sales-2024.csv", source="s3://b/x", description="")
    b = DatasetFactory(name="x", source="https://weather.example/", description="")
    c = DatasetFactory(name="y", source="z", description="quarterly churn")
    for text, expected in [("SALES", a), ("weather", b), ("churn", c), (c.sha256[:8], c)]:
        data = json.loads(run("fetch", "--all", "--search", text, "--json")[0])
        assert [d["sha256"] for d in data] == [expected.sha256], text


def test_fetch_search_for_a_pasted_hash_prefix_finds_that_dataset_alone() -> None:
    target = DatasetFactory(name="target.bin")
    DatasetFactory(name=f"log-{target.sha256[:10]}.txt")  # the same hex, in a name
    data = json.loads(run("fetch", "--all", "--search", target.sha256[:10], "--json")[0])
    assert [d["sha256"] for d in data] == [target.sha256]


def test_fetch_all_json_is_only_json_with_named_fields() -> None:
    DatasetFactory.create_batch(3)
    out, _ = run("fetch", "-a", "--json")
    data = json.loads(out)
    assert len(data) == 3
    assert {"sha256", "name", "size", "source", "pushed_by", "pushed_at", "downloads"} <= set(
        data[0]
    )


def test_fetch_all_on_an_empty_registry_says_how_to_push() -> None:
    out, err = run("fetch", "--all")
    assert out == ""
    assert "datatrac push" in err


def test_fetch_one_shows_every_field_with_parents_and_children(make_file) -> None:
    from lineage.models import LineageEdge

    parent, dataset, child = DatasetFactory.create_batch(3)
    LineageEdge.objects.create(parent=parent, child=dataset, note="n1", created_by="t")
    LineageEdge.objects.create(parent=dataset, child=child, created_by="t")
    out, _ = run("fetch", dataset.sha256[:10])
    for value in (dataset.sha256, dataset.name, dataset.source, parent.short_hash, child.name):
        assert value in out
    data = json.loads(run("fetch", dataset.sha256, "--json")[0])
    assert data["registry_path"] == dataset.storage_location
    assert data["parents"] == [{"sha256": parent.sha256, "name": parent.name, "note": "n1"}]
    assert [c["sha256"] for c in data["children"]] == [child.sha256]


def test_fetch_shows_hostile_names_literally_but_escaped(make_file) -> None:
    dataset = DatasetFactory(name="evil\x1b[31mred\nnext [bold]x[/bold]")
    out, _ = run("fetch", dataset.sha256)
    assert "\x1b" not in out
    assert "evil\\x1b[31mred\\x0anext [bold]x[/bold]" in out


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("xyz123", "not a hash"),
        ("../etc", "not a hash"),
        ("ab/cdef", "not a hash"),
        ("abc", "too short"),
        ("abcdef0123", "no dataset"),
    ],
)
def test_fetch_rejects_bad_hashes_with_one_line(ref: str, message: str) -> None:
    with pytest.raises(CommandError, match=message) as info:
        run("fetch", ref)
    assert "\n" not in str(info.value)


def test_an_ambiguous_prefix_lists_the_candidates() -> None:
    a = DatasetFactory(sha256="abcdef" + "0" * 58)
    b = DatasetFactory(sha256="abcdef" + "1" * 58)
    with pytest.raises(CommandError, match="ambiguous") as info:
        run("fetch", "abcdef")
    assert a.short_hash in str(info.value) and b.short_hash in str(info.value)
    assert json.loads(run("fetch", "abcdef1", "--json")[0])["sha256"] == b.sha256


def test_fetch_download_writes_the_file_and_prints_its_path(make_file, tmp_path) -> None:
    data = b"col\n" + b"1\n" * 5000
    sha = run("push", str(make_file(data, name="n.csv")), "--source", "s")[0].strip()
    target = tmp_path / "back.csv"
    out, err = run("fetch", sha[:8], "--download", "--output", str(target))
    assert out.strip() == str(target)
    assert "verified" in err
    assert target.read_bytes() == data
    assert Dataset.objects.get(sha256=sha).download_count == 1


def test_fetch_download_into_a_missing_directory_fails(make_file, tmp_path) -> None:
    sha = run("push", str(make_file(b"z")), "--source", "s")[0].strip()
    with pytest.raises(CommandError, match="does not exist"):
        run("fetch", sha, "--download", "--output", str(tmp_path / "no" / "f"))


def test_delete_local_removes_the_cached_copy(make_file, tmp_path) -> None:
    sha = run("push", str(make_file(b"q")), "--source", "s")[0].strip()
    run("fetch", sha, "--download", "--output", str(tmp_path / "q"))
    assert "removed the local copy" in run("delete", sha, "--local")[0]
    assert "no local copy" in run("delete", sha, "--local")[0]
    assert Dataset.objects.get(sha256=sha).is_available


def test_remote_delete_authenticates_with_the_environment_password(make_file, monkeypatch):
    UserFactory(username="root-admin", is_superuser=True)
    member_of("contributors", "tester")  # DATATRAC_USER needs an account once any exists
    sha = run("push", str(make_file(b"r")), "--source", "s")[0].strip()
    monkeypatch.setenv("DATATRAC_PASSWORD", "correct horse battery")
    out, _ = run("delete", sha, "--user", "root-admin", "--yes")
    assert "tombstone" in out
    assert Dataset.objects.get(sha256=sha).state == Dataset.State.DELETED


def test_remote_delete_with_a_wrong_password_changes_nothing(make_file, monkeypatch) -> None:
    UserFactory(username="root-admin", is_superuser=True)
    member_of("contributors", "tester")  # DATATRAC_USER needs an account once any exists
    sha = run("push", str(make_file(b"r")), "--source", "s")[0].strip()
    monkeypatch.setenv("DATATRAC_PASSWORD", "guess")
    with pytest.raises(CommandError, match="authentication failed"):
        run("delete", sha, "--user", "root-admin", "--yes")
    assert Dataset.objects.get(sha256=sha).is_available


def test_remote_delete_by_a_non_administrator_is_refused_and_audited(make_file, monkeypatch):
    UserFactory(username="bob")
    member_of("contributors", "tester")  # DATATRAC_USER needs an account once any exists
    sha = run("push", str(make_file(b"r")), "--source", "s")[0].strip()
    monkeypatch.setenv("DATATRAC_PASSWORD", "correct horse battery")
    with pytest.raises(CommandError, match="may not delete"):
        run("delete", sha, "--user", "bob", "--yes")
    assert Dataset.objects.get(sha256=sha).is_available
    assert AuditEvent.objects.filter(action="permission_denied", actor="bob").exists()


def test_remote_delete_without_a_terminal_needs_yes(make_file, monkeypatch) -> None:
    UserFactory(username="root-admin", is_superuser=True)
    member_of("contributors", "tester")  # DATATRAC_USER needs an account once any exists
    sha = run("push", str(make_file(b"r")), "--source", "s")[0].strip()
    monkeypatch.setenv("DATATRAC_PASSWORD", "correct horse battery")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(CommandError, match="--yes"):
        run("delete", sha, "--user", "root-admin")
    assert Dataset.objects.get(sha256=sha).is_available


def test_remote_delete_refuses_a_parent_of_living_children_unless_forced(make_file, monkeypatch):
    UserFactory(username="root-admin", is_superuser=True)
    member_of("contributors", "tester")  # DATATRAC_USER needs an account once any exists
    parent = run("push", str(make_file(b"p")), "--source", "s")[0].strip()
    run("push", str(make_file(b"c")), "--source", "s", "--parent", parent)
    monkeypatch.setenv("DATATRAC_PASSWORD", "correct horse battery")
    with pytest.raises(CommandError, match="--force"):
        run("delete", parent, "--user", "root-admin", "--yes")
    run("delete", parent, "--user", "root-admin", "--yes", "--force")
    assert Dataset.objects.get(sha256=parent).state == Dataset.State.DELETED


def test_push_after_a_remote_delete_restores_the_dataset(make_file, monkeypatch) -> None:
    UserFactory(username="root-admin", is_superuser=True)
    member_of("contributors", "tester")  # DATATRAC_USER needs an account once any exists
    path = make_file(b"phoenix")
    sha = run("push", str(path), "--source", "s")[0].strip()
    monkeypatch.setenv("DATATRAC_PASSWORD", "correct horse battery")
    run("delete", sha, "--user", "root-admin", "--yes")
    _, err = run("push", str(path), "--source", "s")
    assert "restored" in err
    assert Dataset.objects.get(sha256=sha).is_available


def test_commands_have_help_with_examples(capsys) -> None:
    from django.core.management import load_command_class

    for app, name in [
        ("registry", "push"),
        ("registry", "fetch"),
        ("registry", "delete"),
        ("lineage", "lineage"),
        ("registry", "up"),
    ]:
        parser = load_command_class(app, name).create_parser("datatrac", name)
        text = parser.format_help()
        assert "examples:" in text, name


DJANGO_BASE_OPTIONS = (
    "--version",
    "--verbosity",
    "-v ",
    "--settings",
    "--pythonpath",
    "--traceback",
    "--no-color",
    "--force-color",
    "--skip-checks",
)


def _datatrac_commands() -> list[tuple[str, str]]:
    from django.core.management import get_commands, load_command_class

    from registry.cli import DataTracCommand

    return sorted(
        (app, name)
        for name, app in get_commands().items()
        if isinstance(app, str) and isinstance(load_command_class(app, name), DataTracCommand)
    )


def test_every_datatrac_command_is_found() -> None:
    names = {name for _, name in _datatrac_commands()}
    assert {"push", "fetch", "lineage", "delete", "restore", "verify", "gc", "up"} <= names


@pytest.mark.parametrize(("app", "name"), _datatrac_commands())
def test_help_shows_no_django_management_options(app: str, name: str) -> None:
    from django.core.management import load_command_class

    text = load_command_class(app, name).create_parser("datatrac", name).format_help()
    for option in DJANGO_BASE_OPTIONS:
        assert option not in text, f"{name} --help shows {option.strip()}"


def test_django_options_stay_accepted_though_hidden() -> None:
    # Scripts written against Django's manage.py keep working.
    DatasetFactory(name="kept.csv")
    out, _ = run("fetch", "--all", "--traceback", "--no-color", verbosity=0)
    assert "kept.csv" in out


def test_download_path_is_resolved_relative_to_the_cwd(make_file, tmp_path, monkeypatch):
    sha = run("push", str(make_file(b"cwd", name="cwd.csv")), "--source", "s")[0].strip()
    monkeypatch.chdir(tmp_path)
    out, _ = run("fetch", sha, "--download")
    assert Path(out.strip()) == Path("cwd.csv")
    assert (tmp_path / "cwd.csv").read_bytes() == b"cwd"
