"""The registry's web pages: full pages, htmx fragments, access, and query counts."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import LazySettings
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from registry.errors import IntegrityFailure
from registry.models import AuditEvent, Dataset, DownloadRecord
from registry.storage.local import LocalStorage
from tests.factories import DatasetFactory, DownloadRecordFactory, LineageEdgeFactory, UserFactory
from tests.webhelpers import stored_dataset, viewer

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
LIST_URL = reverse("registry:dataset-list")
XSS_NAME = '<script>alert(1)</script><b hx-get="/evil" hx-trigger="load">x</b>'


def detail_url(dataset: Dataset) -> str:
    return reverse("registry:dataset-detail", kwargs={"ref": dataset.sha256})


def download_url(dataset: Dataset) -> str:
    return reverse("registry:dataset-download", kwargs={"ref": dataset.sha256})


@pytest.fixture
def user_client(client: Client) -> Client:
    client.force_login(viewer("alice"))
    return client


@pytest.fixture
def stored(local_store: LocalStorage, tmp_path: Path) -> Callable[..., Dataset]:
    def make(content: bytes, name: str = "data.csv", **fields: object) -> Dataset:
        return stored_dataset(local_store, tmp_path, content, name=name, **fields)

    return make


# --- access ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dataset-list", "dataset-detail", "dataset-download"])
def test_anonymous_user_is_sent_to_sign_in(client: Client, name: str) -> None:
    dataset = DatasetFactory()
    url = reverse(
        f"registry:{name}", kwargs={} if name == "dataset-list" else {"ref": dataset.sha256}
    )
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_anonymous_htmx_request_redirects_the_whole_page(client: Client) -> None:
    response = client.get(LIST_URL + "?q=x", HTTP_HX_CURRENT_URL="http://testserver/?q=x", **HX)
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith(reverse("login") + "?next=")


def test_public_read_lets_anonymous_users_browse(client: Client, settings: LazySettings) -> None:
    settings.DATATRAC_PUBLIC_READ = True
    dataset = DatasetFactory(name="open-data.csv")
    assert b"open-data.csv" in client.get(LIST_URL).content
    assert client.get(detail_url(dataset)).status_code == 200


def test_sign_in_page_renders_and_signs_in(client: Client) -> None:
    viewer("bob")
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b"Sign in to DataTrac" in page.content
    response = client.post(
        reverse("login"), {"username": "bob", "password": "correct horse battery"}
    )
    assert response.status_code == 302
    assert client.get(LIST_URL).status_code == 200


def test_sign_out_is_a_post_with_csrf(user_client: Client) -> None:
    page = user_client.get(LIST_URL)
    assert b'action="/accounts/logout/"' in page.content
    response = user_client.post(reverse("logout"))
    assert response.status_code == 302
    assert user_client.get(LIST_URL).status_code == 302


# --- browser -----------------------------------------------------------------------


def test_browser_page_lists_available_datasets(user_client: Client) -> None:
    shown = DatasetFactory(name="weather-2024.csv", size=2048, download_count=7)
    DatasetFactory(name="old.csv", state=Dataset.State.DELETED)
    response = user_client.get(LIST_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and 'id="results"' in html
    assert "weather-2024.csv" in html
    assert shown.short_hash in html
    assert "2.0\xa0KiB" in html
    assert "old.csv" not in html
    assert response["Content-Security-Policy"]
    assert "HX-Request" in response["Vary"]


def test_every_row_cell_has_its_header_cells_class(user_client: Client) -> None:
    # The header comes from the table's columns, the rows from registry.tables.ROW_HTML:
    # this keeps the two from drifting apart (column widths and alignment hang on them).
    DatasetFactory()
    html = user_client.get(LIST_URL).content.decode()
    header = re.findall(r'<th class="([^"]*)"', html)
    row = re.search(r"<tbody[^>]*>\s*(<tr.*?</tr>)", html, re.S)
    assert row is not None
    cells = re.findall(r'<td class="([^"]*)"', row.group(1))
    assert len(cells) == len(header) == 7
    for th, td in zip(header, cells, strict=True):
        assert set(th.split()) - {"orderable", "asc", "desc"} <= set(td.split()), (th, td)


def test_deleted_datasets_show_when_asked_for(user_client: Client) -> None:
    DatasetFactory(name="old.csv", state=Dataset.State.DELETED)
    html = user_client.get(LIST_URL + "?deleted=1").content.decode()
    assert "old.csv" in html
    assert "badge-deleted" in html


def test_browser_fragment_is_only_the_results(user_client: Client) -> None:
    DatasetFactory(name="weather-2024.csv")
    response = user_client.get(LIST_URL + "?q=weather", **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="results"')
    assert "<html" not in html
    assert "weather-2024.csv" in html


def test_history_restore_gets_the_whole_page(user_client: Client) -> None:
    response = user_client.get(LIST_URL, HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HX)
    assert b"<html" in response.content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("weather", "weather-2024.csv"),
        ("noaa", "weather-2024.csv"),
        ("rainfall", "weather-2024.csv"),
    ],
)
def test_search_matches_name_source_and_description(
    user_client: Client, query: str, expected: str
) -> None:
    DatasetFactory(name="weather-2024.csv", source="https://noaa.example/x", description="Rainfall")
    DatasetFactory(name="sales.csv", source="crm export", description="Q1")
    html = user_client.get(LIST_URL, {"q": query}, **HX).content.decode()
    assert expected in html
    assert "sales.csv" not in html


def test_search_matches_a_hash_prefix(user_client: Client) -> None:
    target = DatasetFactory(name="target.bin")
    DatasetFactory(name="other.bin")
    html = user_client.get(LIST_URL, {"q": target.sha256[:10]}).content.decode()
    assert "target.bin" in html
    assert "other.bin" not in html


def test_a_pasted_hash_prefix_finds_that_dataset_alone(user_client: Client) -> None:
    target = DatasetFactory(name="target.bin")
    prefix = target.sha256[:8]
    # A name that happens to contain the same hex is not what someone pasting a hash wants.
    DatasetFactory(name=f"run-{prefix}.log")
    html = user_client.get(LIST_URL, {"q": prefix}).content.decode()
    assert "target.bin" in html
    assert f"run-{prefix}.log" not in html


def test_hex_text_that_starts_no_hash_is_searched_as_text(user_client: Client) -> None:
    DatasetFactory(name="cafe0123-report.csv")
    html = user_client.get(LIST_URL, {"q": "cafe0123"}).content.decode()
    assert "cafe0123-report.csv" in html


def test_pages_answer_head_but_a_download_does_not(user_client: Client) -> None:
    dataset = DatasetFactory()
    lineage = reverse("registry:dataset-lineage", kwargs={"ref": dataset.sha256})
    for url in (LIST_URL, detail_url(dataset), lineage):
        assert user_client.head(url).status_code == 200, url
    download = reverse("registry:dataset-download", kwargs={"ref": dataset.sha256})
    assert user_client.head(download).status_code == 405
    assert Dataset.objects.get().download_count == dataset.download_count


def test_search_with_no_match_says_so(user_client: Client) -> None:
    DatasetFactory(name="sales.csv")
    html = user_client.get(LIST_URL, {"q": "zzz-nothing"}).content.decode()
    assert "No datasets match." in html
    assert "registry is empty" not in html


def test_empty_registry_explains_how_to_push(user_client: Client) -> None:
    html = user_client.get(LIST_URL).content.decode()
    assert "The registry is empty" in html
    assert "datatrac push" in html


def test_sorting_by_size_orders_rows_and_keeps_the_query(user_client: Client) -> None:
    for size in (300, 100, 200):
        DatasetFactory(name=f"set-{size}.csv", size=size)
    html = user_client.get(LIST_URL, {"q": "set-", "sort": "size"}).content.decode()
    assert html.index("set-100") < html.index("set-200") < html.index("set-300")
    html = user_client.get(LIST_URL, {"q": "set-", "sort": "-size"}).content.decode()
    assert html.index("set-300") < html.index("set-200") < html.index("set-100")
    # The header links keep the search, and a new search keeps the sort.
    assert 'href="?q=set-&amp;sort=size"' in html
    assert 'name="sort" value="-size" form="dataset-search"' in html


def test_pages_hold_25_rows_and_link_onwards(user_client: Client) -> None:
    now = timezone.now()
    rows = [
        DatasetFactory(name=f"row-{i:02d}", pushed_at=now - timedelta(minutes=i)) for i in range(30)
    ]
    first = user_client.get(LIST_URL).content.decode()
    assert "row-00" in first and "row-24" in first and "row-25" not in first
    assert "30 datasets" in first
    # Keyset links: the next page starts after the last row shown.
    next_link = f"?after={rows[24].pk}"
    assert f'href="{next_link}"' in first and f'hx-get="{next_link}"' in first
    assert 'rel="prev"' not in first
    second = user_client.get(LIST_URL, {"after": rows[24].pk}, **HX).content.decode()
    assert "row-25" in second and "row-29" in second and "row-24" not in second
    assert f'href="?before={rows[25].pk}"' in second  # previous page
    assert 'rel="next"' not in second
    back = user_client.get(LIST_URL, {"before": rows[25].pk}).content.decode()
    assert "row-00" in back and "row-24" in back and "row-25" not in back
    assert 'rel="prev"' not in back  # it is the first page again


def test_keyset_pages_follow_every_sort_without_overlap(user_client: Client) -> None:
    now = timezone.now()
    # Ties on size, downloads and pusher: the id settles them, so no row repeats or drops.
    for i in range(60):
        DatasetFactory(
            name=f"set-{i % 7}-{i:02d}",
            size=i % 5,
            download_count=i % 3,
            pushed_by=f"user{i % 4}",
            source=f"s3://x/{i % 6}",
            pushed_at=now - timedelta(minutes=i),
        )
    expected_all = set(Dataset.objects.values_list("name", flat=True))
    for sort in ("name", "-size", "source", "pushed_by", "-download_count", "sha256", "-pushed_at"):
        seen: list[str] = []
        params: dict[str, object] = {"sort": sort}
        while True:
            response = user_client.get(LIST_URL, params, **HX)
            table = response.context["table"]
            seen += [row.name for row in table.keyset.rows]
            if not table.keyset.has_next:
                break
            params = {"sort": sort, "after": table.keyset.next_after}
        assert len(seen) == 60 and set(seen) == expected_all, sort
        field = sort.removeprefix("-")
        values = [getattr(Dataset.objects.get(name=name), field) for name in seen]
        assert values == sorted(values, reverse=sort.startswith("-")), sort
        # And back again from the last page, with Previous.
        params = {"sort": sort, "before": table.keyset.rows[0].pk}
        back = [row.name for row in table.keyset.rows]
        while True:
            table = user_client.get(LIST_URL, params, **HX).context["table"]
            back = [row.name for row in table.keyset.rows] + back
            if not table.keyset.has_previous:
                break
            params = {"sort": sort, "before": table.keyset.previous_before}
        assert back == seen, sort


def test_a_stale_or_bad_cursor_shows_the_first_page(user_client: Client) -> None:
    DatasetFactory(name="only.csv")
    for params in ({"after": "999999"}, {"before": "999999"}, {"after": "x1"}):
        html = user_client.get(LIST_URL, params).content.decode()
        assert "only.csv" in html


def test_a_large_registry_shows_an_estimate_not_a_count(
    user_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    DatasetFactory.create_batch(3)
    monkeypatch.setattr("registry.views.EXACT_COUNT_BELOW", 1)  # "large" from one row on
    with CaptureQueriesContext(connection) as queries:
        html = user_client.get(LIST_URL).content.decode()
    counted = any("COUNT(" in query["sql"].upper() for query in queries.captured_queries)
    if connection.vendor == "postgresql":
        assert "about " in html and not counted  # the planner's estimate, no COUNT(*)
    else:
        assert "3 datasets" in html and counted  # SQLite has no cheap estimate: it counts


def test_a_search_is_not_counted_past_its_first_page(user_client: Client) -> None:
    DatasetFactory.create_batch(30, name="match.csv", source="x", description="")
    DatasetFactory(name="qzx-single.csv", source="x", description="")
    with CaptureQueriesContext(connection) as queries:
        html = user_client.get(LIST_URL, {"q": "match"}).content.decode()
    assert "more than 25 datasets" in html
    assert not any("COUNT(" in query["sql"].upper() for query in queries.captured_queries)
    html = user_client.get(LIST_URL, {"q": "qzx-single"}).content.decode()
    assert "1 dataset" in html  # all on one page: shown exactly


@pytest.mark.parametrize("rows", [5, 50])
def test_browser_query_count_does_not_grow_with_rows(
    user_client: Client, django_assert_max_num_queries: Callable[..., object], rows: int
) -> None:
    DatasetFactory.create_batch(rows)
    # The pivot must have rows after it in the -size order: a cursor at the very end
    # falls back to the first page, which is one more query.
    pivot = Dataset.objects.order_by("-size", "-id").first()
    assert pivot is not None
    # Session, user, the user's permissions (own and group), the page (one seek), the
    # planner's estimate of the total (PostgreSQL) and, for a registry that small, an
    # exact count.
    with django_assert_max_num_queries(7):
        assert user_client.get(LIST_URL, {"sort": "name"}).status_code == 200
    with django_assert_max_num_queries(6):  # a search is not counted
        assert user_client.get(LIST_URL, {"q": "dataset"}, **HX).status_code == 200
    with django_assert_max_num_queries(7):  # a deep page costs the same: one seek
        assert user_client.get(LIST_URL, {"sort": "-size", "after": pivot.pk}).status_code == 200


# --- dataset page -------------------------------------------------------------------


def test_dataset_page_shows_all_metadata(user_client: Client) -> None:
    dataset = DatasetFactory(
        name="weather.csv",
        size=1_500_000,
        source="https://noaa.example/weather.csv",
        description="Daily rainfall.\nSecond line.",
        pushed_by="carol",
        download_count=3,
    )
    html = user_client.get(detail_url(dataset)).content.decode()
    assert dataset.sha256 in html
    assert 'data-copy-target="full-hash"' in html
    assert "1,500,000 bytes" in html and "1.4\xa0MiB" in html
    assert '<a href="https://noaa.example/weather.csv" rel="nofollow noopener noreferrer"' in html
    assert dataset.storage_location in html
    assert "carol" in html
    assert "Daily rainfall.\nSecond line." in html
    assert download_url(dataset) in html
    assert reverse("registry:dataset-lineage", kwargs={"ref": dataset.sha256}) in html


def test_a_source_that_is_not_http_is_not_a_link(user_client: Client) -> None:
    dataset = DatasetFactory(source="ftp://old.example/data and some notes")
    html = user_client.get(detail_url(dataset)).content.decode()
    assert "ftp://old.example/data and some notes" in html
    assert 'href="ftp://' not in html


def test_dataset_page_opens_by_unique_prefix(user_client: Client) -> None:
    dataset = DatasetFactory()
    assert user_client.get(f"/datasets/{dataset.sha256[:10]}/").status_code == 200


@pytest.mark.parametrize("ref", ["0" * 64, "abcdef12", "not-a-hash", "abc"])
def test_unknown_or_malformed_hash_is_404(user_client: Client, ref: str) -> None:
    for name in ("dataset-detail", "dataset-download", "dataset-lineage"):
        response = user_client.get(reverse(f"registry:{name}", kwargs={"ref": ref}))
        assert response.status_code == 404, name


def test_ambiguous_prefix_is_404_naming_the_candidates(user_client: Client) -> None:
    a = DatasetFactory(sha256="abcdef" + "0" * 58)
    DatasetFactory(sha256="abcdef" + "1" * 58)
    response = user_client.get("/datasets/abcdef/")
    assert response.status_code == 404
    assert a.short_hash in response.content.decode()


SPOOF = "Your-account-is-locked-call-555-0100"


@pytest.mark.parametrize(
    "path",
    [
        f"/{SPOOF}",
        f"/datasets/{SPOOF}/",
        f"/datasets/{SPOOF}/lineage",
        f"/datasets/{SPOOF}/download",
        "/datasets/abcdef" + "0" * 20 + "/",
        f"/admin/{SPOOF}/",
        f"/accounts/{SPOOF}",
    ],
)
def test_not_found_page_is_plain_and_echoes_nothing_from_the_url(
    admin_client: Client, user_client: Client, settings: LazySettings, path: str
) -> None:
    settings.DEBUG = False  # what production serves (Django's debug 404 is another page)
    for who in (admin_client, user_client):
        if path.startswith("/admin/") and who is user_client:
            continue  # the admin sends a viewer to its sign-in page
        response = who.get(path)
        assert response.status_code == 404, path
        # The visible text: the sign-in link's ?next= may carry the path, as a URL.
        text = re.sub(r"<[^>]*>", " ", response.content.decode())
        assert "There is nothing at this address." in text
        for leak in ("Resolver404", "Your-account", "555", "abcdef", "Http404", "no dataset"):
            assert leak not in text, (path, leak)


def test_dataset_page_lists_parents_and_children(user_client: Client) -> None:
    dataset = DatasetFactory(name="middle.csv")
    LineageEdgeFactory(parent=DatasetFactory(name="raw.csv"), child=dataset)
    LineageEdgeFactory(parent=dataset, child=DatasetFactory(name="clean.csv"))
    html = user_client.get(detail_url(dataset)).content.decode()
    assert "raw.csv" in html and "clean.csv" in html


def test_dataset_page_counts_each_side_of_its_lineage(user_client: Client) -> None:
    dataset = DatasetFactory()
    for _ in range(2):
        LineageEdgeFactory(parent=DatasetFactory(), child=dataset)
    for _ in range(3):
        LineageEdgeFactory(parent=dataset, child=DatasetFactory())
    LineageEdgeFactory()  # someone else's edge counts for neither side
    html = user_client.get(detail_url(dataset)).content.decode()
    assert 'Parents <span class="count">2</span>' in html
    assert 'Children <span class="count">3</span>' in html


def test_dataset_page_fragment_pages_through_children(user_client: Client) -> None:
    dataset = DatasetFactory()
    for i in range(25):
        LineageEdgeFactory(parent=dataset, child=DatasetFactory(name=f"child-{i:02d}"))
    page = user_client.get(detail_url(dataset)).content.decode()
    assert "child-19" in page and "child-20" not in page
    assert 'hx-get="?children=2"' in page
    fragment = user_client.get(detail_url(dataset), {"children": 2}, **HX).content.decode()
    assert fragment.lstrip().startswith('<section id="relatives"')
    assert "child-20" in fragment and "child-19" not in fragment
    assert "<html" not in fragment


def test_download_chart_counts_the_last_90_days(user_client: Client) -> None:
    dataset = DatasetFactory(download_count=4)
    now = timezone.now()
    DownloadRecordFactory(dataset=dataset, downloaded_at=now)
    DownloadRecordFactory(dataset=dataset, downloaded_at=now)
    DownloadRecordFactory(dataset=dataset, downloaded_at=now - timedelta(days=10))
    DownloadRecordFactory(dataset=dataset, downloaded_at=now - timedelta(days=200))
    html = user_client.get(detail_url(dataset)).content.decode()
    assert html.count('class="chart-bar"') == 2
    assert "3 downloads in the last 90 days" in html
    assert "peak 2/day" in html


@pytest.mark.parametrize("relatives", [2, 40])
def test_dataset_page_query_count_does_not_grow(
    user_client: Client, django_assert_max_num_queries: Callable[..., object], relatives: int
) -> None:
    dataset = DatasetFactory()
    for _ in range(relatives):
        LineageEdgeFactory(parent=dataset)
        LineageEdgeFactory(child=dataset)
        DownloadRecordFactory(dataset=dataset)
    # session, user, resolve, both sides' counts (one query), a page of each side,
    # chart, history, 2 for the user's perms
    with django_assert_max_num_queries(10):
        assert user_client.get(detail_url(dataset)).status_code == 200
    with django_assert_max_num_queries(8):
        assert user_client.get(detail_url(dataset), {"children": 2}, **HX).status_code == 200


# --- download -----------------------------------------------------------------------


def test_download_streams_verified_bytes_and_counts_it(
    user_client: Client, stored: Callable[..., Dataset]
) -> None:
    content = b"id,value\n" + b"1,2\n" * 50_000
    dataset = stored(content, name="table.csv")
    response = user_client.get(download_url(dataset))
    assert response.status_code == 200
    assert response.streaming
    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == dataset.sha256
    assert response["Content-Length"] == str(len(content))
    assert response["Content-Disposition"] == 'attachment; filename="table.csv"'
    dataset.refresh_from_db()
    assert dataset.download_count == 1
    record = DownloadRecord.objects.get(dataset=dataset)
    assert (record.downloaded_by, record.via) == ("alice", "web")
    assert AuditEvent.objects.filter(sha256=dataset.sha256, action="download").exists()


def test_a_download_is_counted_only_once_its_last_chunk_is_released(
    user_client: Client, stored: Callable[..., Dataset]
) -> None:
    dataset = stored(os.urandom(3 * 1024 * 1024 + 1), name="big.bin")
    chunks = iter(user_client.get(download_url(dataset)).streaming_content)
    next(chunks)  # the client has started reading; it may still abandon the transfer
    dataset.refresh_from_db()
    assert dataset.download_count == 0
    assert not AuditEvent.objects.filter(sha256=dataset.sha256, action="download").exists()
    b"".join(chunks)
    dataset.refresh_from_db()
    assert dataset.download_count == 1


def test_corrupt_bytes_are_never_streamed_in_full_nor_counted(
    user_client: Client, stored: Callable[..., Dataset], local_store: LocalStorage
) -> None:
    content = os.urandom(3 * 1024 * 1024 + 1)
    dataset = stored(content, name="big.bin")
    stored_at = local_store.root / dataset.sha256[:2] / dataset.sha256[2:4] / dataset.sha256
    stored_at.chmod(0o644)
    stored_at.write_bytes(content[:-1] + bytes([content[-1] ^ 1]))
    received = 0
    with pytest.raises(IntegrityFailure):
        for chunk in user_client.get(download_url(dataset)).streaming_content:
            received += len(chunk)
    assert received < len(content)
    dataset.refresh_from_db()
    assert dataset.download_count == 0
    failed = AuditEvent.objects.get(sha256=dataset.sha256, action="download")
    assert failed.outcome == AuditEvent.Outcome.FAILED
    assert "hash mismatch" in failed.detail


def test_a_small_corrupt_object_gets_an_error_page_and_not_one_byte(
    user_client: Client, stored: Callable[..., Dataset], local_store: LocalStorage
) -> None:
    dataset = stored(b"id,value\n1,2\n", name="small.csv")  # one chunk: held until verified
    stored_at = local_store.root / dataset.sha256[:2] / dataset.sha256[2:4] / dataset.sha256
    stored_at.chmod(0o644)
    stored_at.write_bytes(b"id,value\n1,3\n")
    response = user_client.get(download_url(dataset))
    assert response.status_code == 502
    assert not response.streaming
    assert b"hash mismatch for dataset " + dataset.short_hash.encode() in response.content
    dataset.refresh_from_db()
    assert dataset.download_count == 0
    failed = AuditEvent.objects.get(sha256=dataset.sha256, action="download")
    assert failed.outcome == AuditEvent.Outcome.FAILED


def test_download_file_name_is_made_safe(
    user_client: Client, stored: Callable[..., Dataset]
) -> None:
    dataset = stored(b"x", name='../../etc/pass"wd\r\nX-Evil: 1')
    response = user_client.get(download_url(dataset))
    disposition = response["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition
    assert "/" not in disposition.split("filename", 1)[1]
    assert '"wd' not in disposition


def test_download_of_a_unicode_name_uses_rfc5987(
    user_client: Client, stored: Callable[..., Dataset]
) -> None:
    dataset = stored(b"x", name="données été.csv")
    disposition = user_client.get(download_url(dataset))["Content-Disposition"]
    assert disposition.startswith("attachment; filename*=utf-8''donn")


def test_a_user_without_the_download_permission_is_refused(
    client: Client, stored: Callable[..., Dataset]
) -> None:
    browser_only = UserFactory(username="nobody")
    browser_only.user_permissions.add(
        Permission.objects.get(content_type__app_label="registry", codename="view_dataset")
    )
    client.force_login(browser_only)
    dataset = stored(b"abc")
    page = client.get(detail_url(dataset)).content.decode()
    assert download_url(dataset) not in page
    assert "may not download" in page
    response = client.get(download_url(dataset))
    assert response.status_code == 403
    dataset.refresh_from_db()
    assert dataset.download_count == 0
    assert AuditEvent.objects.filter(action="permission_denied", sha256=dataset.sha256).exists()


def test_download_of_a_deleted_dataset_is_gone(user_client: Client) -> None:
    dataset = DatasetFactory(state=Dataset.State.DELETED, deleted_by="admin")
    response = user_client.get(download_url(dataset))
    assert response.status_code == 410
    assert b"was deleted" in response.content


def test_download_with_missing_bytes_is_an_error_page_and_not_counted(
    user_client: Client,
) -> None:
    dataset = DatasetFactory()  # a row whose bytes are in no store
    response = user_client.get(download_url(dataset))
    assert response.status_code == 502
    dataset.refresh_from_db()
    assert dataset.download_count == 0


def test_download_with_htmx_header_still_sends_the_file(
    user_client: Client, stored: Callable[..., Dataset]
) -> None:
    dataset = stored(b"abc")
    response = user_client.get(download_url(dataset), **HX)
    assert b"".join(response.streaming_content) == b"abc"


def test_download_query_count_is_bounded(
    user_client: Client,
    stored: Callable[..., Dataset],
    django_assert_max_num_queries: Callable[..., object],
) -> None:
    dataset = stored(b"abc")
    with django_assert_max_num_queries(12):
        response = user_client.get(download_url(dataset))
        b"".join(response.streaming_content)


def test_a_signed_in_user_without_a_role_is_told_to_ask_for_one(client: Client) -> None:
    client.force_login(UserFactory(username="norole"))
    response = client.get(LIST_URL)
    assert response.status_code == 403
    assert b"no DataTrac role yet" in response.content


def test_public_read_shows_the_download_button_to_anonymous_visitors(
    client: Client, stored: Callable[..., Dataset], settings
) -> None:
    settings.DATATRAC_PUBLIC_READ = True
    dataset = stored(b"public bytes")
    assert download_url(dataset) in client.get(detail_url(dataset)).content.decode()
    response = client.get(download_url(dataset))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"public bytes"
