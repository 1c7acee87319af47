"""Download statistics and the geometry of their small server-rendered SVG chart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from registry.models import Dataset, DownloadRecord

CHART_DAYS = 90
CHART_WIDTH = 540
CHART_HEIGHT = 96
BAR_GAP = 1


@dataclass(frozen=True)
class Bar:
    day: date
    count: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class DownloadChart:
    bars: list[Bar]  # the days with downloads only: an empty day draws nothing
    total: int  # downloads within the window
    peak: int
    first_day: date
    last_day: date
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT

    @property
    def baseline(self) -> int:
        return self.height


def downloads_per_day(*, dataset: Dataset, days: int = CHART_DAYS) -> dict[date, int]:
    """Downloads of ``dataset`` per day (in the current time zone) over the last ``days``.

    One grouped query on the (dataset, downloaded_at) index; days without downloads
    are absent from the result.
    """
    today = timezone.localdate()
    start = timezone.make_aware(datetime.combine(today - timedelta(days=days - 1), time.min))
    rows = (
        DownloadRecord.objects.filter(dataset=dataset, downloaded_at__gte=start)
        .annotate(day=TruncDate("downloaded_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["day"]: row["n"] for row in rows}


def download_chart(*, dataset: Dataset, days: int = CHART_DAYS) -> DownloadChart:
    """A bar for each day with downloads, oldest on the left, scaled to the busiest day."""
    counts = downloads_per_day(dataset=dataset, days=days)
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    peak = max(counts.values(), default=0)
    slot = CHART_WIDTH / days
    bars = []
    for i in range(days):
        day = first + timedelta(days=i)
        n = counts.get(day, 0)
        if not n:
            continue
        # A day with downloads is always at least 2px tall, so one download shows.
        height = max(2.0, (CHART_HEIGHT - 4) * n / peak)
        bars.append(
            Bar(
                day=day,
                count=n,
                x=round(i * slot, 2),
                y=round(CHART_HEIGHT - height, 2),
                width=round(slot - BAR_GAP, 2),
                height=round(height, 2),
            )
        )
    return DownloadChart(
        bars=bars, total=sum(counts.values()), peak=peak, first_day=first, last_day=today
    )
