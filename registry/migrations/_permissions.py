"""Make the permissions of a migration's historical models, for the role migrations."""

from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions


def create_all(apps: Apps) -> None:
    """Create every permission the historical registry ``apps`` declares (only adds).

    Permissions are normally made after the whole migrate run (post_migrate); on a
    fresh database they do not exist yet when a role migration grants them.
    create_permissions() skips an app whose models_module is unset, as it is in a
    migration's historical registry: set it for the call, then put it back.
    """
    for app_config in apps.get_app_configs():
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module
