from __future__ import annotations

from django.urls import path

from lineage.views import dataset_lineage
from registry import views

app_name = "registry"

urlpatterns = [
    path("", views.dataset_list, name="dataset-list"),
    path("datasets/<str:ref>/", views.dataset_detail, name="dataset-detail"),
    path("datasets/<str:ref>/download", views.dataset_download, name="dataset-download"),
    path("datasets/<str:ref>/lineage", dataset_lineage, name="dataset-lineage"),
]
