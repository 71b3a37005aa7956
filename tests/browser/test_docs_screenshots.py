"""The README's screenshots (docs/screenshots/), remade on demand: run this file with
DOCS_SCREENSHOTS=docs/screenshots set (skipped otherwise)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("DOCS_SCREENSHOTS"), reason="DOCS_SCREENSHOTS not set"),
]

SHOTS = [  # file name, width, path (formatted with the fleet), height of the picture
    ("dashboard-1400.png", 1400, "/", 520),
    ("dashboard-390.png", 390, "/", 844),
    ("service-1400.png", 1400, "/services/{weather}/", 1000),
    ("audit-scorecard-1400.png", 1400, "/audits/", 620),
]


def test_readme_screenshots(open_page, admin_user, fleet):
    target = Path(os.environ["DOCS_SCREENSHOTS"])
    target.mkdir(parents=True, exist_ok=True)
    pages = {}
    for name, width, path, height in SHOTS:
        page = pages.get(width) or pages.setdefault(width, open_page(admin_user, width))
        page.goto(path.format(weather=fleet.weather.name))
        page.page.set_viewport_size({"width": width, "height": height})
        page.page.screenshot(path=str(target / name))
        assert page.take_problems() == []
