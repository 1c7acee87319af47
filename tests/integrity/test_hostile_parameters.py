"""Every parameter a page reads, given hostile values: a 400 or ignored, never a 500.

The class of bug, not its two known cases (`?after=²`, a NUL in an admin list filter on
PostgreSQL): every URL (public pages, the lineage page, the admin's lists and pages of
every registered model) crossed with every query parameter it reads (for the admin's
lists, also every parameter its own filter and sort links carry, and every field name,
which the admin takes as a lookup) and a set of hostile values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from registry.models import AuditEvent, Dataset
from registry.storage.local import LocalStorage
from tests.factories import DatasetFactory, LineageEdgeFactory, UserFactory
from tests.webhelpers import PASSWORD, stored_dataset

pytestmark = pytest.mark.django_db

HOSTILE = [
    "²",  # isdigit() says yes, int() says no
    "٣",  # an Arabic-Indic digit: int() takes it
    "\x00",
    "9" * 30,  # beyond a bigint
    "-" + "9" * 5000,  # beyond int()'s digit limit
    "1.5",
    "2026-13-45",
    "é🙂\u202e'; --%",
    "x" * 10_000,
    "",
]

# What each public page reads from the query string.
PUBLIC_PARAMS = {
    "list": ["q", "deleted", "sort", "after", "before"],
    "detail": ["parents", "children"],
    "lineage": ["depth", "expand"],
    "download": [],
    "login": ["next"],
}
# What every admin list reads besides its filters' own parameters and field lookups.
ADMIN_LIST_PARAMS = ["q", "o", "p", "all", "e", "_to_field", "_popup", "_changelist_filters"]
ADMIN_PAGE_PARAMS = ["_changelist_filters", "_to_field", "_popup"]


@pytest.fixture
def registry(local_store: LocalStorage, tmp_path: Path) -> Dataset:
    """A stored dataset with a parent, a child and a tombstone beside it."""
    dataset = stored_dataset(local_store, tmp_path, b"a,b\n1,2\n", name="middle.csv")
    LineageEdgeFactory(parent=DatasetFactory(name="raw.csv"), child=dataset)
    LineageEdgeFactory(parent=dataset, child=DatasetFactory(name="clean.csv"))
    DatasetFactory(name="gone.csv", state=Dataset.State.DELETED)
    AuditEvent.objects.create(
        actor="alice", action="push", sha256=dataset.sha256, origin="cli", outcome="ok"
    )
    return dataset


def _server_errors(
    client: Client, url: str, params: list[str], *, method: str = "get", **extra: str
) -> Iterator[str]:
    """``url`` requested with each of ``params`` set to each hostile value in turn."""
    client.raise_request_exception = False  # a 500 is an answer to count, not to stop at
    for param in params:
        for value in HOSTILE:
            data = {**extra, param: value}
            response = getattr(client, method)(url, data)
            if response.status_code >= 500:
                yield f"{method.upper()} {url} {param}={value[:20]!r}: {response.status_code}"


def _link_params(html: str) -> set[str]:
    """The query parameters of every link on a page (an admin list's filters and sorts)."""
    names: set[str] = set()
    for href in re.findall(r'href="([^"]*)"', html):
        query = urlsplit(unescape(href)).query
        names.update(name for name, _ in parse_qsl(query, keep_blank_values=True))
    return names


def test_public_pages_never_answer_a_hostile_parameter_with_a_500(
    admin_client: Client, client: Client, registry: Dataset
) -> None:
    ref = {"ref": registry.sha256}
    urls = {
        "list": reverse("registry:dataset-list"),
        "detail": reverse("registry:dataset-detail", kwargs=ref),
        "lineage": reverse("registry:dataset-lineage", kwargs=ref),
        "download": reverse("registry:dataset-download", kwargs=ref),
        "login": reverse("login"),
    }
    failures = [
        failure
        for page, url in urls.items()
        # Each page's own parameters, and the others' (which it must ignore).
        for failure in _server_errors(
            admin_client, url, sorted({p for ps in PUBLIC_PARAMS.values() for p in ps})
        )
    ]
    # The anonymous side: the sign-in form itself, and the pages it guards.
    UserFactory(username="bob")
    failures += _server_errors(
        client, urls["login"], ["username", "password", "next"], method="post", password=PASSWORD
    )
    failures += _server_errors(client, urls["list"], PUBLIC_PARAMS["list"])
    assert not failures, "\n".join(failures)


def _admin_models() -> list[type[Model]]:
    return sorted(admin.site._registry, key=lambda model: model._meta.label)


@pytest.mark.parametrize("model", _admin_models(), ids=lambda model: model._meta.label)
def test_admin_pages_never_answer_a_hostile_parameter_with_a_500(
    admin_client: Client, registry: Dataset, model: type[Model]
) -> None:
    info = (model._meta.app_label, model._meta.model_name)
    changelist = reverse("admin:{}_{}_changelist".format(*info))
    listing = admin_client.get(changelist)
    assert listing.status_code == 200
    fields = [f.name for f in model._meta.get_fields() if f.concrete]
    params = sorted(set(ADMIN_LIST_PARAMS) | _link_params(listing.content.decode()) | set(fields))
    failures = list(_server_errors(admin_client, changelist, params))

    if (obj := model._default_manager.order_by("pk").first()) is not None:
        for view in ("change", "history"):
            page = reverse(f"admin:{info[0]}_{info[1]}_{view}", args=[obj.pk])
            failures += _server_errors(admin_client, page, ADMIN_PAGE_PARAMS)
    add = reverse("admin:{}_{}_add".format(*info))
    if admin_client.get(add).status_code == 200:
        # The add form takes initial values for its fields from the query string.
        failures += _server_errors(admin_client, add, ADMIN_PAGE_PARAMS + fields)

    # The actions: the selection and the action's own fields, as a crafted post sends them.
    failures += _server_errors(
        admin_client,
        changelist,
        [ACTION_CHECKBOX_NAME, "action", "index", "post", "force"],
        method="post",
        action="remote_delete",
        index="0",
    )
    assert not failures, "\n".join(failures)


def test_the_reported_cases_are_a_400_or_ignored(admin_client: Client, registry: Dataset) -> None:
    # A superscript digit is no cursor: the first page, as without one.
    for param in ("after", "before"):
        assert admin_client.get("/", {param: "²"}).status_code == 200
    # A NUL reaches no query (PostgreSQL refuses one in any text value).
    changelist = reverse("admin:registry_dataset_changelist")
    for param in ("sha256", "state", "q"):
        assert admin_client.get(changelist, {param: "\x00"}).status_code == 400
    # A quoted cookie's octal escapes are unquoted by Django: this session key is NULs.
    nul_session = 'sessionid="' + "\\000" * 40 + '"'
    assert admin_client.get("/", HTTP_COOKIE=nul_session).status_code == 400


def test_a_nul_in_a_cookie_datatrac_never_reads_does_not_refuse_the_site(
    admin_client: Client, registry: Dataset
) -> None:
    # Another application on the same domain (a sibling sub-domain's Domain=.example
    # cookie) may set what it likes; only the session cookie reaches a query.
    foreign = '_other_app="' + "\\000" * 4 + '"'
    session = admin_client.cookies["sessionid"].value
    response = admin_client.get("/", HTTP_COOKIE=f"{foreign}; sessionid={session}")
    assert response.status_code == 200
