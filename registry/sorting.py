"""How datasets sort: the browser's table, the API and the client all list by these keys.

Apart from registry.tables so that reads which draw no table (the API, the CLI) never
import django-tables2.
"""

from __future__ import annotations

from django.db.models import F
from django.db.models.functions import Left

from registry.keyset import SortKey
from registry.models import SORT_PREFIX

DEFAULT_SORT = "-pushed_at"
# The database sort key of each sortable column, matching Dataset.Meta.indexes so every
# sort is an index seek. Each ends on a unique column, so pages never overlap or skip.
SORT_KEYS: dict[str, tuple[SortKey, ...]] = {
    "name": (Left("name", SORT_PREFIX), F("id")),
    "sha256": (F("sha256"),),
    "size": (F("size"), F("id")),
    "source": (Left("source", SORT_PREFIX), F("id")),
    "pushed_by": (F("pushed_by"), F("id")),
    "pushed_at": (F("pushed_at"), F("id")),
    "download_count": (F("download_count"), F("id")),
}
