"""Parent -> child links between datasets."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from registry.models import Dataset


class LineageEdge(models.Model):
    """``child`` was made from ``parent`` (optionally: how, in ``note``)."""

    parent = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="child_edges")
    child = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="parent_edges")
    note = models.TextField(blank=True, help_text="How the child was made from the parent.")
    created_by = models.CharField(max_length=150)
    created_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["parent", "child"], name="lineage_edge_unique_pair"),
            models.CheckConstraint(condition=~Q(parent=F("child")), name="lineage_edge_not_self"),
        ]
        # The unique constraint's index leads with parent; children -> parents needs its own.
        indexes = [models.Index(fields=["child", "parent"], name="lineage_edge_child_idx")]
        permissions = [("link_datasets", "Can link and unlink datasets")]

    def __str__(self) -> str:
        return f"{self.parent_id} -> {self.child_id}"
