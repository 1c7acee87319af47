"""The `datatrac` commands on the Client interface, without Django.

Used for every command in remote mode (a team server: nothing here imports Django, so
a command needs no database, no store credentials and no Django settings) and, in both
modes, for the account commands: login, logout, whoami, token. Arguments, output,
``--json``, exit codes and one-line errors are those of the management commands
(registry/management/commands) that serve direct mode.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, NoReturn

from datatrac import config, errors
from datatrac.client import Client, Direction
from datatrac.records import DatasetDetail, DatasetInfo, LineageInfo, TokenInfo
from registry.naming import escape_control_chars
from registry.units import human_size

#: Commands this module runs in direct mode too (they have no management command).
ACCOUNT_COMMANDS = frozenset({"login", "logout", "whoami", "token"})
#: Commands a team server runs for its administrators; not over the API.
SERVER_ONLY = {
    "verify": "re-hashing the store is done on the server: run `datatrac verify` there",
    "gc": "garbage collection is done on the server: run `datatrac gc` there",
    "up": "`datatrac up` starts an embedded registry: unset DATATRAC_URL (and "
    "`datatrac logout`) to use one",
    "migrate": "the server's database is migrated on the server",
}
DEFAULT_LIMIT = 50
TREE_ROWS = 100
REFERENCES_NAMED = 2


class Usage(errors.DataTracError):
    """Arguments that do not go together: exit 2, as argparse's own errors."""

    exit_code = 2


def safe(text: str) -> str:
    return escape_control_chars(text)


def say(line: str) -> None:
    sys.stderr.write(safe(line) + "\n")


def out(line: str) -> None:
    sys.stdout.write(line + "\n")


def print_json(data: object) -> None:
    out(json.dumps(data, indent=2, ensure_ascii=False))


@contextmanager
def progress_bar(total: int, description: str) -> Iterator[Callable[[int], None] | None]:
    """A byte progress bar on stderr when it is a terminal; otherwise nothing."""
    if not sys.stderr.isatty() or total < 1024 * 1024:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


# --- the parser --------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="datatrac")
    commands = parser.add_subparsers(dest="command", required=True)

    push = commands.add_parser("push", help="hash a file, upload it once, register it")
    push.add_argument("path", type=Path, help="the file to push")
    push.add_argument("--source", required=True, help="where the data came from")
    push.add_argument("--name", help="dataset name (default: the file's name)")
    push.add_argument("--description", default="", help="what the data is")
    push.add_argument(
        "--parent", action="append", default=[], metavar="HASH", help="made from (repeatable)"
    )
    push.add_argument("--json", action="store_true", help="print the result as JSON")

    fetch = commands.add_parser("fetch", help="list datasets, show one, or download one")
    fetch.add_argument("hash", nargs="?", help="a dataset's hash or unique prefix (>= 6)")
    fetch.add_argument("-a", "--all", action="store_true", help="list datasets, newest first")
    fetch.add_argument("--search", metavar="TEXT", help="with --all: only matching ones")
    fetch.add_argument("--deleted", action="store_true", help="with --all: tombstones too")
    fetch.add_argument("--limit", type=int, metavar="N", help="with --all: N (50); 0: all")
    fetch.add_argument("--after", metavar="HASH", help="with --all: those after this one")
    fetch.add_argument("--jsonl", action="store_true", help="with --all: a JSON object a line")
    fetch.add_argument("--no-pager", action="store_true", help="(accepted; never pages here)")
    fetch.add_argument("--download", action="store_true", help="download it, verified")
    fetch.add_argument("-o", "--output", help="with --download: file or directory (dir/)")
    fetch.add_argument("-f", "--force", action="store_true", help="overwrite without asking")
    fetch.add_argument("--json", action="store_true", help="print JSON only on stdout")

    lineage = commands.add_parser("lineage", help="ancestors/descendants, or link/unlink")
    lineage.add_argument("hash", nargs="?", help="the dataset to show (hash or prefix)")
    lineage.add_argument("--depth", type=int, default=3, help="hops to show each way (3)")
    lineage.add_argument("--parent", metavar="HASH", help="link: the dataset it was made from")
    lineage.add_argument("--child", metavar="HASH", help="link: the dataset made from it")
    lineage.add_argument("--note", default="", help="link: how the child was made")
    lineage.add_argument("--remove", action="store_true", help="unlink --parent from --child")
    lineage.add_argument("--json", action="store_true", help="print JSON only on stdout")

    delete = commands.add_parser("delete", help="remove the local or (admins) central copy")
    delete.add_argument("hash", help="the dataset's hash or unique prefix")
    delete.add_argument("--local", action="store_true", help="remove only the cached copy")
    delete.add_argument("--purge", action="store_true", help="a tombstone's record, for good")
    delete.add_argument("--user", help="direct mode only: the token says who you are")
    delete.add_argument("-y", "--yes", action="store_true", help="do not ask to confirm")
    delete.add_argument("--force", action="store_true", help="even with living children")

    restore = commands.add_parser("restore", help="(admins) make a deleted dataset available")
    restore.add_argument("hash")
    restore.add_argument("--user", help="direct mode only: the token says who you are")

    login = commands.add_parser("login", help="store a token for a team server")
    login.add_argument("url", help="the server, e.g. https://datatrac.example.org")
    commands.add_parser("logout", help="forget the stored login")
    whoami = commands.add_parser("whoami", help="who the registry takes you for")
    whoami.add_argument("--json", action="store_true")

    token = commands.add_parser("token", help="your personal access tokens")
    actions = token.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make a token (shown once)")
    create.add_argument("name")
    create.add_argument("--scope", choices=("read", "write", "admin"), default="read")
    create.add_argument("--expires-days", type=int, default=90, metavar="N")
    create.add_argument("--json", action="store_true")
    listing = actions.add_parser("list", help="your tokens")
    listing.add_argument("--json", action="store_true")
    revoke = actions.add_parser("revoke", help="revoke one of your tokens")
    revoke.add_argument("id", type=int)
    for option in ("--token", "--password"):
        for sub in (login, create, push, delete, restore):
            sub.add_argument(option, dest="refused_" + option[2:], help=argparse.SUPPRESS)
    return parser


