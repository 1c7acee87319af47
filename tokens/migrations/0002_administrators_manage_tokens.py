"""Administrators see and revoke every user's tokens in the admin."""

from __future__ import annotations

from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

PERMISSIONS = ["view_accesstoken", "change_accesstoken"]


def grant(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    # A new model's permissions are made after every migration has run; make them now.
    app_config = apps.get_app_config("tokens")
    app_config.models_module = True  # type: ignore[assignment]
    create_permissions(app_config, apps=apps, verbosity=0)
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    group, _ = group_model.objects.get_or_create(name="administrators")
    group.permissions.add(
        *permission_model.objects.filter(content_type__app_label="tokens", codename__in=PERMISSIONS)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("tokens", "0001_initial"),
        ("registry", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
