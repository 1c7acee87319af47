from django.contrib import admin
from django.urls import include, path

from datatrac_site.api import api
from datatrac_site.views import healthz

# Every app's admin.py registers its ModelAdmins here, where the web starts, rather than
# in every django.setup() (datatrac_site.apps.AdminConfig): the CLI never needs them.
admin.autodiscover()

handler404 = "datatrac_site.views.not_found"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", api.urls),
    path("tokens/", include("tokens.urls")),
    path("", include("registry.urls")),
]
