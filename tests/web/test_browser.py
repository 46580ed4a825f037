"""The dashboard in a real browser (Debian's chromium driven by Playwright): offline, no
console errors, the same numbers as `wikistream query`, live updates, the risk drill-down,
and screenshots for the README (desktop and phone, light and dark)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.web.conftest import Served, Warehouse, make_warehouse
from wikistream.layers.revert_risk import MODEL_PATH

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: scripts/system-deps installs it (make test runs it)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


class Page:
    """A page with every non-loopback request blocked and recorded, console errors kept."""

    def __init__(self, browser: object, url: str, **context: object) -> None:
        self.context = browser.new_context(**context)  # type: ignore[attr-defined]
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._only_loopback)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        self.page.wait_for_selector("body[data-loaded=true]", timeout=30_000)

    def _only_loopback(self, route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        if urlparse(url).hostname not in ("127.0.0.1", "localhost") and not url.startswith("data:"):
            self.outside.append(url)
            route.abort()  # type: ignore[attr-defined]
        else:
            route.continue_()  # type: ignore[attr-defined]

    def cells(self, selector: str) -> list[list[str]]:
        rows = self.page.locator(f"{selector} tbody tr")
        return [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]

    def close(self) -> None:
        self.context.close()


def number(text: str) -> int:
    return int(text.replace(",", "").replace("\u202f", "").replace("\xa0", ""))


def test_the_page_is_offline_live_and_equal_to_sql(
    browser: object, tmp_path: Path, serve: Callable[[Warehouse], Served]
) -> None:
    warehouse = make_warehouse(tmp_path, 5_000)
    server = serve(warehouse)
    page = Page(browser, f"{server.url}/", viewport={"width": 1280, "height": 900})
    try:
        assert page.outside == [] and page.errors == []
        # Top wikis: what the page shows is what SQL says over the same warehouse.
        shown = [(row[0], number(row[1])) for row in page.cells("#top-wikis")]
        first = page.page.evaluate(
            "new Date(Date.parse(document.getElementById('data-until').textContent)).getTime()"
        )
        assert shown and first
        top = json.loads(
            warehouse.cli(
                "query",
                "--output",
                "json",
                "SELECT entity, sum(events) AS events FROM gold.metrics_10min WHERE scope = "
                "'entity' AND window_start >= (SELECT max(window_start) FROM gold.metrics_10min) "
                "- INTERVAL '50 minutes' GROUP BY entity ORDER BY events DESC, entity LIMIT 10",
            )
        )
        assert shown == [(row["entity"], row["events"]) for row in top]
        [bronze] = json.loads(
            warehouse.cli("query", "--output", "json", "SELECT count(*) AS n FROM bronze.events")
        )
        rows_shown = {row[0]: row[1] for row in page.cells("#tables")}
        assert number(rows_shown["bronze.events"]) == bronze["n"]

        # Next to the leaderboard: what a score is worth, as `make eval` measured it.
        evaluation = json.loads(MODEL_PATH.read_text())["evaluation"]
        note = page.page.locator("#risk-model").inner_text()
        assert f"ROC-AUC {evaluation['roc_auc']:.3f}" in note and "held out" in note

        # The risk drill-down: that user's edits from silver.
        user = page.page.locator("#risk tbody tr button").first.inner_text()
        page.page.locator("#risk tbody tr button").first.click()
        page.page.wait_for_selector("#user-edits tbody tr")
        [edits] = json.loads(
            warehouse.cli(
                "query",
                "--output",
                "json",
                f"SELECT count(*) AS n FROM silver.events WHERE \"user\" = '{user}'",
            )
        )
        assert page.page.locator("#drill-user").inner_text() == user
        assert page.page.locator("#user-edits tbody tr").count() == min(50, edits["n"]) > 0

        # New events while the page is open appear without a reload.
        warehouse.cli("demo", "--events", "2000")
        [after] = json.loads(
            warehouse.cli("query", "--output", "json", "SELECT count(*) AS n FROM bronze.events")
        )
        assert after["n"] > bronze["n"]
        page.page.wait_for_function(
            "n => [...document.querySelectorAll('#tables tbody tr')].some(r => "
            "r.dataset.table === 'bronze.events' && "
            "Number(r.cells[1].textContent.replace(/\\D/g, '')) === n)",
            arg=after["n"],
            timeout=30_000,
        )
        assert page.outside == [] and page.errors == []
    finally:
        page.close()


@pytest.mark.parametrize(("name", "viewport"), [
    ("desktop", {"width": 1280, "height": 900}), ("phone", {"width": 390, "height": 844}),
])  # fmt: skip
def test_screenshots_light_and_dark(
    browser: object,
    demo: Warehouse,
    serve: Callable[[Warehouse], Served],
    name: str,
    viewport: dict[str, int],
) -> None:
    server = serve(demo)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        page = Page(
            browser,
            f"{server.url}/",
            viewport=viewport,
            color_scheme=scheme,
            is_mobile=name == "phone",
            device_scale_factor=1,
        )
        try:
            wide = page.page.evaluate("document.documentElement.scrollWidth")
            assert wide <= viewport["width"] + 1, "the page scrolls sideways"
            background = page.page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert (background == "rgb(15, 18, 22)") == (scheme == "dark")
            path = SCREENSHOTS / f"dashboard-{name}-{scheme}.png"
            page.page.screenshot(path=str(path), full_page=True)
            assert path.stat().st_size > 10_000
            assert page.outside == [] and page.errors == []
        finally:
            page.close()
