"""report.html in a real browser: headless Chromium renders the shared test run's report.

The page's own test hook (``#selftest``, see reports/html.py) clicks a header and types a filter
in every sortable table once the page has loaded, then writes what it saw as JSON into
``<pre id="selftest-result">``; ``--dump-dom`` returns the DOM after that. Console messages come
from Chromium's log on stderr. Skipped when no Chromium is installed (CI's .ci/run installs
Debian's ``chromium``).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((b for b in BROWSERS if shutil.which(b)), None)
WIDTH, HEIGHT = 1300, 900

pytestmark = pytest.mark.skipif(
    BROWSER is None,
    reason="no Chromium on PATH (apt-get install chromium; .ci/run installs it in CI)",
)


def render(path, fragment="#selftest"):
    """(DOM after load and the self-test, Chromium's stderr log)."""
    proc = subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--window-size={WIDTH},{HEIGHT}",
            "--virtual-time-budget=20000",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            path.as_uri() + fragment,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def page(report_dir):
    run_dir, _ = report_dir
    dom, log = render(run_dir / "report.html")
    match = re.search(r'<pre id="selftest-result">(.*?)</pre>', dom, re.S)
    assert match, "the page's self-test did not run (script error before load?)\n" + log[-2000:]
    return json.loads(html.unescape(match.group(1))), dom, log, run_dir


def console_messages(log: str) -> list[str]:
    """Console lines of Chromium's log: ``...:INFO:CONSOLE:12] "message", source: ...``."""
    return [line for line in log.splitlines() if ":CONSOLE" in line]


def test_no_console_errors(page):
    result, _, log, _ = page
    assert result["errors"] == []
    assert console_messages(log) == []


def test_headline_figure_on_first_screen(page):
    result, _, _, _ = page
    images = {img["id"]: img for img in result["images"]}
    deficit = images["fig-headline_deficit"]
    assert deficit["loaded"] and deficit["width"] > 300
    assert deficit["bottom"] <= result["viewport"][1], (deficit, result["viewport"])
    assert images["fig-headline_strategies"]["loaded"]
    assert all(img["loaded"] for img in result["images"]), [
        img["id"] for img in result["images"] if not img["loaded"]
    ]


def test_sections_and_ids(page):
    result, dom, _, _ = page
    assert result["duplicate_ids"] == []
    hrefs = [a["href"] for a in result["toc"]]
    assert all(a["found"] for a in result["toc"]), result["toc"]
    for anchor in ("#answer", "#strategies", "#macro", "#all-downside", "#compare", "#drivers"):
        assert anchor in hrefs
    for anchor in ("#calib", "#inputs", "#scalars", "#run"):
        assert anchor in hrefs
    tops = [s["top"] for s in result["sections"]]
    assert result["sections"][0]["id"] == "answer" and tops == sorted(tops)
    # header facts from manifest.json
    assert "scenario <b>mixed</b>" in dom and "git <b>0123456789</b>" in dom
    assert "device <b>cpu &lt;test&gt;</b>" in dom


def _number(text: str) -> float | None:
    try:
        return float(text.split(" ")[0].replace("%", "").replace(",", ""))
    except ValueError:
        return None


@pytest.mark.parametrize(
    "table", ["risk", "exceedance", "downside", "scenarios", "sensitivity", "summary"]
)
def test_sort_and_filter(page, table):
    result, _, _, run_dir = page
    res = result["tables"][table]
    numbers = [_number(t) for t in res["ascending"] if _number(t) is not None]
    assert len(numbers) >= 2, res["column"]
    assert numbers == sorted(numbers)
    down = [_number(t) for t in res["descending"] if _number(t) is not None]
    assert down == sorted(numbers, reverse=True)
    # blanks sort last both ways
    blanks = [t == "" for t in res["ascending"]]
    assert blanks == sorted(blanks)
    f = res["filter"]
    assert f["query"] and len(f["shown"]) >= 1
    assert len(f["shown"]) + f["hidden"] == f["total"]
    assert all(f["query"].lower() in row.lower() for row in f["shown"])
    assert f["count"] == f"{len(f['shown'])} of {f['total']} rows"
    assert f["cleared"] == 0  # an empty filter shows every row again


def test_filter_hides_rows(page):
    """The risk table's last outcome is unique: filtering by it hides every other row."""
    result, _, _, _ = page
    f = result["tables"]["risk"]["filter"]
    assert len(f["shown"]) == 1 and f["hidden"] == f["total"] - 1 > 0