# --- running ----------------------------------------------------------------------


def main(argv: Sequence[str], *, client: Client | None = None) -> int:
    """Run one command; the exit code. ``client`` defaults to config.connect()'s."""
    if argv and argv[0] in SERVER_ONLY:
        return _fail(errors.DataTracError(SERVER_ONLY[argv[0]]))
    if argv and not argv[0].startswith("-") and argv[0] not in {*COMMANDS, "login", "logout"}:
        # A Django management command (createsuperuser, shell, ...): the server's.
        return _fail(
            Usage(
                f"`datatrac {argv[0]}` runs where the registry is, not against a team server: "
                "run it on the server (or unset DATATRAC_URL and `datatrac logout` for the "
                "local registry)"
            )
        )
    args = build_parser().parse_args(list(argv))
    for option in ("token", "password"):
        if getattr(args, "refused_" + option, None) is not None:
            return _fail(
                Usage(
                    f"--{option} is not accepted: a secret on the command line is visible to "
                    "other users and kept in shell history"
                )
            )
    try:
        if args.command == "login":
            return login(args)
        if args.command == "logout":
            return logout()
        with client or config.connect() as connected:
            COMMANDS[args.command](connected, args)
    except errors.DataTracError as exc:
        return _fail(exc)
    except KeyboardInterrupt:
        return _fail(errors.DataTracError("interrupted; nothing was left half-done"), 130)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _fail(exc: errors.DataTracError, code: int | None = None) -> int:
    sys.stderr.write(f"error: {safe(str(exc))}\n")
    return exc.exit_code if code is None else code


# --- account ------------------------------------------------------------------------


def login(args: argparse.Namespace) -> int:
    from datatrac.remote import RemoteClient

    url = config.normalize_url(args.url)
    token = os.environ.get("DATATRAC_TOKEN", "").strip()
    if not token:
        if sys.stdin.isatty():
            token = getpass.getpass(f"Token for {url} (make one on {url}/tokens/): ").strip()
        else:
            token = sys.stdin.readline().strip()
    if not token:
        raise errors.AuthenticationFailed("no token given: nothing stored")
    with RemoteClient(url, token=token, cache=config.cache_dir()) as client:
        me = client.whoami()
    path = config.write_login(url, token)
    say(f"logged in to {url} as {me.username} (token {me.token_id}, scope {me.scope})")
    say(f"the token is stored in {path} (readable by you only)")
    return 0


