from __future__ import annotations

from django.urls import path

from tokens import views

app_name = "tokens"

urlpatterns = [
    path("", views.token_list, name="token-list"),
    path("new", views.token_create, name="token-create"),
    path("<int:token_id>/revoke", views.token_revoke, name="token-revoke"),
]
