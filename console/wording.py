"""Status identifiers as the words people read: `needs_auth` is "needs credentials".

Alert titles and bodies, the alert pages and status badges all say states through `status_word`
(and alert kinds through `kind_word`), so no stored identifier (`needs_auth`, `redeploy_failed`)
reaches a person.
"""

from __future__ import annotations

# Identifiers whose words are not simply the identifier with spaces.
STATUS_WORDS: dict[str, str] = {"needs_auth": "needs credentials", "not_synced": "not synced"}
KIND_WORDS: dict[str, str] = {
    "down": "down",
    "degraded": "degraded",
    "recovered": "recovery",
    "drift": "tool drift",
    "budget": "budget threshold",
    "redeploy_failed": "failed redeploy",
    "test": "test",
}


def status_word(value: object) -> str:
    """A status or severity identifier as lower-case words."""
    text = str(value or "")
    return STATUS_WORDS.get(text, text.replace("_", " "))


def kind_word(value: object) -> str:
    """An alert kind as lower-case words."""
    text = str(value or "")
    return KIND_WORDS.get(text, status_word(text))
