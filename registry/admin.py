"""The Django admin for the registry: datasets, their tombstones, and the audit trail.

Every change to bytes goes through the same services as the CLI: a remote delete, a
purge and a restore are admin actions (on the list, in bulk, and on a dataset's own
page) that call delete_dataset / purge_dataset / restore_dataset after a confirmation
page. Django's own delete is closed for datasets: it would drop rows and leave bytes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin, messages
from django.contrib.admin import ActionLocation
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.core.validators import validate_ipv46_address
from django.db.models import (
    Count,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from lineage.models import LineageEdge
from lineage.services import lineage_graph
from registry import units
from registry.actors import Actor, require_permission
from registry.errors import DataTracError, PermissionDenied
from registry.models import AuditEvent, Dataset, DatasetQuerySet, DownloadRecord
from registry.services import delete_dataset, purge_dataset, restore_dataset
from registry.storage import Storage, get_storage

HEX_PREFIX = re.compile(r"[0-9a-f]{6,64}")
# Rows shown in each lineage inline; the rest are a link away (the edges' list).
INLINE_EDGES = 50
# Living children named on a confirmation page, per dataset.
CHILDREN_NAMED = 10
# Datasets an action could not act on, named one message each; the rest are counted.
MESSAGES_SHOWN = 10
# How far down a remote delete's confirmation looks for living descendants.
DESCENDANT_DEPTH = 100
BOTH_PLACES = [ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM]
CHANGE_FORM_ACTION_FIELD = f"{ActionLocation.CHANGE_FORM.value}-action"


def hash_prefix_matches(queryset: QuerySet[Any], field_name: str, term: str) -> QuerySet[Any]:
    """Rows of ``queryset`` whose hash field starts with ``term``, as an index range."""
    return queryset.filter(**{f"{field_name}__gte": term, f"{field_name}__lt": term + "g"})


# --- datasets ----------------------------------------------------------------------


class LatestEdgesFormSet(BaseInlineFormSet):  # type: ignore[type-arg]
    """Only the newest INLINE_EDGES edges: a dataset with thousands of children keeps a
    page of a bounded size (the inlines are read-only, so nothing is posted back)."""

    def get_queryset(self) -> QuerySet[LineageEdge]:
        # Evaluated once: each form indexes into it, and a fresh slice would be a query each.
        if not hasattr(self, "_latest_edges"):
            self._latest_edges = super().get_queryset()[:INLINE_EDGES]
            len(self._latest_edges)
        return self._latest_edges


class EdgeInline(admin.TabularInline):  # type: ignore[type-arg]
    """Lineage edges on a dataset's page, read-only: links change through lineage's
    services (CLI, or the edges' own admin to unlink), which check for cycles and audit."""

    model = LineageEdge
    formset = LatestEdgesFormSet
    extra = 0
    can_delete = False
    show_change_link = True
    related: str = ""

    def get_queryset(self, request: HttpRequest) -> QuerySet[LineageEdge]:
        return super().get_queryset(request).select_related(self.related)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ParentEdgeInline(EdgeInline):
    fk_name = "child"
    related = "parent"
    fields = readonly_fields = ("parent", "note", "created_by", "created_at")
    verbose_name = "parent (made from)"
    verbose_name_plural = f"parents (made from; newest {INLINE_EDGES})"


class ChildEdgeInline(EdgeInline):
    fk_name = "parent"
    related = "child"
    fields = readonly_fields = ("child", "note", "created_by", "created_at")
    verbose_name = "child (made from this)"
    verbose_name_plural = f"children (made from this; newest {INLINE_EDGES})"


@dataclass
class PlanItem:
    """What an operation will do to one dataset, for the confirmation page."""

    dataset: Dataset
    skip: str = ""  # why the operation does not apply to it (it will be left alone)
    consequences: list[str] = field(default_factory=list)
    living_children: list[Dataset] = field(default_factory=list)
    more_children: int = 0

    @property
    def applies(self) -> bool:
        return not self.skip


@dataclass
class Plan:
    """What an operation will do to a selection of any size, for the confirmation page.

    Counts for the whole selection, the first PLAN_ROWS datasets in detail and (remote
    delete) the first LIVING_ROWS with living children: a bounded number of queries and
    a page of a bounded size, whether one dataset is selected or every one.
    """

    total: int
    applicable: int
    #: A line per reason some are left alone: "3 already deleted (tombstones)".
    skipped: list[str]
    #: About the whole selection.
    notes: list[str]
    rows: list[PlanItem]
    #: Remote delete: selected datasets living datasets were made from (the first few).
    living: list[PlanItem] = field(default_factory=list)
    living_total: int = 0

    @property
    def more_rows(self) -> int:
        return self.total - len(self.rows)

    @property
    def more_living(self) -> int:
        return self.living_total - len(self.living)


@dataclass(frozen=True)
class Operation:
    """One privileged admin action and the service behind it."""

    name: str  # the admin action's name
    perm: str  # the permission its service requires
    action: str  # what a refusal says it was: "delete datasets"
    title: str
    verb: str  # "delete", as in "Yes, delete"
    done: str  # "deleted"
    explanation: str
    run: Callable[[Dataset, Actor, Storage, bool], object]
    plan: Callable[[QuerySet[Dataset], Storage], Plan]


# The confirmation page details this many datasets of a selection; the rest are counted.
PLAN_ROWS = 50
# ... and this many of those living datasets were made from, each with its children.
LIVING_ROWS = 20
LIVING = Q(state=Dataset.State.AVAILABLE)


def selection_token(selection: QuerySet[Dataset]) -> str:
    """A fingerprint of a selection: what was confirmed is what is acted on.

    A selection "across" every page is posted back as the list's filters, not as
    thousands of ids; rows pushed, removed or changed in state since the confirmation
    change this. A digest of every (id, state), not a count or sum of ids: rows that
    left a filter and others that joined it could keep those (0 + 3 == 1 + 2) and a
    purge would remove datasets nobody confirmed. Ids only cross the wire (25,000 rows
    in a few milliseconds), never whole rows.
    """
    digest = hashlib.sha256()
    rows = selection.order_by("pk").values_list("pk", "state")
    for pk, state in rows.iterator(chunk_size=5000):
        digest.update(f"{pk}:{state},".encode())
    return digest.hexdigest()


def _counts(selection: QuerySet[Dataset]) -> tuple[int, int]:
    """(selected, of which available), in one query."""
    found = selection.order_by().aggregate(n=Count("pk"), living=Count("pk", filter=LIVING))
    return found["n"], found["living"]


def _first_rows(selection: QuerySet[Dataset]) -> QuerySet[Dataset]:
    return selection.order_by("name", "pk")[:PLAN_ROWS]


def _count_of(queryset: QuerySet[Any], field_name: str) -> Coalesce:
    """How many rows of ``queryset`` have ``field_name`` = the outer dataset (a subquery)."""
    counted = (
        queryset.filter(**{field_name: OuterRef("pk")})
        .order_by()
        .values(field_name)
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _plan_remote_delete(selection: QuerySet[Dataset], storage: Storage) -> Plan:
    total, available = _counts(selection)
    rows = [
        PlanItem(dataset)
        if dataset.is_available
        else PlanItem(dataset, skip="already deleted (a tombstone)")
        for dataset in _first_rows(selection)
    ]
    with_living = (
        selection.filter(LIVING)
        .annotate(living_children=_count_of(Dataset.objects.filter(LIVING), "parent_edges__parent"))
        .filter(living_children__gt=0)
    )
    living_total = with_living.count() if available else 0
    living = list(with_living.order_by("name", "pk")[:LIVING_ROWS]) if living_total else []
    named = _living_children_named([d.pk for d in living])
    items = []
    for dataset in living:
        # One walk per dataset shown (at most LIVING_ROWS), never per dataset selected.
        graph = lineage_graph(dataset=dataset, depth=DESCENDANT_DEPTH, counts=False)
        descendants = sum(
            1 for pk, level in graph.levels.items() if level > 0 and graph.nodes[pk].is_available
        )
        children = dataset.living_children  # type: ignore[attr-defined]
        items.append(
            PlanItem(
                dataset,
                consequences=[
                    f"{children} living child(ren), and {descendants} living descendant(s) "
                    "in all, keep their own bytes but lose the bytes they were made from"
                ],
                living_children=named.get(dataset.pk, []),
                more_children=max(children - CHILDREN_NAMED, 0),
            )
        )
    deleted = total - available
    return Plan(
        total=total,
        applicable=available,
        skipped=[f"{deleted} already deleted (tombstones)"] if deleted else [],
        notes=[
            f"their stored objects are removed from {storage.url}; their records stay "
            "as tombstones, with their lineage and history"
        ],
        rows=rows,
        living=items,
        living_total=living_total,
    )


def _living_children_named(parents: list[int]) -> dict[int, list[Dataset]]:
    """The first CHILDREN_NAMED living children of each of ``parents``, in one query."""
    if not parents:
        return {}
    ranked = (
        Dataset.objects.filter(LIVING, parent_edges__parent__in=parents)
        .annotate(
            parent_pk=F("parent_edges__parent"),
            rank=Window(
                RowNumber(), partition_by=F("parent_edges__parent"), order_by=["name", "pk"]
            ),
        )
        .filter(rank__lte=CHILDREN_NAMED)
        .order_by("parent_pk", "rank")
    )
    named: dict[int, list[Dataset]] = {}
    for child in ranked:
        named.setdefault(child.parent_pk, []).append(child)  # type: ignore[attr-defined]
    return named


def _plan_purge(selection: QuerySet[Dataset], storage: Storage) -> Plan:
    total, available = _counts(selection)
    tombstones = selection.exclude(LIVING)
    rows = []
    for dataset in _first_rows(selection).annotate(
        parent_links=_count_of(LineageEdge.objects.all(), "child"),
        child_links=_count_of(LineageEdge.objects.all(), "parent"),
        download_records=_count_of(DownloadRecord.objects.all(), "dataset"),
    ):
        if dataset.is_available:
            rows.append(PlanItem(dataset, skip="not deleted: remote delete it first"))
            continue
        item = PlanItem(
            dataset,
            consequences=[
                f"its record is removed for good, with {dataset.parent_links} link(s) to "  # type: ignore[attr-defined]
                f"parents, {dataset.child_links} link(s) to children and "  # type: ignore[attr-defined]
                f"{dataset.download_records} download record(s)",  # type: ignore[attr-defined]
            ],
        )
        if storage.exists(dataset.sha256):
            item.consequences.append("its bytes are still stored: they are removed too")
        rows.append(item)
    notes = ["the audit trail keeps every event about them (it records the hash)"]
    if total - available:
        links = LineageEdge.objects.filter(Q(parent__in=tombstones) | Q(child__in=tombstones))
        downloads = DownloadRecord.objects.filter(dataset__in=tombstones)
        notes.insert(
            0,
            f"in all, {total - available} record(s) are removed for good, with "
            f"{links.count()} lineage link(s) and {downloads.count()} download record(s); "
            "bytes still stored under their hashes are removed too",
        )
    return Plan(
        total=total,
        applicable=total - available,
        skipped=[f"{available} not deleted: remote delete them first"] if available else [],
        notes=notes,
        rows=rows,
    )


def _plan_restore(selection: QuerySet[Dataset], storage: Storage) -> Plan:
    total, available = _counts(selection)
    rows = []
    for dataset in _first_rows(selection):
        if dataset.is_available:
            rows.append(PlanItem(dataset, skip="not deleted"))
        elif not storage.exists(dataset.sha256):
            rows.append(
                PlanItem(dataset, skip="its bytes are no longer stored: push the file again")
            )
        else:
            rows.append(PlanItem(dataset))
    # The store is asked about the datasets shown only; restore_dataset checks each one.
    gone = sum(1 for item in rows if not item.applies and not item.dataset.is_available)
    return Plan(
        total=total,
        applicable=total - available - (gone if total <= PLAN_ROWS else 0),
        skipped=[f"{available} not deleted"] if available else [],
        notes=[
            "each one's stored bytes are verified against its hash; then it is available "
            "(one whose bytes are no longer stored is left alone)"
        ],
        rows=rows,
    )


REMOTE_DELETE = Operation(
    name="remote_delete",
    perm="registry.remote_delete_dataset",
    action="delete datasets",
    title="Remote delete",
    verb="delete",
    done="deleted",
    explanation="The stored bytes of these datasets will be deleted from the store. Their "
    "records stay as tombstones, so lineage and history still resolve.",
    run=lambda d, actor, storage, force: delete_dataset(
        dataset=d, actor=actor, storage=storage, force=force
    ),
    plan=_plan_remote_delete,
)
PURGE = Operation(
    name="purge",
    perm="registry.purge_dataset",
    action="purge datasets",
    title="Purge",
    verb="purge",
    done="purged",
    explanation="These tombstones will be removed from the registry for good.",
    run=lambda d, actor, storage, force: purge_dataset(dataset=d, actor=actor, storage=storage),
    plan=_plan_purge,
)
RESTORE = Operation(
    name="restore",
    perm="registry.restore_dataset",
    action="restore datasets",
    title="Restore",
    verb="restore",
    done="restored",
    explanation="These tombstones will be available again, from bytes still in the store.",
    run=lambda d, actor, storage, force: restore_dataset(dataset=d, actor=actor, storage=storage),
    plan=_plan_restore,
)
OPERATIONS = {op.name: op for op in (REMOTE_DELETE, PURGE, RESTORE)}


class HashPrefixSearchMixin:
    """Admin search that also matches a hash prefix (6+ hex) through the unique index."""

    hash_field = "sha256"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        results, may_have_duplicates = super().get_search_results(  # type: ignore[misc]
            request, queryset, search_term
        )
        term = search_term.strip().lower()
        if HEX_PREFIX.fullmatch(term):
            results |= hash_prefix_matches(queryset, self.hash_field, term)
        return results, may_have_duplicates


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "short_hash",
        "name",
        "human_size",
        "state",
        "pushed_by",
        "pushed_at",
        "download_count",
        "links",
    )
    list_display_links = ("short_hash", "name")
    list_filter = ("state", "pushed_by", ("pushed_at", admin.DateFieldListFilter))
    # Searched by get_search_results below (naming a field shows the search box).
    search_fields = ("search_text",)
    search_help_text = (
        "Name, source or description (any part), or a hash prefix of 6 or more characters."
    )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """The search of the browser and `fetch --search` (DatasetQuerySet.search).

        One upper-cased column through its trigram index, or a hash prefix through the
        unique index; the admin's own search would upper-case every row's columns.
        """
        if not search_term.strip():
            return queryset, False
        return cast(DatasetQuerySet, queryset).search(search_term), False

    fields = (
        "sha256",
        "name",
        "source",
        "description",
        "human_size",
        "storage_location",
        "state",
        "pushed_by",
        "pushed_by_user",
        "pushed_at",
        "download_count",
        "deleted_at",
        "deleted_by",
        "last_verified_at",
        "corrupt_since",
        "links",
    )
    # Only descriptive text is editable: the hash, size, location and state are facts
    # about stored bytes that only the services change.
    readonly_fields = tuple(f for f in fields if f not in ("name", "source", "description"))
    inlines = (ParentEdgeInline, ChildEdgeInline)
    actions = ("remote_delete", "purge", "restore")
    show_facets = admin.ShowFacets.NEVER  # facet counts would add a query per filter

    @admin.display(description="hash", ordering="sha256")
    def short_hash(self, obj: Dataset) -> str:
        return obj.short_hash

    @admin.display(description="size", ordering="size")
    def human_size(self, obj: Dataset) -> str:
        return units.human_size(obj.size, units.NBSP)

    @admin.display(description="on the site")
    def links(self, obj: Dataset) -> str:
        lineage = reverse("registry:dataset-lineage", kwargs={"ref": obj.sha256})
        return format_html(
            '<a href="{}">page</a> · <a href="{}">lineage</a>', obj.get_absolute_url(), lineage
        )

    # Closed: Django's delete would drop the row and leave the bytes (or, in bulk, skip
    # Model.delete() altogether). The actions below replace it.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(
        self, request: HttpRequest, action_location: ActionLocation = ActionLocation.CHANGE_LIST
    ) -> dict[str, Any]:
        actions = super().get_actions(request, action_location=action_location)
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request: HttpRequest, obj: Dataset) -> None:
        """Unreachable through the admin's views; any caller still goes through a service."""
        self._perform(request, [obj], REMOTE_DELETE if obj.is_available else PURGE, force=False)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Dataset]) -> None:
        """Unreachable through the admin's views; any caller still goes through a service."""
        for obj in queryset:
            self.delete_model(request, obj)

    # --- the privileged actions ----------------------------------------------------

    def has_remote_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm(REMOTE_DELETE.perm))

    def has_purge_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm(PURGE.perm))

    def has_restore_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm(RESTORE.perm))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return self._refuse_unpermitted(request) or super().changelist_view(request, extra_context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        return self._refuse_unpermitted(request) or super().change_view(
            request, object_id, form_url, extra_context
        )

    def _refuse_unpermitted(self, request: HttpRequest) -> HttpResponse | None:
        """Refuse, clearly and on the audit trail, a privileged action the user lacks.

        The admin offers such an action only to those who hold its permission; a post
        naming it anyway (a crafted form, a stale page) would otherwise be dropped
        without a word and without a record.
        """
        if request.method != "POST":
            return None
        field = CHANGE_FORM_ACTION_FIELD if CHANGE_FORM_ACTION_FIELD in request.POST else "action"
        operation = OPERATIONS.get(request.POST.get(field, ""))
        if operation is None or request.user.has_perm(operation.perm):
            return None
        selected = [pk for pk in request.POST.getlist(ACTION_CHECKBOX_NAME) if pk.isdigit()]
        one = Dataset.objects.filter(pk=selected[0]).first() if len(selected) == 1 else None
        try:
            require_permission(
                Actor.for_request(request),
                operation.perm,
                action=operation.action,
                sha256=one.sha256 if one else "",
            )
        except PermissionDenied as exc:
            self.message_user(request, str(exc), messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    @admin.action(
        description="Remote delete (keep a tombstone)",
        description_plural="Remote delete selected datasets (keep tombstones)",
        permissions=["remote_delete"],
        location=BOTH_PLACES,
    )
    def remote_delete(
        self, request: HttpRequest, queryset: QuerySet[Dataset]
    ) -> HttpResponse | None:
        return self._run(request, queryset, REMOTE_DELETE)

    @admin.action(
        description="Purge this tombstone for good",
        description_plural="Purge selected tombstones for good",
        permissions=["purge"],
        location=BOTH_PLACES,
    )
    def purge(self, request: HttpRequest, queryset: QuerySet[Dataset]) -> HttpResponse | None:
        return self._run(request, queryset, PURGE)

    @admin.action(
        description="Restore this tombstone from stored bytes",
        description_plural="Restore selected tombstones from stored bytes",
        permissions=["restore"],
        location=BOTH_PLACES,
    )
    def restore(self, request: HttpRequest, queryset: QuerySet[Dataset]) -> HttpResponse | None:
        return self._run(request, queryset, RESTORE)

    def _run(
        self, request: HttpRequest, queryset: QuerySet[Dataset], operation: Operation
    ) -> HttpResponse | None:
        """First a confirmation page listing what will happen; its "yes" posts back here."""
        on_change_form = CHANGE_FORM_ACTION_FIELD in request.POST
        across = not on_change_form and request.POST.get("select_across") == "1"
        if request.POST.get("post") != "yes":
            return self._confirm(
                request, queryset, operation, on_change_form=on_change_form, across=across
            )
        if across and request.POST.get("selection") != selection_token(queryset):
            self.message_user(
                request,
                "The selection changed since it was confirmed (datasets were pushed, "
                "deleted or purged meanwhile): nothing was done. Review it again.",
                messages.ERROR,
            )
            return None
        datasets = list(queryset.order_by("name", "pk"))
        self._perform(request, datasets, operation, force=request.POST.get("force") == "1")
        if on_change_form and operation is PURGE:
            return HttpResponseRedirect(reverse("admin:registry_dataset_changelist"))
        return None  # back to the list, or to the dataset's page

    def _confirm(
        self,
        request: HttpRequest,
        queryset: QuerySet[Dataset],
        operation: Operation,
        *,
        on_change_form: bool,
        across: bool,
    ) -> TemplateResponse:
        with get_storage() as storage:
            plan = operation.plan(queryset, storage)
        if on_change_form and plan.rows:
            back = reverse("admin:registry_dataset_change", args=[plan.rows[0].dataset.pk])
        else:
            back = reverse("admin:registry_dataset_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": f"{operation.title}: are you sure?",
            "opts": self.opts,
            "operation": operation,
            "plan": plan,
            "needs_force": operation is REMOTE_DELETE and plan.living_total > 0,
            "action_field": CHANGE_FORM_ACTION_FIELD if on_change_form else "action",
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            # Every page at once is posted back as "across" and the list's filters (the
            # form posts to this URL), never as thousands of ids; the ids of the rows
            # ticked on the page (at most a page of them) go too, as the admin needs.
            "across": across,
            "selection": selection_token(queryset) if across else "",
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "back_url": back,
        }
        return TemplateResponse(request, "admin/registry/dataset/confirm_operation.html", context)

    def _perform(
        self, request: HttpRequest, datasets: list[Dataset], operation: Operation, *, force: bool
    ) -> None:
        """Run the service on each dataset; each one is all-or-nothing on its own."""
        actor = Actor.for_request(request)
        done = 0
        failures: list[str] = []
        with get_storage() as storage:
            for dataset in datasets:
                try:
                    operation.run(dataset, actor, storage, force)
                except PermissionDenied as exc:
                    self.message_user(request, str(exc), messages.ERROR)
                    return  # the rest would be refused the same way
                except DataTracError as exc:
                    failures.append(f"{dataset}: {exc}")
                else:
                    done += 1
        # A bounded number of messages, however many datasets were selected.
        for failure in failures[:MESSAGES_SHOWN]:
            self.message_user(request, failure, messages.ERROR)
        if len(failures) > MESSAGES_SHOWN:
            self.message_user(
                request,
                f"... and {len(failures) - MESSAGES_SHOWN} more not {operation.done}.",
                messages.ERROR,
            )
        if done:
            self.message_user(
                request, f"{operation.done.capitalize()} {done} dataset(s).", messages.SUCCESS
            )


# --- the audit trail -----------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(HashPrefixSearchMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """The audit trail, browsable and read-only to everyone, superusers included."""

    list_display = ("at", "actor", "action", "dataset", "origin", "outcome", "detail")
    list_filter = ("action", "outcome", ("at", admin.DateFieldListFilter))
    search_fields = ("actor", "origin", "detail")
    search_help_text = "Who, from where or detail (any part), or a hash prefix."
    show_facets = admin.ShowFacets.NEVER
    actions = None

    @admin.display(description="dataset", ordering="sha256")
    def dataset(self, obj: AuditEvent) -> str:
        if not obj.sha256:
            return "-"
        # The hash, not a row: a purged dataset's page is a 404, its events stay here.
        url = reverse("registry:dataset-detail", kwargs={"ref": obj.sha256})
        return format_html('<a href="{}" class="mono">{}</a>', url, obj.sha256[:12])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- django-axes' records of sign-ins --------------------------------------------------


def _with_valid_address_lookups(admin_class: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:  # type: ignore[type-arg]
    """``admin_class`` refusing (a 400) a list lookup on ``ip_address`` that is no address.

    The admin takes any field of the model as a lookup from the query string; on
    PostgreSQL an ``inet`` value is only checked as the query is compiled, after the
    admin's own check of its lookups, so ``?ip_address=x`` was a 500.
    """

    class ValidAddressLookups(admin_class):  # type: ignore[valid-type, misc]
        def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
            if lookup in ("ip_address", "ip_address__exact"):
                try:
                    validate_ipv46_address(value)
                except ValidationError:
                    return False
            return bool(super().lookup_allowed(lookup, value, request))

    ValidAddressLookups.__name__ = admin_class.__name__
    return ValidAddressLookups


for _model in (AccessAttempt, AccessLog, AccessFailureLog):
    if admin.site.is_registered(_model):
        _registered = type(admin.site.get_model_admin(_model))
        admin.site.unregister(_model)
        admin.site.register(_model, _with_valid_address_lookups(_registered))
