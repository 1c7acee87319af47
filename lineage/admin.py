"""Lineage edges in the admin: browsable; removing one goes through unlink_datasets."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from lineage.models import LineageEdge
from lineage.services import unlink_datasets
from registry.actors import Actor
from registry.errors import DataTracError

HEX_PREFIX = re.compile(r"[0-9a-f]{6,64}")


@admin.register(LineageEdge)
class LineageEdgeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("parent", "child", "note", "created_by", "created_at")
    list_select_related = ("parent", "child")
    list_filter = ("created_by", ("created_at", admin.DateFieldListFilter))
    search_fields = ("parent__name", "child__name", "note", "created_by")
    search_help_text = "Either dataset's name, the note or who linked them, or a hash prefix."
    fields = readonly_fields = ("parent", "child", "note", "created_by", "created_at")
    show_facets = admin.ShowFacets.NEVER

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[LineageEdge], search_term: str
    ) -> tuple[QuerySet[LineageEdge], bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip().lower()
        if HEX_PREFIX.fullmatch(term):
            upper = term + "g"
            results |= queryset.filter(
                Q(parent__sha256__gte=term, parent__sha256__lt=upper)
                | Q(child__sha256__gte=term, child__sha256__lt=upper)
            )
        return results, may_have_duplicates

    # Links are made by the CLI (or a push), where the cycle check and the audit trail
    # live; here they are only looked at, and removed through the unlink service.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("lineage.link_datasets"))

    def delete_model(self, request: HttpRequest, obj: LineageEdge) -> None:
        try:
            unlink_datasets(parent=obj.parent, child=obj.child, actor=Actor.for_request(request))
        except DataTracError as exc:
            self.message_user(request, str(exc), messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[LineageEdge]) -> None:
        for edge in queryset.select_related("parent", "child"):
            self.delete_model(request, edge)
