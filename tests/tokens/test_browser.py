"""The API tokens page in a real Chromium: create a token, use it, revoke it."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.factories import member_of
from tests.fixtures.browser import BrowserSession
from tokens.models import AccessToken

pytestmark = pytest.mark.browser


def test_a_user_creates_a_token_sees_it_once_and_revokes_it(web: BrowserSession) -> None:
    member_of("contributors", "carol")
    web.sign_in("carol")
    page = web.page
    page.click("nav >> text=API tokens")  # type: ignore[attr-defined]
    page.wait_for_url(web.url("/tokens/"))  # type: ignore[attr-defined]
    page.evaluate("window.__sameDocument = true")  # type: ignore[attr-defined]
    options = page.locator("#token-scope option").all_inner_texts()  # type: ignore[attr-defined]
    assert [o.split(":")[0] for o in options] == ["read", "write"]

    page.fill("#token-name", "nightly CI")  # type: ignore[attr-defined]
    page.select_option("#token-scope", "write")  # type: ignore[attr-defined]
    page.select_option("#token-days", "30")  # type: ignore[attr-defined]
    page.click("#token-create button[type=submit]")  # type: ignore[attr-defined]
    secret_box = page.locator("#new-token-secret")  # type: ignore[attr-defined]
    expect(secret_box).to_be_visible()
    secret = secret_box.inner_text().strip()
    assert secret.startswith("dtk_")
    expect(page.locator("#tokens-table .token-status")).to_have_text(["active"])  # type: ignore[attr-defined]
    expect(page.locator("[data-copy-target=new-token-secret]")).to_be_visible()  # type: ignore[attr-defined]
    assert page.evaluate("window.__sameDocument === true")  # type: ignore[attr-defined]
    web.screenshot("api-tokens-created")

    api = f"{web.base_url}/api/v1/whoami"
    me = httpx.get(api, headers={"Authorization": f"Bearer {secret}"}, timeout=60)
    assert me.status_code == 200 and me.json()["scope"] == "write"

    page.click("#tokens-table button:has-text('Revoke')")  # type: ignore[attr-defined]
    expect(page.locator("#tokens-table .token-status")).to_have_text(["revoked"])  # type: ignore[attr-defined]
    expect(page.locator("#new-token-secret")).to_have_count(0)  # type: ignore[attr-defined]
    assert AccessToken.objects.get().status == "revoked"
    refused = httpx.get(api, headers={"Authorization": f"Bearer {secret}"}, timeout=60)
    assert refused.status_code == 401
    web.screenshot("api-tokens-revoked")


def test_the_tokens_page_works_with_javascript_off(browser: object, live_server: object) -> None:
    member_of("viewers", "alice")
    context = browser.new_context(java_script_enabled=False)  # type: ignore[attr-defined]
    try:
        page = context.new_page()
        web = BrowserSession(page=page, base_url=live_server.url)  # type: ignore[attr-defined]
        web.sign_in("alice")
        page.goto(web.url("/tokens/"))
        page.fill("#token-name", "laptop")
        page.click("#token-create button[type=submit]")
        assert page.locator("#new-token-secret").inner_text().startswith("dtk_")
        page.click("#tokens-table button:has-text('Revoke')")
        page.wait_for_url(web.url("/tokens/"))
        assert page.locator("#tokens-table .token-status").inner_text() == "revoked"
    finally:
        context.close()
