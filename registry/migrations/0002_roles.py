"""Create the viewers, contributors and administrators groups (see registry/roles.py)."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from registry.migrations import _permissions
from registry.roles import ROLES, create_roles

# Granted by later migrations, whose models declare them: at this point in the
# history they do not exist yet.
ADDED_LATER = {"registry.verify_store", "registry.collect_garbage"}  # 0008


def add_roles(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _permissions.create_all(apps)
    create_roles(
        apps, {name: [p for p in perms if p not in ADDED_LATER] for name, perms in ROLES.items()}
    )


def remove_roles(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0001_initial"),
        ("lineage", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [migrations.RunPython(add_roles, remove_roles)]
