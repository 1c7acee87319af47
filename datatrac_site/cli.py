"""The `datatrac` console script: Django's manage.py, with DataTrac's help on top.

In remote mode (a team server) every command runs on datatrac.cli, which never imports
Django: the process starts in a fraction of direct mode's time.
"""

from __future__ import annotations

import os
import sys

OVERVIEW = """\
usage: datatrac COMMAND [options]

DataTrac: a dataset registry with lineage. Every file is known by its SHA-256.

commands:
  up         prepare the embedded install and start the web app on 127.0.0.1:8000
  serve      run the team server (web app and API) under gunicorn
  push       hash a file, upload it once to the central store, register it
  fetch      list datasets, show one, or download one (verified)
  lineage    show ancestors/descendants, or link/unlink two datasets
  delete     remove your local copy, or (administrators) the central copy; --purge
  restore    (administrators) make a deleted dataset available again
  verify     re-hash stored objects: report corrupt, missing and orphaned ones
  gc         remove stale temporary uploads and unreferenced objects
  login      store a token for a team server (then every command talks to it)
  logout     forget the stored login
  whoami     who the registry (or the team server) takes you for
  token      your API tokens: token create NAME / token list / token revoke ID

With DATATRAC_URL and DATATRAC_TOKEN set, or after `datatrac login URL`, every command
talks to that team server's API: no database or store credentials needed.

`datatrac COMMAND --help` explains a command with examples.
Django's management commands (migrate, createsuperuser, ...) work too: `datatrac help --commands`.
"""


def main(argv: list[str] | None = None, prog: str = "datatrac") -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") or args == ["help"]:
        sys.stdout.write(OVERVIEW)
        return 0
    code = _client_command(args)
    if code is not None:
        return code
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datatrac_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line([prog, *args])
    return 0


def _client_command(args: list[str]) -> int | None:
    """Run ``args`` on the client interface (datatrac.cli) when that is where it goes:
    every command in remote mode (DATATRAC_URL or a stored login: no Django at all),
    and the account commands (login, logout, whoami, token) in either mode. None: a
    management command, in direct mode."""
    from datatrac import config
    from datatrac.cli import main as client_cli
    from datatrac.errors import DataTracError

    if args[0] in ("login", "logout"):
        return client_cli.main(args)
    try:
        remote = config.remote_settings()
    except DataTracError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    if remote is None and args[0] not in client_cli.ACCOUNT_COMMANDS:
        return None
    return client_cli.main(args)


if __name__ == "__main__":
    sys.exit(main())
