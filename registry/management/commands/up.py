from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandParser

from registry.cli import DataTracCommand, uses_embedded_database
from registry.server import ServerOptions, exec_server, loopback_if_port_only


class Command(DataTracCommand):
    help = (
        "Prepare DataTrac (home directory, database, an administrator account) and start "
        "the web app."
    )
    epilog = """examples:
  datatrac up                       # http://127.0.0.1:8000, embedded SQLite + local store
  datatrac up --no-server           # prepare only
  datatrac up --addrport 127.0.0.1:9000
"""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--addrport", default="127.0.0.1:8000", help="address to serve on (127.0.0.1:8000)"
        )
        parser.add_argument("--no-server", action="store_true", help="prepare, do not serve")

    def handle(self, *args: Any, **options: Any) -> None:
        home = settings.DATATRAC_HOME
        home.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        self.ensure_admin()
        self.stdout.write(f"DataTrac home: {home}")
        self.stdout.write(f"Registry:      {settings.DATABASES['default']['NAME']}")
        self.stdout.write(f"Store:         {settings.DATATRAC_STORAGE_URL}")
        if options["no_server"]:
            return
        bind = loopback_if_port_only(options["addrport"])
        self.stdout.write(f"Serving on http://{bind}/  (Ctrl-C to stop)")
        # The team server's gunicorn (`datatrac serve`), with two workers: one person's
        # install needs no more.
        exec_server(ServerOptions(binds=(bind,), workers=2))

    def ensure_admin(self) -> None:
        """Make sure an administrator exists; the first one is the CLI user, on loopback."""
        users = get_user_model()
        if users.objects.filter(is_superuser=True, is_active=True).exists():
            self.stdout.write("Sign in with your administrator account.")
            return
        username = settings.DATATRAC_USER
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(f"Created administrator {username!r} with password {password}")
        if uses_embedded_database():
            # The embedded install is single-user: keep the password where only they can read it.
            note = settings.DATATRAC_HOME / "admin-password.txt"
            note.touch(mode=0o600)
            note.write_text(f"user: {username}\npassword: {password}\n")
            self.stdout.write(f"(saved to {note})")
        self.stdout.write(f"Change it with `datatrac changepassword {username}`.")
