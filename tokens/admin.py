"""Administrators see every user's tokens and revoke them; nothing here shows or edits a
secret or its digest, and tokens are made only by their owners (the API tokens page)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import ActionLocation
from django.db.models import QuerySet
from django.http import HttpRequest

from registry.actors import Actor
from registry.errors import DataTracError
from tokens.models import AccessToken
from tokens.services import revoke_token


@admin.register(AccessToken)
class AccessTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "name",
        "id",
        "user",
        "scope",
        "created_at",
        "expires_at",
        "last_used_at",
        "status_shown",
    )
    list_filter = ("scope", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "user__username")
    list_select_related = ("user",)
    # No digest: it is never shown, even to superusers.
    fields = (
        "name",
        "user",
        "scope",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_used_from",
        "revoked_at",
        "revoked_by",
    )
    readonly_fields = fields
    actions = ("revoke",)

    @admin.display(description="status")
    def status_shown(self, token: AccessToken) -> str:
        return token.status

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Revoked tokens stay listed: the audit trail names them by id.
        return False

    def get_actions(
        self, request: HttpRequest, action_location: ActionLocation = ActionLocation.CHANGE_LIST
    ) -> dict[str, Any]:
        actions = super().get_actions(request, action_location=action_location)
        actions.pop("delete_selected", None)
        return actions

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return Actor.for_request(request).has_perm("tokens.change_accesstoken")

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[AccessToken]) -> None:
        actor = Actor.for_request(request)
        revoked = 0
        try:
            for token in queryset.select_related("user"):
                revoked += revoke_token(actor=actor, token=token)
        except DataTracError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
