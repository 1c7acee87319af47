from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from registry.cli import PrivilegedCommand, terminal_safe
from registry.models import Dataset


class Command(PrivilegedCommand):
    help = (
        "Make a deleted dataset available again from bytes still in the store, verified "
        "against its hash (administrators only)."
    )
    epilog = """examples:
  datatrac restore 3fa2c1                   # prompts for your password
  DATATRAC_PASSWORD=... datatrac restore 3fa2c1 --user alice

When the bytes are gone from the store, push the file again instead: that restores the
dataset too, and needs only the push permission.
"""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("hash", help="the deleted dataset's hash or unique prefix")
        self.add_user_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = Dataset.objects.resolve(options["hash"])
        actor = self.authenticate(options["user"])
        self.client(actor).restore(dataset.sha256)
        self.stdout.write(f"restored {dataset.short_hash} ({terminal_safe(dataset.name)!r})")
