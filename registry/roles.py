"""The three roles: Django groups holding the permissions each kind of user needs.

Created by a data migration (registry/migrations/0002_roles.py); an administrator puts
accounts into them in the admin. Each role includes the one before it.
"""

from __future__ import annotations

from django.apps.registry import Apps
from django.db.models import Q

VIEWERS = "viewers"
CONTRIBUTORS = "contributors"
ADMINISTRATORS = "administrators"

_VIEW = [
    "registry.view_dataset",
    "registry.download_dataset",
    "lineage.view_lineageedge",
]
_CONTRIBUTE = [
    *_VIEW,
    "registry.push_dataset",
    "lineage.link_datasets",
]
_ADMINISTER = [
    *_CONTRIBUTE,
    "registry.change_dataset",  # name, source and description in the admin
    "registry.remote_delete_dataset",
    "registry.purge_dataset",
    "registry.restore_dataset",
    # The store's upkeep: `datatrac verify` and `datatrac gc` (migration 0008).
    "registry.verify_store",
    "registry.collect_garbage",
    "registry.view_auditevent",
    "registry.view_downloadrecord",
    # Managing users: accounts, their groups, and unlocking throttled sign-ins.
    "auth.view_user",
    "auth.add_user",
    "auth.change_user",
    "auth.delete_user",
    "auth.view_group",
    "auth.change_group",
    "axes.view_accessattempt",
    "axes.delete_accessattempt",
]

ROLES: dict[str, list[str]] = {
    VIEWERS: _VIEW,
    CONTRIBUTORS: _CONTRIBUTE,
    ADMINISTRATORS: _ADMINISTER,
}


def create_roles(apps: Apps, roles: dict[str, list[str]] | None = None) -> None:
    """Create the three groups and give each its permissions.

    Idempotent, and it only adds: a permission an administrator later gave or took
    from a group is left as they set it until this runs again. ``apps`` is a
    migration's historical registry, or ``django.apps.apps``; ``roles`` (default
    ROLES) is what a migration written before a later permission existed grants.
    """
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, perms in (ROLES if roles is None else roles).items():
        condition = Q()
        for perm in perms:
            app_label, codename = perm.split(".")
            condition |= Q(content_type__app_label=app_label, codename=codename)
        found = list(permission_model.objects.filter(condition))
        if len(found) != len(perms):
            have = {f"{p.content_type.app_label}.{p.codename}" for p in found}
            raise LookupError(f"role {name}: missing permissions {sorted(set(perms) - have)}")
        group, _ = group_model.objects.get_or_create(name=name)
        group.permissions.add(*found)
