"""The `datatrac` console script: Django's manage.py, with DataTrac's help on top."""

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

`datatrac COMMAND --help` explains a command with examples.
Django's management commands (migrate, createsuperuser, ...) work too: `datatrac help --commands`.
"""


def main(argv: list[str] | None = None, prog: str = "datatrac") -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datatrac_site.settings")
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") or args == ["help"]:
        sys.stdout.write(OVERVIEW)
        return 0
    from django.core.management import execute_from_command_line

    execute_from_command_line([prog, *args])
    return 0


if __name__ == "__main__":
    sys.exit(main())
