"""Form fields shared by every app."""

from __future__ import annotations

from django import forms


class ListField(forms.CharField):
    """Comma- or space-separated words in the form, a list of strings everywhere else."""

    def to_python(self, value: str | None) -> list[str]:
        text = super().to_python(value) or ""
        return [t for t in text.replace(",", " ").split() if t]

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value
