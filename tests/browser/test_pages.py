"""A person's walk through DataTrac in a real Chromium: sign in, find, read, download, lineage."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from registry.models import Dataset
from registry.storage.local import LocalStorage
from tests.factories import DatasetFactory, LineageEdgeFactory
from tests.fixtures.browser import BrowserSession
from tests.webhelpers import stored_dataset, viewer

pytestmark = pytest.mark.browser


NAME_CELLS = "#datasets-table tbody td.col-name a"


def rows(web: BrowserSession) -> list[str]:
    return web.page.locator(NAME_CELLS).all_inner_texts()  # type: ignore[attr-defined]


def mark_page(web: BrowserSession) -> None:
    """Leave a value in the window: it survives htmx swaps but not a full page load."""
    web.page.evaluate("window.__sameDocument = true")  # type: ignore[attr-defined]


def still_same_page(web: BrowserSession) -> bool:
    return web.page.evaluate("window.__sameDocument === true")  # type: ignore[attr-defined]


def test_sign_in_page_and_wrong_password(web: BrowserSession) -> None:
    viewer("alice")
    page = web.page
    page.goto(web.url("/"))  # type: ignore[attr-defined]
    assert "/accounts/login/" in page.url  # type: ignore[attr-defined]
    web.screenshot("sign-in")
    page.fill("#id_username", "alice")  # type: ignore[attr-defined]
    page.fill("#id_password", "wrong")  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    assert page.locator(".notice-error").is_visible()  # type: ignore[attr-defined]
    web.sign_in("alice")
    assert page.locator(".nav-username").inner_text() == "alice"  # type: ignore[attr-defined]
    assert page.locator("text=The registry is empty").is_visible()  # type: ignore[attr-defined]
    web.screenshot("browser-empty")
    page.click("text=Sign out")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r".*/accounts/login/$"))  # type: ignore[attr-defined]


def test_search_narrows_the_table_without_a_full_reload(web: BrowserSession) -> None:
    viewer("alice")
    DatasetFactory(name="weather-stations-2024.csv", source="https://noaa.example/ws")
    DatasetFactory(name="rainfall-daily.parquet", description="from the weather stations")
    for i in range(10):
        DatasetFactory(name=f"sales-{i:02d}.csv", source="crm export")
    web.sign_in("alice")
    page = web.page
    web.screenshot("browser")
    assert len(rows(web)) == 12
    mark_page(web)

    page.fill("#q", "weather")  # type: ignore[attr-defined]
    expect(page.locator(NAME_CELLS)).to_have_count(2)  # type: ignore[attr-defined]
    assert sorted(rows(web)) == ["rainfall-daily.parquet", "weather-stations-2024.csv"]
    assert still_same_page(web)
    assert "q=weather" in page.url  # type: ignore[attr-defined]
    web.screenshot("browser-search")

    page.fill("#q", "stations-2024")  # type: ignore[attr-defined]
    expect(page.locator(NAME_CELLS)).to_have_count(1)  # type: ignore[attr-defined]
    assert still_same_page(web)

    # Back restores the previous search; a shared link opens the same view.
    page.go_back()  # type: ignore[attr-defined]
    expect(page.locator(NAME_CELLS)).to_have_count(2)  # type: ignore[attr-defined]
    expect(page.locator("#q")).to_have_value("weather")  # type: ignore[attr-defined]
    page.goto(web.url("/?q=sales-0"))  # type: ignore[attr-defined]
    assert len(rows(web)) == 10


def test_sort_and_page_through_the_table(web: BrowserSession) -> None:
    viewer("alice")
    now = timezone.now()
    for i in range(30):
        DatasetFactory(
            name=f"set-{i:02d}", size=(i * 7919) % 30 * 1000, pushed_at=now - timedelta(minutes=i)
        )
    web.sign_in("alice")
    page = web.page
    mark_page(web)
    assert rows(web)[:2] == ["set-00", "set-01"]

    page.click("#datasets-table th >> text=Size")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r".*sort=size"))  # type: ignore[attr-defined]
    sizes = [Dataset.objects.get(name=name).size for name in rows(web)]
    assert sizes == sorted(sizes) and len(sizes) == 25
    page.click("#datasets-table th >> text=Size")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r".*sort=-size"))  # type: ignore[attr-defined]
    first_page = rows(web)
    assert Dataset.objects.get(name=first_page[0]).size == 29_000

    # Keyset pages: Next carries the last row shown (?after=<id>), Previous the first.
    page.click(".pagination >> text=Next")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r".*after=\d+"))  # type: ignore[attr-defined]
    expect(page.locator(NAME_CELLS)).to_have_count(5)  # type: ignore[attr-defined]
    second_page = rows(web)
    assert not set(second_page) & set(first_page)
    assert "sort=-size" in page.url  # type: ignore[attr-defined]
    assert still_same_page(web)
    web.screenshot("browser-sorted-page-2")
    page.click(".pagination >> text=Previous")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r".*before=\d+"))  # type: ignore[attr-defined]
    expect(page.locator(NAME_CELLS)).to_have_count(25)  # type: ignore[attr-defined]
    assert rows(web) == first_page
    assert still_same_page(web)


def test_open_a_dataset_and_download_it(
    web: BrowserSession, local_store: LocalStorage, tmp_path: Path
) -> None:
    viewer("alice")
    content = b"station,day,mm\n" + b"LHR,2024-01-01,3.2\n" * 20_000
    dataset = stored_dataset(
        local_store,
        tmp_path,
        content,
        name="rainfall.csv",
        source="https://data.example.org/rainfall.csv",
        description="Daily rainfall per station.\nOne row per station and day.",
    )
    web.sign_in("alice")
    page = web.page
    page.click("text=rainfall.csv")  # type: ignore[attr-defined]
    page.wait_for_url(web.url(dataset.get_absolute_url()))  # type: ignore[attr-defined]
    assert page.locator("#full-hash").inner_text() == dataset.sha256  # type: ignore[attr-defined]
    assert page.locator("a[href='https://data.example.org/rainfall.csv']").is_visible()  # type: ignore[attr-defined]
    assert page.locator(".copy-button").is_visible()  # type: ignore[attr-defined]
    web.screenshot("dataset")

    with page.expect_download() as info:  # type: ignore[attr-defined]
        page.click("text=Download")  # type: ignore[attr-defined]
    download = info.value
    assert download.suggested_filename == "rainfall.csv"
    saved = tmp_path / "downloaded.csv"
    download.save_as(saved)
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == dataset.sha256
    dataset.refresh_from_db()
    assert dataset.download_count == 1

    page.reload()  # type: ignore[attr-defined]
    assert page.locator(".chart-bar").count() == 1  # type: ignore[attr-defined]
    web.screenshot("dataset-after-download")


def test_lineage_explorer_walks_to_a_parent(web: BrowserSession) -> None:
    viewer("alice")
    raw = DatasetFactory(name="raw-sensor-dump.bin")
    clean = DatasetFactory(name="clean-readings.parquet")
    features = DatasetFactory(name="features.parquet")
    LineageEdgeFactory(parent=raw, child=clean)
    LineageEdgeFactory(parent=clean, child=features)
    for i in range(3):
        LineageEdgeFactory(parent=features, child=DatasetFactory(name=f"model-{i}.bin"))
    web.sign_in("alice")
    page = web.page
    page.goto(web.url(features.get_absolute_url()))  # type: ignore[attr-defined]
    page.click("text=Lineage explorer")  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Lineage of features.parquet"  # type: ignore[attr-defined]
    graph = page.locator("svg.lineage-graph")  # type: ignore[attr-defined]
    assert graph.locator(".node").count() == 5  # clean, features, 3 models
    assert graph.locator(".node-center").count() == 1
    assert graph.locator(".badge-link").count() == 1  # clean has a parent not drawn
    web.screenshot("lineage")
    mark_page(web)

    graph.locator(f"[data-sha256='{clean.sha256}'] a.node-link").click()
    page.wait_for_url(re.compile(rf".*/datasets/{clean.sha256}/lineage$"))  # type: ignore[attr-defined]
    page.wait_for_selector("h1:has-text('Lineage of clean-readings.parquet')")  # type: ignore[attr-defined]
    assert still_same_page(web)
    graph = page.locator("svg.lineage-graph")  # type: ignore[attr-defined]
    assert graph.locator(f"[data-sha256='{raw.sha256}']").count() == 1
    web.screenshot("lineage-parent")

    # Deeper: the whole chain at depth 2, then open the root's page from its node.
    page.click(".depth-choice >> text=2")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r".*depth=2"))  # type: ignore[attr-defined]
    expect(page.locator("svg.lineage-graph .node")).to_have_count(6)  # type: ignore[attr-defined]
    graph.locator(f"[data-sha256='{raw.sha256}'] a.node-link").click()
    page.wait_for_selector("h1:has-text('Lineage of raw-sensor-dump.bin')")  # type: ignore[attr-defined]
    page.locator(".node-center a.node-link").click()  # type: ignore[attr-defined]
    page.wait_for_url(web.url(raw.get_absolute_url()))  # type: ignore[attr-defined]


def test_expanding_a_node_loads_its_next_hop(web: BrowserSession) -> None:
    viewer("alice")
    grandparent = DatasetFactory(name="grandparent.csv")
    parent = DatasetFactory(name="parent.csv")
    child = DatasetFactory(name="child.csv")
    LineageEdgeFactory(parent=grandparent, child=parent)
    LineageEdgeFactory(parent=parent, child=child)
    web.sign_in("alice")
    page = web.page
    page.goto(web.url(f"/datasets/{child.sha256}/lineage"))  # type: ignore[attr-defined]
    assert page.locator("svg .node").count() == 2  # type: ignore[attr-defined]
    page.locator(f"[data-sha256='{parent.sha256}'] .badge-link").click()  # type: ignore[attr-defined]
    expect(page.locator("svg .node")).to_have_count(3)  # type: ignore[attr-defined]
    assert "expand=" in page.url  # type: ignore[attr-defined]
    web.screenshot("lineage-expanded")


def test_pages_work_with_javascript_off(browser: object, live_server: object) -> None:
    viewer("alice")
    DatasetFactory(name="weather.csv")
    DatasetFactory(name="sales.csv")
    context = browser.new_context(java_script_enabled=False)  # type: ignore[attr-defined]
    page = context.new_page()
    web = BrowserSession(page=page, base_url=live_server.url)  # type: ignore[attr-defined]
    web.sign_in("alice")
    page.fill("#q", "weather")
    page.click("button:has-text('Search')")
    page.wait_for_url(re.compile(r".*q=weather"))
    assert rows(web) == ["weather.csv"]
    assert not page.locator(".copy-button").is_visible()
    context.close()


def test_a_phone_sized_window_shows_the_essentials(web: BrowserSession) -> None:
    viewer("alice")
    dataset = DatasetFactory(name="weather-stations-2024.csv", size=123_456_789)
    LineageEdgeFactory(parent=DatasetFactory(name="raw.csv"), child=dataset)
    page = web.page
    page.set_viewport_size({"width": 390, "height": 844})  # type: ignore[attr-defined]
    web.sign_in("alice")
    width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= 390
    web.screenshot("phone-browser")
    page.goto(web.url(dataset.get_absolute_url()))  # type: ignore[attr-defined]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # type: ignore[attr-defined]
    web.screenshot("phone-dataset")
    page.goto(web.url(f"/datasets/{dataset.sha256}/lineage"))  # type: ignore[attr-defined]
    web.screenshot("phone-lineage")
