"""The interactive API docs in a real Chromium, under the site's strict CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import BrowserSession

pytestmark = pytest.mark.browser


def test_the_api_docs_render_under_the_csp_without_console_errors(web: BrowserSession) -> None:
    page = web.page
    page.goto(web.url("/api/v1/docs"))  # type: ignore[attr-defined]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("DataTrac")  # type: ignore[attr-defined]
    expect(page.locator(".opblock-summary-path").first).to_be_visible()  # type: ignore[attr-defined]
    lineage_path = page.get_by_text("/api/v1/datasets/{ref}/lineage", exact=True)  # type: ignore[attr-defined]
    expect(lineage_path.first).to_be_visible()
    web.screenshot("api-docs")
    # The `web` fixture fails the test on any console error, CSP violations included.