def logout() -> int:
    path = config.remove_login()
    say(f"removed the stored login {path}" if path else "no stored login to remove")
    return 0


def whoami(client: Client, args: argparse.Namespace) -> None:
    me = client.whoami()
    if args.json:
        print_json(
            {
                "server": me.server,
                "username": me.username,
                "authenticated": me.authenticated,
                "via": me.via,
                "token_id": me.token_id,
                "scope": me.scope,
                "permissions": list(me.permissions),
            }
        )
        return
    how = f"token {me.token_id}, scope {me.scope}" if me.token_id else me.via
    out(f"{safe(me.username)} on {me.server} ({how})")
    out("may: " + (", ".join(p.split(".", 1)[1] for p in me.permissions) or "nothing"))


def token(client: Client, args: argparse.Namespace) -> None:
    if args.action == "create":
        new = client.create_token(args.name, scope=args.scope, days=args.expires_days)
        if args.json:
            print_json({**_token_dict(new), "secret": new.secret})
            return
        say(
            f"token {new.id} {new.name!r} (scope {new.scope}, expires {new.expires_at[:10]}); "
            "shown once, store it now:"
        )
        out(new.secret or "")
    elif args.action == "list":
        tokens = client.list_tokens()
        if args.json:
            print_json([_token_dict(t) for t in tokens])
            return
        if not tokens:
            say("no tokens yet: `datatrac token create NAME`")
            return
        rows = [["id", "name", "scope", "created", "expires", "last used", "status"]]
        for t in tokens:
            rows.append(
                [
                    str(t.id),
                    safe(t.name),
                    t.scope,
                    t.created_at[:10],
                    t.expires_at[:10],
                    (t.last_used_at or "-")[:16].replace("T", " "),
                    "revoked" if t.revoked_at else "active",
                ]
            )
        _write_rows(rows, right=(True, False, False, False, False, False, False))
    else:
        if client.revoke_token(args.id):
            out(f"revoked token {args.id}")
        else:
            out(f"token {args.id} was already revoked")


def _token_dict(t: TokenInfo) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "scope": t.scope,
        "created_at": t.created_at,
        "expires_at": t.expires_at,
        "last_used_at": t.last_used_at,
        "revoked_at": t.revoked_at,
    }


# --- push ---------------------------------------------------------------------------


def push(client: Client, args: argparse.Namespace) -> None:
    path: Path = args.path
    try:
        size = path.stat().st_size
    except OSError:
        size = 0  # the client says what is wrong with the path
    with progress_bar(2 * size, "hashing + uploading") as bar:
        result = client.push(
            path,
            source=args.source,
            name=args.name,
            description=args.description,
            parents=args.parent,
            progress=bar,
        )
    dataset = result.dataset
    if args.json:
        print_json({**dataset.as_dict(), "outcome": result.outcome, "uploaded": result.uploaded})
        return
    name = safe(dataset.name)
    if result.outcome == "existing" and result.uploaded:
        say(f"already registered as {name!r} ({dataset.short_hash}) by a push that finished first")
    elif result.outcome == "existing":
        say(f"already registered as {name!r} ({dataset.short_hash}); nothing uploaded")
    elif result.outcome == "repaired":
        say(
            f"already registered as {name!r} ({dataset.short_hash}); its stored bytes were "
            "missing or corrupt and have been uploaded again"
        )
    elif result.outcome == "restored":
        say(f"restored deleted dataset {name!r} ({human_size(dataset.size)})")
    else:
        say(f"pushed {name!r} ({human_size(dataset.size)})")
    out(dataset.sha256)


# --- fetch --------------------------------------------------------------------------


