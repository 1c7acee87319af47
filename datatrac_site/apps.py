"""The admin app, with its discovery of every app's admin.py left to the web."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import SimpleAdminConfig
from django.contrib.admin.checks import check_admin_app, check_dependencies
from django.core import checks


class AdminConfig(SimpleAdminConfig):
    """django.contrib.admin, registering the apps' ModelAdmins when the URLconf loads
    (datatrac_site.urls) instead of at every django.setup(): importing every admin.py
    was 25-30 ms of each CLI command, which never shows an admin page.

    `datatrac check` still checks every ModelAdmin: its admin check discovers them first.
    """

    def ready(self) -> None:
        checks.register(check_dependencies, checks.Tags.admin)
        checks.register(check_discovered_admin, checks.Tags.admin)


def check_discovered_admin(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    admin.autodiscover()  # imports each admin.py once; later calls find them imported
    return check_admin_app(app_configs, **kwargs)
