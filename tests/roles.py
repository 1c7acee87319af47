"""The role matrix shared by the admin, role and audit tests: who may do what, a scene
of real datasets (bytes in the local store) to do it to, and a snapshot to prove that a
refused action changed nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model

from lineage.models import LineageEdge
from registry.actors import Actor
from registry.models import Dataset, DownloadRecord
from registry.services import delete_dataset, push_dataset
from registry.storage.local import LocalStorage
from tests.factories import UserFactory, member_of

PASSWORD = "correct horse battery"
ROLES = ["anonymous", "viewer", "contributor", "administrator"]
GROUPS = {"viewer": "viewers", "contributor": "contributors", "administrator": "administrators"}
ACTIONS = ["push", "link", "download", "remote_delete", "purge", "restore"]
ALLOWED: dict[str, set[str]] = {
    "push": {"contributor", "administrator"},
    "link": {"contributor", "administrator"},
    "download": {"viewer", "contributor", "administrator"},
    "remote_delete": {"administrator"},
    "purge": {"administrator"},
    "restore": {"administrator"},
}
# The audit trail's name for each action.
AUDIT_ACTION = {
    "push": "push",
    "link": "link",
    "download": "download",
    "remote_delete": "remote_delete",
    "purge": "purge",
    "restore": "restore",
}
# The CLI identity standing for "anonymous": a name with no account, once accounts exist.
STRANGER = "stranger"


def make_role_users() -> dict[str, Any]:
    """One staff user per role (group membership, not superuser), by role name.

    Everyone is staff so that the admin's answer depends on their permissions alone.
    """
    users: dict[str, Any] = {"anonymous": None}
    for role, group in GROUPS.items():
        users[role] = member_of(group, role, is_staff=True)
    return users


def root() -> Actor:
    """A superuser actor, to arrange scenes."""
    return Actor.for_user(UserFactory(username="root", is_superuser=True, is_staff=True))


@dataclass
class Scene:
    """Datasets for every action: ``parent``/``child`` available with bytes and not yet
    linked; ``tombstone`` deleted with bytes gone; ``stored_tombstone`` deleted while
    its bytes are still in the store (so it can be restored); ``new_file`` unpushed."""

    parent: Dataset
    child: Dataset
    tombstone: Dataset
    stored_tombstone: Dataset
    new_file: Path

    @classmethod
    def build(cls, store: LocalStorage, files: Path) -> Scene:
        files.mkdir(parents=True, exist_ok=True)
        admin = root()

        def push(name: str, content: bytes) -> Dataset:
            path = files / name
            path.write_bytes(content)
            return push_dataset(path=path, source="test", actor=admin, storage=store).dataset

        tombstone = push("tombstone.csv", b"gone,for\n1,2\n")
        delete_dataset(dataset=tombstone, actor=admin, storage=store)
        stored_tombstone = push("stored.csv", b"still,stored\n3,4\n")
        # A tombstone whose bytes are still stored, as a delete undone by hand leaves it.
        Dataset.objects.filter(pk=stored_tombstone.pk).update(
            state=Dataset.State.DELETED, deleted_by="root"
        )
        new_file = files / "new.csv"
        new_file.write_bytes(b"brand,new\n5,6\n")
        return cls(
            parent=push("parent.csv", b"raw,data\n7,8\n"),
            child=push("child.csv", b"clean,data\n9,10\n"),
            tombstone=Dataset.objects.get(pk=tombstone.pk),
            stored_tombstone=Dataset.objects.get(pk=stored_tombstone.pk),
            new_file=new_file,
        )

    def target(self, action: str) -> Dataset:
        """The dataset an action is tried on."""
        return {
            "remote_delete": self.parent,
            "purge": self.tombstone,
            "restore": self.stored_tombstone,
            "download": self.parent,
            "link": self.child,
        }[action]


def snapshot(store: LocalStorage) -> dict[str, Any]:
    """Everything an action could change, except the (append-only) audit trail."""
    return {
        "rows": sorted(Dataset.objects.values_list("sha256", "state", "download_count", "name")),
        "objects": sorted(store.iter_objects()),
        "edges": sorted(LineageEdge.objects.values_list("parent__sha256", "child__sha256")),
        "downloads": DownloadRecord.objects.count(),
        "users": get_user_model().objects.count(),
    }