def fetch(client: Client, args: argparse.Namespace) -> None:
    listing = any(getattr(args, o) is not None for o in ("search", "limit", "after"))
    if args.all or (not args.hash and listing):
        if args.hash or args.download:
            raise Usage("--all lists datasets; give either --all or a HASH")
        list_datasets(client, args)
        return
    if not args.hash:
        raise Usage("give a dataset HASH, or --all to list datasets (see --help)")
    if args.limit is not None or args.after or args.jsonl:
        raise Usage("--limit, --after and --jsonl go with --all (a listing)")
    if args.download:
        download(client, args)
        return
    if args.output or args.force:
        raise Usage("--output and --force go with --download")
    show(client, args.hash, as_json=args.json)


def list_datasets(client: Client, args: argparse.Namespace) -> None:
    limit = DEFAULT_LIMIT if args.limit is None else args.limit
    if limit < 0:
        raise Usage("--limit must be 0 (every dataset) or more")
    if args.json and args.jsonl:
        raise Usage("give --json or --jsonl, not both")
    query = args.search or ""
    rows = client.list_datasets(
        query=query, deleted=args.deleted, limit=limit or None, after=args.after
    )
    last: DatasetInfo | None = None
    count = 0
    if args.json or args.jsonl:
        for dataset in rows:
            line = json.dumps(dataset.as_dict(), ensure_ascii=False)
            if args.json:
                sys.stdout.write(("[\n" if not count else ",\n") + line)
            else:
                sys.stdout.write(line + "\n")
            count += 1
            last = dataset
        if args.json:
            sys.stdout.write("\n]\n" if count else "[]\n")
    else:
        table = [["hash", "name", "size", "source", "pushed by", "pushed at", "downloads"]]
        for dataset in rows:
            table.append(_table_row(dataset))
            count += 1
            last = dataset
        if count:
            _write_rows(table, right=(False, False, True, False, False, False, True))
    sys.stdout.flush()
    if not count:
        if args.json:
            return
        say(
            f"no datasets after {args.after}"
            if args.after
            else "no datasets match"
            if args.search
            else "no datasets yet: push one with `datatrac push FILE --source URL`"
        )
        return
    if last is None or count != limit:
        return
    if client.more_after(last=last, query=query, deleted=args.deleted, cap=10_000):
        say(
            f"{count:,} listed, more: add `--after {last.short_hash}` for the next "
            f"{limit:,}, `--limit N` to list N, `--limit 0` for every one"
        )


def _table_row(d: DatasetInfo) -> list[str]:
    pushed = datetime.fromisoformat(d.pushed_at).astimezone().strftime("%Y-%m-%d %H:%M")
    return [
        d.short_hash,
        safe(d.name) + ("" if d.is_available else " (deleted)"),
        human_size(d.size),
        safe(d.source),
        safe(d.pushed_by),
        pushed,
        str(d.downloads),
    ]


