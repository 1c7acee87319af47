from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from registry.actors import Actor, require_permission
from registry.cli import PrivilegedCommand, terminal_safe
from registry.models import Dataset


class Command(PrivilegedCommand):
    help = (
        "Delete a dataset: --local removes your cached copy; otherwise (administrators "
        "only) removes the central copy and keeps a tombstone record, which --purge then "
        "removes for good."
    )
    epilog = """examples:
  datatrac delete 3fa2c1 --local            # free local disk; the central copy stays
  datatrac delete 3fa2c1                    # prompts for your password, then confirms
  DATATRAC_PASSWORD=... datatrac delete 3fa2c1 --yes --user alice   # scripts
  datatrac delete 3fa2c1 --purge            # a tombstone's record, for good
  datatrac restore 3fa2c1                   # undo a delete while the bytes are stored

The password is asked for by a prompt, or read from DATATRAC_PASSWORD. It is never
taken from the command line, where other users and shell history could see it.
"""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("hash", help="the dataset's hash or unique prefix")
        parser.add_argument("--local", action="store_true", help="remove only the cached copy")
        parser.add_argument(
            "--purge",
            action="store_true",
            help="remove a deleted dataset's tombstone record for good (administrators)",
        )
        self.add_user_argument(parser)
        parser.add_argument("-y", "--yes", action="store_true", help="do not ask to confirm")
        parser.add_argument(
            "--force", action="store_true", help="delete even if living datasets derive from it"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["local"] and options["purge"]:
            raise CommandError("--local and --purge do not go together")
        dataset = Dataset.objects.resolve(options["hash"])
        if options["local"]:
            _, removed = self.client().delete_local(dataset.sha256)
            self.stdout.write(
                f"removed the local copy of {dataset.short_hash}"
                if removed
                else f"no local copy of {dataset.short_hash} to remove"
            )
            return
        actor = self.authenticate(options["user"])
        if options["purge"]:
            self.purge(dataset, actor=actor, yes=options["yes"])
            return
        require_permission(
            actor,
            "registry.remote_delete_dataset",
            action="delete datasets",
            sha256=dataset.sha256,
        )
        if not options["yes"]:
            self.confirm(
                f"Delete the central copy of {dataset.short_hash} "
                f"({terminal_safe(dataset.name)!r})?",
                verb="delete",
            )
        result = self.client(actor).delete(dataset.sha256, force=options["force"])
        if result.object_was_missing:
            self.stderr.write(
                f"warning: the stored object of {dataset.short_hash} was already missing"
            )
        self.stdout.write(
            f"deleted {dataset.short_hash} ({terminal_safe(dataset.name)!r}); its record is kept "
            "as a tombstone"
        )

    def purge(self, dataset: Dataset, *, actor: Actor, yes: bool) -> None:
        require_permission(
            actor, "registry.purge_dataset", action="purge datasets", sha256=dataset.sha256
        )
        if dataset.is_available:
            # Also refused by the service; said here so nobody confirms a purge in vain.
            raise CommandError(
                f"dataset {dataset.short_hash} is not deleted: run `datatrac delete "
                f"{dataset.short_hash}` first, then purge it"
            )
        if not yes:
            self.confirm(
                f"Purge the record of {dataset.short_hash} ({terminal_safe(dataset.name)!r}) "
                "for good?",
                verb="purge",
            )
        result = self.client(actor).purge(dataset.sha256)
        self.stdout.write(
            f"purged {dataset.short_hash} ({terminal_safe(dataset.name)!r}) with "
            f"{result.edges_removed} lineage link(s) and {result.downloads_removed} download "
            "record(s); the audit trail keeps its history"
        )
