"""API reads cost a fixed number of queries, however many rows they return."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from registry.actors import Actor
from tests.factories import DatasetFactory, LineageEdgeFactory, member_of
from tokens.services import create_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def bearer() -> dict[str, str]:
    user: Any = member_of("administrators", "boss")
    secret = create_token(actor=Actor.for_user(user), name="q", scope="admin").secret
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.mark.parametrize("rows", [3, 60])
def test_listing_and_lineage_queries_do_not_grow_with_rows(
    client: Client, bearer: dict[str, str], rows: int, django_assert_max_num_queries: Any
) -> None:
    center = DatasetFactory()
    for _ in range(rows):
        LineageEdgeFactory(parent=center, child=DatasetFactory())
    # Authentication (throttle check, token, last use, permissions) plus the read itself.
    with django_assert_max_num_queries(6):
        listing = client.get("/api/v1/datasets?limit=200", **bearer)
    assert listing.status_code == 200 and len(listing.json()["items"]) == rows + 1
    with django_assert_max_num_queries(6):
        graph = client.get(f"/api/v1/datasets/{center.sha256}/lineage", **bearer)
    assert graph.status_code == 200 and len(graph.json()["descendants"]) == rows
    with django_assert_max_num_queries(6):
        assert client.get(f"/api/v1/datasets/{center.sha256}/history", **bearer).status_code == 200
