"""The team server: gunicorn serving datatrac_site.wsgi, as `datatrac serve` and `up` run it.

The command's process becomes gunicorn (exec), so gunicorn's own master handles Ctrl-C
and SIGTERM (stop accepting, give requests in flight 30 s, stop the workers, exit 0)
and nothing of the command's Django state (an open database connection, imported
modules) is shared with workers forked from it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import NoReturn

from django.db import connections

# The access log: who, when, what and how it went, never the query string (where a
# token sent by mistake would be), the Authorization header or the referrer (another
# page's query string). %(U)s is the path alone.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'

# A worker's threads stream uploads and downloads; gthread keeps its heartbeat going
# while they do, so `timeout` only ends a worker that is truly stuck, never a long
# transfer (a sync worker is killed when one request outlasts it).
WORKER_CLASS = "gthread"
DEFAULT_THREADS = 4
DEFAULT_TIMEOUT = 300
MAX_DEFAULT_WORKERS = 8


def default_workers() -> int:
    """gunicorn's rule of thumb, 2 x cores + 1, on the cores this process may use,
    capped: each worker holds its own Django (60-70 MB), and threads add concurrency."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return min(2 * cores + 1, MAX_DEFAULT_WORKERS)


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    binds: tuple[str, ...] = ("127.0.0.1:8000",)
    workers: int | None = None
    threads: int = DEFAULT_THREADS
    timeout: int = DEFAULT_TIMEOUT
    access_log: str = "-"

    def gunicorn_argv(self) -> list[str]:
        """gunicorn's command line for these options."""
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "datatrac_site.wsgi:application",
            "--worker-class",
            WORKER_CLASS,
            "--workers",
            str(self.workers or default_workers()),
            "--threads",
            str(self.threads),
            "--timeout",
            str(self.timeout),
            "--error-logfile",
            "-",
            "--access-logformat",
            ACCESS_LOG_FORMAT,
            # gunicorn's runtime control socket (~/.gunicorn/gunicorn.ctl) is unused here,
            # and a second server on the machine would take it over.
            "--no-control-socket",
        ]
        for bind in self.binds:
            argv += ["--bind", loopback_if_port_only(bind)]
        if self.access_log:
            argv += ["--access-logfile", self.access_log]
        return argv


def loopback_if_port_only(bind: str) -> str:
    """``8000`` -> ``127.0.0.1:8000``, as runserver read a bare port (gunicorn would take
    it for a host name); anything else as given."""
    return f"127.0.0.1:{bind}" if bind.isdigit() else bind


def exec_server(options: ServerOptions) -> NoReturn:
    """Replace this process with gunicorn serving DataTrac (it never returns).

    The caller has checked the database is migrated; its connection is closed here,
    and buffered output flushed, before the process image is replaced.
    """
    connections.close_all()
    sys.stdout.flush()
    sys.stderr.flush()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datatrac_site.settings")
    os.execv(sys.executable, options.gunicorn_argv())  # noqa: S606 (our own interpreter)
