"""Personal access tokens: how a script, a CI job or the CLI acts as a user over the API."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AccessTokenQuerySet(models.QuerySet["AccessToken"]):
    def usable(self) -> AccessTokenQuerySet:
        """Tokens neither revoked nor expired (their users may still be inactive)."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class AccessToken(models.Model):
    """One token of one user. The secret is never stored: only its SHA-256 (``digest``).

    The token a user holds is ``dtk_<id>_<secret>``; the id finds this row, the secret's
    digest is compared in constant time. A token acts as its user, restricted to the
    permissions of its ``scope`` (tokens.services.SCOPE_PERMISSIONS).
    """

    class Scope(models.TextChoices):
        READ = "read", "read: browse, show, lineage, download"
        WRITE = "write", "write: also push, link and unlink"
        ADMIN = "admin", "admin: also delete, purge, restore, audit history"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'nightly CI'.")
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.READ)
    # SHA-256 (hex) of the random secret: the secret has 256 bits of entropy, so a fast
    # digest is as safe as a slow password hash here, and it keeps each request cheap.
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_from = models.CharField(max_length=255, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=150, blank=True)

    objects = AccessTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "created_at"], name="token_user_created_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.user}, {self.scope})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        return not self.is_revoked and not self.is_expired

    @property
    def status(self) -> str:
        if self.is_revoked:
            return "revoked"
        return "expired" if self.is_expired else "active"
