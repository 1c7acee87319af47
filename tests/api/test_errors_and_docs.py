"""Every error is JSON with the right status; the OpenAPI document and the docs page."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from django.conf import LazySettings
from openapi_spec_validator import validate

from tests.api.conftest import assert_error, make_token
from tests.factories import DatasetFactory, LineageEdgeFactory

Api = Callable[..., httpx.Client]


def test_every_error_status_answers_json_never_html(
    api: Api, api_url: str, live_server: Any, users: dict[str, Any], settings: LazySettings
) -> None:
    parent, child = DatasetFactory(), DatasetFactory()
    LineageEdgeFactory(parent=parent, child=child)
    viewer = api(make_token(users["viewer"], "read"))
    writer = api(make_token(users["contributor"], "write"))
    cycle = {"parent": child.sha256, "child": parent.sha256}
    cases: list[tuple[httpx.Response, int, str]] = [
        (viewer.get("/datasets/xyz"), 400, "invalid_hash"),
        (api().get("/datasets"), 401, "not_authenticated"),
        (viewer.post("/lineage/links", json=cycle), 403, "permission_denied"),
        (viewer.get("/datasets/" + "f" * 64), 404, "unknown_dataset"),
        (viewer.get("/no/such/endpoint"), 404, "not_found"),
        (httpx.get(f"{live_server.url}/api/nothing-here", timeout=60), 404, "not_found"),
        (viewer.post("/whoami"), 405, "method_not_allowed"),
        (viewer.put("/datasets"), 405, "method_not_allowed"),
        (writer.post("/lineage/links", json=cycle), 409, "lineage_conflict"),
        (viewer.get("/datasets", params={"limit": 0}), 422, "validation_error"),
        (viewer.get("/datasets", params={"sort": "password"}), 422, "validation_error"),
    ]
    for response, status, error in cases:
        assert_error(response, status, error)
    assert "GET" in viewer.post("/whoami").headers["allow"]
    settings.AXES_FAILURE_LIMIT = 1
    api("dtk_1_" + "0" * 64).get("/whoami")
    assert_error(api("dtk_1_" + "0" * 64).get("/whoami"), 429, "too_many_attempts")


def test_an_unexpected_crash_is_a_json_500_without_a_traceback(
    api: Api, users: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bug cannot be caused for real on purpose: this endpoint's read is made to crash.
    def crash(**kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("registry.api.browse_datasets", crash)
    response = api(make_token(users["viewer"], "read")).get("/datasets")
    body = assert_error(response, 500, "server_error")
    assert "secret internals" not in response.text and "RuntimeError" not in body["detail"]


def test_the_openapi_document_validates_and_lists_every_endpoint(
    api_url: str, transactional_db: None
) -> None:
    text = httpx.get(f"{api_url}/openapi.json", timeout=60).text
    # No key twice in one object: json.loads keeps the last quietly, the docs page's
    # YAML parser refuses the whole document.
    document = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    validate(document)
    assert document["info"]["title"] == "DataTrac"
    assert set(document["paths"]) >= {
        "/api/v1/whoami",
        "/api/v1/datasets",
        "/api/v1/datasets/{ref}",
        "/api/v1/datasets/{ref}/lineage",
        "/api/v1/datasets/{ref}/history",
        "/api/v1/lineage/links",
        "/api/v1/uploads",
        "/api/v1/uploads/{upload_id}",
        "/api/v1/uploads/{upload_id}/parts/{n}",
        "/api/v1/uploads/{upload_id}/complete",
        "/api/v1/datasets/{ref}/content",
        "/api/v1/datasets/{ref}/purge",
        "/api/v1/datasets/{ref}/restore",
    }
    assert set(document["paths"]["/api/v1/datasets/{ref}"]) == {"get", "delete"}
    schemes = document["components"]["securitySchemes"]
    assert schemes["BearerToken"] == {"type": "http", "scheme": "bearer"}


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys in the OpenAPI document: {keys}"
    return dict(pairs)


def test_the_docs_page_loads_its_scripts_from_our_own_static_files(
    live_server: Any, transactional_db: None
) -> None:
    page = httpx.get(f"{live_server.url}/api/v1/docs", timeout=60)
    assert page.status_code == 200
    scripts = re.findall(r"<script([^>]*)>", page.text)
    # The settings are a JSON data block; every executable script has a same-origin src.
    executable = [s for s in scripts if "application/json" not in s]
    assert executable and all('src="/static/' in s for s in executable)
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        assert httpx.get(live_server.url + asset, timeout=60).status_code == 200, asset
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]


def test_django_setup_does_not_import_the_api_framework() -> None:
    # Every CLI command runs django.setup(); django-ninja and pydantic cost it 150-400 ms
    # and only the web server needs them (through the URLconf).
    import subprocess
    import sys

    code = (
        "import sys, django; django.setup(); "
        "print('ninja' in sys.modules, 'pydantic' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == ["False", "False"], out.stderr