def _write_rows(rows: list[list[str]], *, right: Sequence[bool]) -> None:
    from rich.cells import cell_len

    widths = [max(cell_len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [
            " " * (w - cell_len(c)) + c if r else c + " " * (w - cell_len(c))
            for r, w, c in zip(right, widths, row, strict=True)
        ]
        sys.stdout.write("  ".join(cells).rstrip() + "\n")


def show(client: Client, ref: str, *, as_json: bool) -> None:
    detail = client.get(ref)
    dataset = detail.dataset

    def edge(e: Any) -> dict[str, Any]:
        return {"sha256": e.sha256, "name": e.name, "note": e.note}

    if as_json:
        print_json(
            {
                **dataset.as_dict(),
                "parents": [edge(e) for e in detail.parents],
                "children": [edge(e) for e in detail.children],
            }
        )
        return
    from rich.console import Console

    stream = sys.stdout
    print_detail(
        detail, Console(file=stream, highlight=False, width=None if stream.isatty() else 100_000)
    )


def print_detail(detail: DatasetDetail, console: Any, zone: tzinfo | None = None) -> None:
    """`fetch HASH`'s table, in both modes (the management command passes its console
    and Django's current time zone; remote mode the local one)."""
    from rich.table import Table
    from rich.text import Text

    dataset = detail.dataset
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    pushed_at = datetime.fromisoformat(dataset.pushed_at).astimezone(zone)
    rows = [
        ("sha256", dataset.sha256),
        ("name", dataset.name),
        ("size", f"{dataset.size} bytes ({human_size(dataset.size)})"),
        ("source", dataset.source),
        ("description", dataset.description),
        ("registry path", dataset.registry_path),
        ("pushed by", dataset.pushed_by),
        ("pushed at", pushed_at.isoformat(timespec="seconds")),
        ("downloads", str(dataset.downloads)),
        ("state", dataset.state),
    ]
    if dataset.last_verified_at:
        verified = datetime.fromisoformat(dataset.last_verified_at)
        rows.append(("last verified", verified.isoformat(timespec="seconds")))
    for label, edges in (("parents", detail.parents), ("children", detail.children)):
        shown = [f"{e.sha256[:12]} {e.name}" for e in edges]
        rows.append((label, ", ".join(shown) if shown else "-"))
    for label, value in rows:
        table.add_row(label, Text(safe(value)))
    console.print(table)


def download(client: Client, args: argparse.Namespace) -> None:
    force = args.force or _overwrite_agreed(client, args.hash, args.output)
    # The size only matters for a bar (a terminal): elsewhere no request is spent on it.
    total = client.get(args.hash).dataset.size if sys.stderr.isatty() else 0
    with progress_bar(total, "downloading") as bar:
        result = client.download(args.hash, output=args.output, force=force, progress=bar)
    size = result.dataset.size
    if args.json:
        print_json(
            {
                "sha256": result.dataset.sha256,
                "path": str(result.path.resolve()),
                "size": size,
                "from_cache": result.from_cache,
                "replaced": result.replaced,
            }
        )
        return
    say(
        f"verified {human_size(size)}"
        + (" (from the local cache)" if result.from_cache else "")
        + (f"; overwrote the existing {result.path}" if result.replaced else "")
    )
    out(safe(str(result.path)))


def _overwrite_agreed(client: Client, ref: str, output: str | None) -> bool:
    if not sys.stdin.isatty():
        return False
    target, exists = client.output_path(ref, output)
    if not exists:
        return False
    sys.stderr.write(f"{safe(str(target))} already exists; overwrite it? [y/N] ")
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise errors.DataTracError(f"not overwritten: {target} already exists")
    return True


# --- lineage ------------------------------------------------------------------------


def lineage(client: Client, args: argparse.Namespace) -> None:
    if args.parent is not None or args.child is not None:
        if args.hash:
            raise Usage("give either HASH to show, or --parent and --child to link")
        if not (args.parent and args.child):
            raise Usage("linking needs both --parent and --child")
        if args.remove:
            client.unlink(args.parent, args.child)
            out(f"unlinked {_short(args.parent)} -> {_short(args.child)}")
            return
        link = client.link(args.parent, args.child, note=args.note)
        verb = "linked" if link.created else "already linked"
        out(f"{verb} {link.parent[:12]} -> {link.child[:12]}")
        return
    if not args.hash:
        raise Usage("give a dataset HASH, or --parent and --child (see --help)")
    if args.depth < 1:
        raise Usage("--depth must be at least 1")
    graph = client.lineage(args.hash, depth=args.depth)
    if args.json:
        print_json(graph.raw)
    else:
        out("\n".join(tree_lines(graph)))


def _short(ref: str) -> str:
    return ref.strip().lower()[:12]


def tree_lines(graph: LineageInfo) -> list[str]:
    """The ancestors and descendants as trees, each dataset once (a dataset met again is
    a "(see above)" row), as lineage.services.LineageGraph.tree draws them."""
    nodes = {graph.dataset.sha256: graph.dataset}
    nodes.update({d.sha256: d for d, _ in (*graph.ancestors, *graph.descendants)})

    def label(sha: str) -> str:
        d = nodes[sha]
        return safe(str(d)) + ("" if d.is_available else " (deleted)")

    lines: list[str] = []
    sides: tuple[tuple[str, Direction], ...] = (("ancestors", "up"), ("descendants", "down"))
    for title, direction in sides:
        rows, printed = _tree_rows(graph, direction)
        lines.append(f"{title} of {label(graph.dataset.sha256)}")
        if not rows:
            lines.append("└── (none)")
        for ids, lasts, repeat in rows:
            guides = "".join("    " if last else "│   " for last in lasts[:-1])
            branch = "└── " if lasts[-1] else "├── "
            if repeat:
                named = ", ".join(label(i) for i in ids[:REFERENCES_NAMED])
                rest = len(ids) - REFERENCES_NAMED
                text = f"{named}{f' and {rest} more' if rest > 0 else ''} (see above)"
            else:
                text = label(ids[0])
            lines.append(f"{guides}{branch}{text}")
        total = graph.raw.get("ancestors_total" if direction == "up" else "descendants_total")
        more = (total or 0) - printed
        if more > 0:
            lines.append(
                f"  ... {more} more not shown: `--depth N` or `--json` for more, or show one "
                "of them by its hash"
            )
    return lines


type Lasts = tuple[bool, ...]
type Row = tuple[tuple[str, ...], Lasts, bool]


def _tree_rows(graph: LineageInfo, direction: Direction) -> tuple[list[Row], int]:
    """The rows of one side's tree (ids, last-child flags, is a reference) and how many
    datasets they print."""
    step: dict[str, list[str]] = {}
    for parent, child in graph.edges:
        near, far = (child, parent) if direction == "up" else (parent, child)
        step.setdefault(near, []).append(far)
    seen = {graph.dataset.sha256}
    rows: list[Row] = []

    def branches(
        sha: str, lasts: tuple[bool, ...]
    ) -> list[tuple[tuple[str, ...], tuple[bool, ...]]]:
        fresh = tuple(n for n in step.get(sha, []) if n not in seen)
        again = tuple(n for n in step.get(sha, []) if n in seen)
        groups = [(n,) for n in fresh] + ([again] if again else [])
        # Reversed onto the stack, so they come off in order.
        return [(g, (*lasts, i == len(groups) - 1)) for i, g in enumerate(groups)][::-1]

    stack = branches(graph.dataset.sha256, ())
    while stack and len(rows) < TREE_ROWS:
        ids, lasts = stack.pop()
        if len(ids) > 1 or ids[0] in seen:
            rows.append((ids, lasts, True))
            continue
        seen.add(ids[0])
        rows.append((ids, lasts, False))
        stack += branches(ids[0], lasts)
    return rows, len(seen) - 1


# --- delete / restore ---------------------------------------------------------------


def delete(client: Client, args: argparse.Namespace) -> None:
    if args.local and args.purge:
        raise Usage("--local and --purge do not go together")
    if args.local:
        dataset, removed = client.delete_local(args.hash)
        out(
            f"removed the local copy of {dataset.short_hash}"
            if removed
            else f"no local copy of {dataset.short_hash} to remove"
        )
        return
    _no_user(args)
    if args.purge:
        if not args.yes:
            _confirm(f"Purge the record of {_short(args.hash)} for good?", verb="purge")
        purged = client.purge(args.hash)
        out(
            f"purged {purged.sha256[:12]} ({safe(purged.name)!r}) with "
            f"{purged.edges_removed} lineage link(s) and {purged.downloads_removed} download "
            "record(s); the audit trail keeps its history"
        )
        return
    if not args.yes:
        _confirm(f"Delete the central copy of {_short(args.hash)}?", verb="delete")
    result = client.delete(args.hash, force=args.force)
    dataset = result.dataset
    if result.object_was_missing:
        say(f"warning: the stored object of {dataset.short_hash} was already missing")
    out(f"deleted {dataset.short_hash} ({safe(dataset.name)!r}); its record is kept as a tombstone")


def restore(client: Client, args: argparse.Namespace) -> None:
    _no_user(args)
    dataset = client.restore(args.hash)
    out(f"restored {dataset.short_hash} ({safe(dataset.name)!r})")


def _no_user(args: argparse.Namespace) -> None:
    if args.user:
        raise Usage("--user is for direct mode: on a team server the token says who you are")


def _confirm(question: str, *, verb: str) -> None:
    if not sys.stdin.isatty():
        raise errors.DataTracError(f"refusing to {verb} without confirmation: pass --yes")
    if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise errors.DataTracError(f"not {verb}d")


COMMANDS: dict[str, Callable[[Client, argparse.Namespace], None]] = {
    "push": push,
    "fetch": fetch,
    "lineage": lineage,
    "delete": delete,
    "restore": restore,
    "whoami": whoami,
    "token": token,
}


def run() -> NoReturn:
    sys.exit(main(sys.argv[1:]))
