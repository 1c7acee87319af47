from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from registry.cli import DataTracCommand
from registry.server import DEFAULT_THREADS, DEFAULT_TIMEOUT, ServerOptions, exec_server


class Command(DataTracCommand):
    help = (
        "Run the team server: the web app and the API under gunicorn. Refuses to start on a "
        "database that is not migrated."
    )
    epilog = f"""examples:
  datatrac serve                             # http://127.0.0.1:8000
  datatrac serve --bind 0.0.0.0:8000         # every interface (set ALLOWED_HOSTS too)
  datatrac serve --bind unix:/run/datatrac.sock --workers 4

Workers default to 2 x CPU cores + 1 (at most 8), each with {DEFAULT_THREADS} threads;
the access log (stdout) never records query strings or Authorization headers.
Ctrl-C stops it at once; SIGTERM gives requests in flight 30 s to finish first.
"""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--bind",
            action="append",
            metavar="ADDRESS",
            help="HOST:PORT or unix:PATH to listen on (127.0.0.1:8000); repeat for several",
        )
        parser.add_argument("--workers", type=int, metavar="N", help="worker processes")
        parser.add_argument(
            "--threads",
            type=int,
            default=DEFAULT_THREADS,
            metavar="N",
            help=f"threads per worker ({DEFAULT_THREADS})",
        )
        parser.add_argument(
            "--timeout",
            type=int,
            default=DEFAULT_TIMEOUT,
            metavar="SECONDS",
            help=f"restart a worker silent this long ({DEFAULT_TIMEOUT}); "
            "a long transfer keeps it alive",
        )
        parser.add_argument(
            "--access-log",
            default="-",
            metavar="FILE",
            help="where the access log goes (-: stdout; '' for none)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("workers", "threads", "timeout"):
            if options[name] is not None and options[name] < 1:
                raise CommandError(f"--{name} must be 1 or more")
        exec_server(
            ServerOptions(
                binds=tuple(options["bind"] or ("127.0.0.1:8000",)),
                workers=options["workers"],
                threads=options["threads"],
                timeout=options["timeout"],
                access_log=options["access_log"],
            )
        )
