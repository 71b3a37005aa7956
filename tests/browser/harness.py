"""What every browser test checks on a page: axe-core, horizontal overflow, console errors, CSP
violations, failed requests, and a screenshot saved as a test artefact.

`ConsolePage` wraps one Playwright page of one logged-in role at one viewport width. Problems
(console errors, uncaught exceptions, CSP violations, HTTP errors) are collected from the moment
the page opens; `check(name)` reads and clears them, runs axe, measures overflow and saves a
screenshot, and returns a `PageCheck` that `assert_clean()` turns into one readable failure.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import ConsoleMessage, Error, Locator, Page, Request, Response

VENDOR = Path(__file__).resolve().parent / "vendor"
AXE_SOURCE = VENDOR / "axe.min.js"  # axe-core from the npm registry (`npm pack axe-core`)
WIDTHS = (390, 1400)  # a phone and a wide desktop screen
HEIGHTS = {390: 844}  # a phone's height; wide screens get 900
FAILING_IMPACTS = ("critical", "serious")
IMPACTS = ("critical", "serious", "moderate", "minor")

# Runs before any page script and is not subject to the page's CSP (CDP adds it): every CSP
# violation reaches the test through an exposed binding, whatever the page does next.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__fleetCspViolation(
    `${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile || e.documentURI}:${e.lineNumber}`
  );
});
"""

# The page's CSP refuses an injected <script>; a function handed to page.evaluate runs through the
# DevTools protocol, which CSP does not govern. axe's UMD wrapper installs window.axe there.
_AXE_INSTALL = "() => {{ if (!window.axe) {{ {source}\n }} return typeof window.axe; }}"
_AXE_RUN = """async () => {
  const result = await window.axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), html: n.html.slice(0, 300),
                                summary: n.failureSummary}))
  }));
}"""
_OVERFLOW = "() => document.scrollingElement.scrollWidth - window.innerWidth"
# Requests that end this way are a navigation or an htmx swap cancelling its own fetch.
_BENIGN_FAILURES = ("net::ERR_ABORTED",)


@dataclass
class PageCheck:
    """What one visit of one page at one width found."""

    name: str
    width: int
    url: str
    violations: list[dict] = field(default_factory=list)
    overflow_px: int = 0
    problems: list[str] = field(default_factory=list)
    screenshot: Path | None = None

    def counts(self) -> dict[str, int]:
        found = Counter(v["impact"] or "minor" for v in self.violations)
        return {impact: found.get(impact, 0) for impact in IMPACTS}

    def failures(self) -> list[str]:
        lines = []
        if self.overflow_px > 0:
            lines.append(f"page is {self.overflow_px} px wider than the {self.width} px viewport")
        for v in self.violations:
            if v["impact"] in FAILING_IMPACTS:
                targets = "; ".join(n["target"] for n in v["nodes"][:4])
                lines.append(f"axe {v['impact']} {v['id']}: {v['help']} [{targets}]")
        lines.extend(self.problems)
        return [f"{self.name} @ {self.width}px: {line}" for line in lines]

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "width": self.width,
            "url": self.url,
            "counts": self.counts(),
            "overflow_px": self.overflow_px,
            "problems": self.problems,
            "violations": self.violations,
            "screenshot": str(self.screenshot) if self.screenshot else None,
        }


def assert_clean(checks: list[PageCheck]) -> None:
    """One assertion for a whole sweep: every failing page and rule listed, not just the first."""
    failures = [line for check in checks for line in check.failures()]
    assert not failures, "\n".join(failures)


