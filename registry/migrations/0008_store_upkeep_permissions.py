"""`verify` and `gc` need permissions of their own, granted to the administrators.

Before this they ran for any DATATRAC_USER, even a name with no account.
"""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from registry.migrations import _permissions
from registry.roles import create_roles

NEW = ("verify_store", "collect_garbage")


def add_permissions(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _permissions.create_all(apps)
    create_roles(apps)


def remove_permissions(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("auth", "Permission").objects.filter(
        content_type__app_label="registry", codename__in=NEW
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0007_search_text"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="dataset",
            options={
                "ordering": ["-pushed_at", "-id"],
                "permissions": [
                    ("push_dataset", "Can push datasets"),
                    ("download_dataset", "Can download datasets"),
                    ("remote_delete_dataset", "Can delete a dataset's stored bytes"),
                    ("purge_dataset", "Can purge a deleted dataset's record"),
                    ("restore_dataset", "Can restore a deleted dataset"),
                    ("verify_store", "Can verify every stored object (datatrac verify)"),
                    ("collect_garbage", "Can remove unreferenced stored objects (datatrac gc)"),
                ],
            },
        ),
        migrations.RunPython(add_permissions, remove_permissions),
    ]
