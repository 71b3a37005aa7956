"""A saved view is a dashboard query string with a name and an owner."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse


class SavedView(models.Model):
    """A named dashboard filter + sort. Private to its owner unless shared with everyone."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    name = models.CharField(max_length=60)
    query = models.TextField(help_text="The dashboard's query string, canonical (no page).")
    shared = models.BooleanField(default=False, help_text="Listed for every user, read-only.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="unique_saved_view_name"),
        ]

    def __str__(self) -> str:
        return self.name

    def dashboard_url(self) -> str:
        return reverse("dashboard") + (f"?{self.query}" if self.query else "")
