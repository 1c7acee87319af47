"""Production hardening: `check --deploy` is clean, and the CSP is strict everywhere."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

MANAGE = Path(__file__).resolve().parents[1] / "manage.py"


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``manage.py check --deploy`` in a fresh process with exactly ``env``."""
    return subprocess.run(
        [sys.executable, str(MANAGE), "check", "--deploy", "--fail-level", "WARNING"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path: Path) -> None:
    """The README's production environment, and nothing else, passes `check --deploy`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATATRAC_", "DJANGO_", "DATABASE_URL", "SECURE_"))
        and key not in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS")
    }
    env |= {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "datatrac.example.org",
        "DATATRAC_HTTPS": "true",
        "DATATRAC_HOME": str(tmp_path / "home"),
    }
    result = check_deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_without_the_https_settings(tmp_path: Path) -> None:
    """The test above proves something: the default (loopback HTTP) install is not clean."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATATRAC_", "DATABASE_URL"))}
    env |= {"DATATRAC_HOME": str(tmp_path / "home"), "SECRET_KEY": secrets.token_urlsafe(64)}
    result = check_deploy(env)
    assert result.returncode != 0
    assert "security.W004" in result.stderr  # no HSTS


def assert_strict_csp(policy: str) -> None:
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "unsafe" not in policy  # no 'unsafe-inline', no 'unsafe-eval'


def inline_scripts(html: str) -> list[str]:
    """<script> elements that would run inline code (JSON data blocks never run)."""
    return [
        tag
        for tag in re.findall(r"<script\b[^>]*>", html)
        if "src=" not in tag and "application/json" not in tag
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        reverse("login"),
        reverse("registry:dataset-list"),
        reverse("admin:login"),
        reverse("admin:index"),
        reverse("admin:registry_dataset_changelist"),
        reverse("admin:registry_auditevent_changelist"),
    ],
)
def test_pages_and_the_admin_send_a_strict_csp_and_no_inline_script(
    client: Client, url: str
) -> None:
    client.force_login(UserFactory(username="su", is_superuser=True, is_staff=True))
    if url in (reverse("login"), reverse("admin:login")):
        client.logout()
    response = client.get(url)
    assert response.status_code == 200
    assert_strict_csp(response["Content-Security-Policy"])
    assert inline_scripts(response.content.decode()) == []
    assert response["X-Frame-Options"] == "DENY"
