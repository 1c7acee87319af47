from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from registry.cli import DataTracCommand, terminal_safe
from registry.models import Dataset
from registry.services import (
    Actor,
    authenticate_actor,
    delete_dataset,
    delete_local_copy,
    require_permission,
)
from registry.storage import get_storage


class Command(DataTracCommand):
    help = (
        "Delete a dataset: --local removes your cached copy; otherwise (administrators "
        "only) removes the central copy and keeps a tombstone record."
    )
    epilog = """examples:
  datatrac delete 3fa2c1 --local            # free local disk; the central copy stays
  datatrac delete 3fa2c1                    # prompts for your password, then confirms
  DATATRAC_PASSWORD=... datatrac delete 3fa2c1 --yes --user alice   # scripts

The password is asked for by a prompt, or read from DATATRAC_PASSWORD. It is never
taken from the command line, where other users and shell history could see it.
"""
    refused_options = {
        "--password": (
            "a password on the command line is visible to other users and kept in shell "
            "history; type it at the prompt or set DATATRAC_PASSWORD"
        )
    }

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("hash", help="the dataset's hash or unique prefix")
        parser.add_argument("--local", action="store_true", help="remove only the cached copy")
        parser.add_argument("--user", help="Django user to act as (default: DATATRAC_USER)")
        parser.add_argument("-y", "--yes", action="store_true", help="do not ask to confirm")
        parser.add_argument(
            "--force", action="store_true", help="delete even if living datasets derive from it"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = Dataset.objects.resolve(options["hash"])
        if options["local"]:
            removed = delete_local_copy(dataset=dataset)
            self.stdout.write(
                f"removed the local copy of {dataset.short_hash}"
                if removed
                else f"no local copy of {dataset.short_hash} to remove"
            )
            return
        username = options["user"] or settings.DATATRAC_USER
        actor = authenticate_actor(
            username=username,
            password=self.password_for(username),
            origin=Actor.for_cli(username).origin,
        )
        require_permission(
            actor,
            "registry.remote_delete_dataset",
            action="delete datasets",
            sha256=dataset.sha256,
        )
        if not options["yes"]:
            self.confirm(dataset)
        with get_storage() as storage:
            result = delete_dataset(
                dataset=dataset, actor=actor, storage=storage, force=options["force"]
            )
        if result.object_was_missing:
            self.stderr.write(
                f"warning: the stored object of {dataset.short_hash} was already missing"
            )
        self.stdout.write(
            f"deleted {dataset.short_hash} ({terminal_safe(dataset.name)!r}); its record is kept "
            "as a tombstone"
        )

    def password_for(self, username: str) -> str:
        if password := os.environ.get("DATATRAC_PASSWORD"):
            return password
        if not sys.stdin.isatty():
            raise CommandError(
                "a password is needed: run in a terminal to be prompted, or set DATATRAC_PASSWORD"
            )
        return getpass.getpass(f"Password for {username}: ")

    def confirm(self, dataset: Dataset) -> None:
        if not sys.stdin.isatty():
            raise CommandError("refusing to delete without confirmation: pass --yes")
        answer = input(
            f"Delete the central copy of {dataset.short_hash} ({terminal_safe(dataset.name)!r})? "
            "[y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            raise CommandError("not deleted")