class ConsolePage:
    """One Playwright page as one role at one width, with problem collectors attached."""

    def __init__(
        self,
        page: Page,
        *,
        base_url: str,
        width: int,
        role: str,
        artefacts: Path,
        axe_source: str,
        results: list[PageCheck] | None = None,
    ) -> None:
        self.page, self.base_url, self.width, self.role = page, base_url, width, role
        self.artefacts = artefacts
        self._axe_source = axe_source
        self._results = results if results is not None else []
        self._problems: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self._problems.append(f"uncaught error: {exc}"))
        page.on("response", self._on_response)
        page.on("requestfailed", self._on_request_failed)

    # -- collectors ----------------------------------------------------------------------------
    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self._problems.append(f"console error: {message.text}")

    def _on_response(self, response: Response) -> None:
        if response.status >= 400 and response.url.startswith(self.base_url):
            self._problems.append(
                f"HTTP {response.status} {response.request.method} {response.url}"
            )

    def _on_request_failed(self, request: Request) -> None:
        failure = request.failure or ""
        if not failure.startswith(_BENIGN_FAILURES):
            self._problems.append(f"request failed ({failure}): {request.url}")

    def csp_violation(self, text: str) -> None:
        self._problems.append(f"CSP violation: {text}")

    def take_problems(self) -> list[str]:
        """The problems seen since the last call (and forget them)."""
        problems, self._problems = self._problems, []
        return problems

    # -- navigation ----------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return self.base_url + path

    def goto(self, path: str) -> Page:
        response = self.page.goto(self.url(path), wait_until="load")
        assert response is not None and response.ok, f"GET {path}: {response and response.status}"
        return self.page

    # -- checks --------------------------------------------------------------------------------
    def axe(self) -> list[dict]:
        installed = self.page.evaluate(_AXE_INSTALL.format(source=self._axe_source))
        assert installed == "object", "axe-core did not load in the page"
        return self.page.evaluate(_AXE_RUN)

    def overflow_px(self) -> int:
        return max(0, int(self.page.evaluate(_OVERFLOW)))

    def overflow_px_at(self, width: int) -> int:
        """The overflow with the viewport narrowed to `width` (the page is not reloaded)."""
        size = self.page.viewport_size
        self.page.set_viewport_size({"width": width, "height": size["height"]})
        try:
            self.page.wait_for_function(f"() => window.innerWidth === {width}")
            return self.overflow_px()
        finally:
            self.page.set_viewport_size(size)

    def screenshot(self, name: str) -> Path:
        path = self.artefacts / f"{self.width}px" / f"{slug(name)}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def check(self, name: str) -> PageCheck:
        """Axe, overflow, the problems collected since the last check, and a screenshot."""
        self.page.wait_for_load_state("load")
        result = PageCheck(name=name, width=self.width, url=self.page.url)
        result.overflow_px = self.overflow_px()
        result.violations = self.axe()
        result.screenshot = self.screenshot(name)
        result.problems = self.take_problems()
        self._results.append(result)
        return result

    def visit(self, name: str, path: str) -> PageCheck:
        self.goto(path)
        return self.check(name)

    # -- keyboard ------------------------------------------------------------------------------
    def tab_to(self, target: Locator, *, max_presses: int = 80, backwards: bool = False) -> None:
        """Press Tab until `target` has the focus (as a keyboard user would), or fail saying so."""
        key = "Shift+Tab" if backwards else "Tab"
        target.wait_for(state="attached")
        for _ in range(max_presses):
            self.page.keyboard.press(key)
            # The locator is resolved again at each press: an htmx swap may have replaced it.
            if target.evaluate("el => el === document.activeElement"):
                return
        raise AssertionError(f"{max_presses} × {key} never reached {target}")

    def focused_is_visible(self) -> bool:
        """The focused element shows a focus ring (an outline or a box shadow)."""
        return bool(
            self.page.evaluate(
                """() => { const s = getComputedStyle(document.activeElement);
                  return (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0)
                         || s.boxShadow !== "none"; }"""
            )
        )


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def write_summary(results: list[PageCheck], artefacts: Path) -> Path:
    """axe-summary.json (every finding) and axe-summary.md (counts per page and width)."""
    artefacts.mkdir(parents=True, exist_ok=True)
    (artefacts / "axe-summary.json").write_text(
        json.dumps([r.as_json() for r in results], indent=2)
    )
    lines = [
        "| page | width | critical | serious | moderate | minor | overflow px | problems |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: (r.name, r.width)):
        c = r.counts()
        lines.append(
            f"| {r.name} | {r.width} | {c['critical']} | {c['serious']} | {c['moderate']} "
            f"| {c['minor']} | {r.overflow_px} | {len(r.problems)} |"
        )
    path = artefacts / "axe-summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


__all__ = [
    "AXE_SOURCE",
    "CSP_LISTENER",
    "HEIGHTS",
    "WIDTHS",
    "ConsolePage",
    "Error",
    "PageCheck",
    "assert_clean",
    "write_summary",
]
