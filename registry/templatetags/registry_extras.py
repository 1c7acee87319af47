"""Template filters: user text shown safely, and sizes written as the CLI writes them."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import template

from registry.units import NBSP
from registry.units import human_size as _human_size

register = template.Library()


@register.filter
def human_size(value: int) -> str:
    """A size in binary units, as the CLI writes it ("1.5 KiB"), never wrapped."""
    return _human_size(value, NBSP)


@register.filter
def http_url(value: str) -> str:
    """``value`` if it is an http(s) URL with a host, else "": only those become links."""
    text = (value or "").strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    if (
        parts.scheme.lower() in ("http", "https")
        and parts.netloc
        and not any(c.isspace() for c in text)
    ):
        return text
    return ""
