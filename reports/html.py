"""One self-contained ``report.html`` per run: the answer first, then navigable detail.

The first screen (:mod:`reports.html_answer`) holds the run's header, the answer in words, the
headline figures, a short risk table and the sentences on what drives the downside. Then sections
with a table of contents: figures with captions (:mod:`reports.captions`), long tables collapsed
in ``<details>`` and sortable (click a header) and filterable (type in the box) by a few lines of
inline JavaScript. No external CSS, JavaScript or network access; every text is
``html.escape``d; numbers in tables have :data:`SIG_DIGITS` significant digits.

Opening the file with ``#selftest`` runs the page's test hook (used by the browser test): it
clicks a header and types a filter in every sortable table and writes what it saw, with any
script errors, as JSON into ``<pre id="selftest-result">``.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
from pathlib import Path

import pandas as pd

from reports.captions import caption, figure_section
from reports.html_answer import (
    answer_text,
    driver_sentences,
    risk_table,
    run_facts,
    scenario_text,
)
from reports.io import write_text_atomic
from reports.rundir import RunData, load_run
from reports.targets import report_figures

__all__ = ["SIG_DIGITS", "build_report", "format_number", "html_table"]

SIG_DIGITS = 4

CSS = """
body{font-family:system-ui,sans-serif;margin:0 auto;padding:0 1.2em 2em;max-width:1240px;
color:#222;line-height:1.35}
header{border-bottom:2px solid #1f77b4;margin-bottom:.4em}h1{font-size:1.45em;margin:.5em 0 .1em}
.meta{margin:.1em 0 .4em;color:#444;font-size:.9em}.meta b{color:#111}
nav.toc{font-size:.85em;margin:.3em 0 .6em;display:flex;flex-wrap:wrap;gap:.15em 1.1em}
h2{font-size:1.2em;margin:1.2em 0 .4em;border-bottom:1px solid #ddd}h3{font-size:1.02em}
#answer h2{margin-top:.4em}.units{font-size:.88em;color:#444;margin:.2em 0}
ul.answer{margin:.3em 0 .5em;padding-left:1.2em}ul.answer li{margin:.15em 0}
.answer-grid{display:grid;grid-template-columns:43% 57%;gap:1.2em;align-items:start}
.answer-grid h3{margin:.3em 0 .2em}.answer-grid figure{margin:0 0 .5em}
.figs{display:grid;grid-template-columns:1fr 1fr;gap:.5em 1.5em;align-items:start}
.figs figure.wide{grid-column:1/-1}
@media (max-width:900px){.answer-grid,.figs{grid-template-columns:1fr}}
figure{margin:.6em 0}img{max-width:100%;height:auto}
figcaption{font-size:.8em;color:#444;max-width:60em}
table{border-collapse:collapse;margin:.4em 0 1em;font-size:.8em}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f0f0f0;position:sticky;top:0}table.sortable th{cursor:pointer}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
input.filter{font-size:.85em;margin:.3em .5em .3em 0;width:18em}.count{font-size:.8em;color:#666}
details{margin:.4em 0 1em}summary{cursor:pointer;color:#1f77b4}
pre{background:#f6f6f6;padding:.8em;overflow:auto;font-size:.8em;white-space:pre-wrap}
"""

JS = r"""
(function () {
  var errors = [];
  window.addEventListener("error", function (e) { errors.push(String(e.message)); });
  var consoleError = console.error;
  console.error = function () {
    errors.push(Array.prototype.join.call(arguments, " "));
    consoleError.apply(console, arguments);
  };
  function text(row, i) { return row.cells[i] ? row.cells[i].textContent.trim() : ""; }
  function num(t) { return t === "" ? NaN : Number(t.split(" ")[0].replace(/[,%]/g, "")); }
  function sortBy(th) {
    var table = th.closest("table"), i = th.cellIndex, body = table.tBodies[0];
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    Array.prototype.forEach.call(th.parentNode.cells, function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = text(a, i), y = text(b, i), nx = num(x), ny = num(y);
      if (isNaN(nx) !== isNaN(ny)) { return isNaN(nx) ? 1 : -1; }  // blanks and text last
      return isNaN(nx) ? dir * x.localeCompare(y) : dir * (nx - ny);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function filter(input) {
    var table = document.getElementById(input.dataset.table);
    var q = input.value.toLowerCase().trim(), rows = table.tBodies[0].rows, shown = 0;
    Array.prototype.forEach.call(rows, function (r) {
      r.hidden = q !== "" && r.textContent.toLowerCase().indexOf(q) < 0;
      if (!r.hidden) { shown += 1; }
    });
    var count = document.getElementById(input.dataset.table + "-count");
    if (count) { count.textContent = shown + " of " + rows.length + " rows"; }
  }
  document.addEventListener("click", function (e) {
    var th = e.target.closest("table.sortable thead th");
    if (th) { sortBy(th); }
  });
  document.addEventListener("input", function (e) {
    if (e.target.matches("input.filter")) { filter(e.target); }
  });
  function column(table, i) {
    return Array.prototype.map.call(table.tBodies[0].rows, function (r) { return text(r, i); });
  }
  function selftest() {
    var out = {errors: errors, viewport: [innerWidth, innerHeight], tables: {}, images: [],
               sections: [], toc: []};
    // positions first: the clicks below reorder and hide rows
    document.querySelectorAll("img").forEach(function (img) {
      var r = img.getBoundingClientRect(), fig = img.closest("figure");
      out.images.push({id: fig ? fig.id : "", loaded: img.complete && img.naturalWidth > 0,
                       top: r.top + scrollY, bottom: r.bottom + scrollY, width: r.width});
    });
    out.sections = Array.prototype.map.call(document.querySelectorAll("section"), function (s) {
      return {id: s.id, top: s.getBoundingClientRect().top + scrollY};
    });
    document.querySelectorAll("table.sortable").forEach(function (t) {
      // the last column holding numbers (text columns such as "source" sort too, but the
      // test reads numbers)
      var ths = t.tHead.rows[0].cells, i = ths.length - 1, res = {};
      var body = t.tBodies[0].rows;
      while (i > 0 && body.length && isNaN(num(text(body[0], i)))) { i--; }
      ths[i].dispatchEvent(new MouseEvent("click", {bubbles: true}));
      res.column = ths[i].textContent;
      res.ascending = column(t, i);
      ths[i].dispatchEvent(new MouseEvent("click", {bubbles: true}));
      res.descending = column(t, i);
      var input = document.querySelector('input.filter[data-table="' + t.id + '"]');
      if (input) {
        var rows = t.tBodies[0].rows;
        input.value = text(rows[rows.length - 1], 0);
        input.dispatchEvent(new Event("input", {bubbles: true}));
        res.filter = {query: input.value, total: rows.length, shown: [], hidden: 0};
        Array.prototype.forEach.call(rows, function (r) {
          if (r.hidden) { res.filter.hidden += 1; } else { res.filter.shown.push(r.textContent); }
        });
        res.filter.count = document.getElementById(t.id + "-count").textContent;
        input.value = "";
        input.dispatchEvent(new Event("input", {bubbles: true}));
        res.filter.cleared = t.tBodies[0].querySelectorAll("tr[hidden]").length;
      }
      out.tables[t.id] = res;
    });
    var ids = {};
    out.duplicate_ids = [];
    document.querySelectorAll("[id]").forEach(function (el) {
      if (ids[el.id]) { out.duplicate_ids.push(el.id); }
      ids[el.id] = true;
    });
    document.querySelectorAll("nav.toc a").forEach(function (a) {
      out.toc.push({href: a.getAttribute("href"),
                    found: !!document.getElementById(a.getAttribute("href").slice(1))});
    });
    var pre = document.createElement("pre");
    pre.id = "selftest-result";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  if (location.hash === "#selftest") { window.addEventListener("load", selftest); }
})();
"""


def format_number(value, sig: int = SIG_DIGITS) -> str:
    """A number with ``sig`` significant digits (``%.{sig}g``); missing values give ""."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return ""
    if number.is_integer() and abs(number) < 10**sig and not isinstance(value, float):
        return str(int(number))
    return f"{number:.{sig}g}"


def html_table(
    df: pd.DataFrame, table_id: str, max_rows: int | None = None, interactive: bool = True
) -> str:
    """An escaped HTML table of a DataFrame (pandas ``to_html``; numbers via
    :func:`format_number`, text columns left-aligned); interactive tables are sortable by
    header click and get a filter box."""
    shown = df if max_rows is None else df.head(max_rows)
    cells = shown.map(lambda v: v if isinstance(v, str) else format_number(v))
    tid = html.escape(table_id)
    table = cells.to_html(
        index=False, table_id=tid, classes="sortable" if interactive else None, border=0
    )
    text_cols = [
        i + 1
        for i, col in enumerate(shown.columns)
        if shown[col].map(lambda v: isinstance(v, str)).any()
    ]
    style = "".join(f"#{tid} td:nth-child({i}){{text-align:left}}" for i in text_cols)
    note = ""
    if max_rows is not None and len(df) > max_rows:
        note = f"<p>First {max_rows} of {len(df)} rows (all rows in the CSV).</p>"
    tools = ""
    if interactive:
        tools = (
            f'<input type="search" class="filter" data-table="{tid}" '
            f'placeholder="filter rows (any text)" aria-label="filter {tid}">'
            f'<span class="count" id="{tid}-count">{len(shown)} rows; click a header to sort'
            "</span>"
        )
    return f"{tools}<style>{style}</style>{table}{note}" if style else f"{tools}{table}{note}"


def _collapsed(summary: str, body: str, open_: bool = False) -> str:
    return f"<details{' open' if open_ else ''}><summary>{html.escape(summary)}</summary>{body}</details>"


WIDE_FIGURES = re.compile(r"scenarios|drivers|sensitivity_\d+")
"""Figures that span the page (many panels); the others go two to a row."""


def _figure_key(stem: str):
    m = re.fullmatch(r"(sensitivity|tornado|prim)_(\d+)", stem)
    if m:  # per outcome: indices, tornado, PRIM
        return (int(m.group(2)), ("sensitivity", "tornado", "prim").index(m.group(1)), stem)
    order = ("forest_operating", "forest_investment", "fan_")
    rank = next((i for i, p in enumerate(order) if stem.startswith(p)), len(order))
    return (-1, rank, stem.endswith("_domain"), stem)


def _figures(run: RunData, outcomes: list[str]) -> dict[str, list[str]]:
    """{section anchor: [figure HTML]} from the run's PNGs, each with its caption."""
    out: dict[str, list[str]] = {}
    if not run.figures_dir.is_dir():
        return out
    for png in sorted(run.figures_dir.glob("*.png"), key=lambda p: _figure_key(p.stem)):
        title, how = caption(png.stem, outcomes)
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        wide = ' class="wide"' if WIDE_FIGURES.fullmatch(png.stem) else ""
        out.setdefault(figure_section(png.stem), []).append(
            f'<figure id="fig-{html.escape(png.stem)}"{wide}><img alt="{html.escape(title)}" '
            f'src="data:image/png;base64,{data}"><figcaption><b>{html.escape(title)}.</b> '
            f"{html.escape(how)}</figcaption></figure>"
        )
    return out


def _header(run: RunData) -> str:
    f = run_facts(run)
    meta = " &middot; ".join(
        f"{label} <b>{html.escape(f[key])}</b>"
        for key, label in (
            ("scenario", "scenario"),
            ("paths", "paths"),
            ("seed", "seed"),
            ("device", "device"),
            ("git", "git"),
            ("date", "date"),
        )
    )
    return (
        f"<header><h1>jp2040 risk report: scenario {html.escape(f['scenario'])}</h1>"
        f'<p class="meta">{meta}</p></header>'
    )


UNITS = (
    "Money in trillion yen (tn JPY): 2040 values are flows in that year (tn JPY/yr), "
    "investment and cash flow are cumulative over 2026-40. Ranges are over the simulated paths; "
    "\u201c\u00b1 x\u201d is the Monte Carlo standard error. VaR 5%: the level that 5% of paths "
    "are worse than; ES 5%: the average of those worst 5%. The report's figures are from "
    "Mizuho Industry Research No. 80 (31 March 2026)."
)


def _answer(run: RunData, figures: dict[str, list[str]], report) -> str:
    facts = run_facts(run)
    parts = [
        f'<p class="units"><b>Scenario {html.escape(facts["scenario"])}</b>: '
        f"{html.escape(scenario_text(run))}. {html.escape(UNITS)}</p>"
    ]
    words = ""
    sentences = answer_text(run, report)
    if sentences:
        words += '<h3>How bad, how likely</h3><ul class="answer">'
        words += "".join(f"<li>{s}</li>" for s in sentences) + "</ul>"
    why = driver_sentences(run)
    if why:
        words += (
            '<h3>Why: what drives the downside</h3><ul class="answer">'
            + "".join(f"<li>{s}</li>" for s in why)
            + '</ul><p class="units">Numbers after a driver: its first-order index (share of '
            "the outcome's variance it explains alone, 0 to 1); <code>policy_success.*</code> is "
            '1 where the policy arrived. Details: <a href="#drivers">what drives the '
            "downside</a>.</p>"
        )
    figs = "".join(figures.get("answer", []))
    parts.append(f'<div class="answer-grid"><div>{words}</div><div>{figs}</div></div>')
    table = risk_table(run, report)
    if len(table):
        parts.append(
            "<h3>Risk table: the outcomes a risk team asks about</h3>"
            + html_table(table, "risk")
            + '<p class="units">P(bad): share of paths beyond the threshold in brackets. '
            'All outcomes and alphas: <a href="#all-downside">all value at risk and expected '
            "shortfall</a>.</p>"
        )
    return "".join(parts)


def build_report(run_dir: str | os.PathLike, run: RunData | None = None) -> Path:
    """Write ``RUN_DIR/report.html`` from the run's CSVs, figures and manifest; return its path.

    Sections: the answer (first screen), strategies and domains, deficit and investment, all
    VaR/ES, scenario comparison (``scenarios.csv``), what drives the downside
    (``sensitivity.csv``, ``discovery.csv``, ``discovery_text.txt``), calibration
    (``calibration.csv``), driver inputs, summary of per-path scalars, other figures, the run's
    manifest. Sections whose inputs are absent are left out.
    """
    run = run or load_run(run_dir, load_datatree=False)
    report = report_figures(run.manifest)
    outcomes = []
    if run.sensitivity is not None and "outcome" in run.sensitivity.columns:
        outcomes = list(dict.fromkeys(run.sensitivity["outcome"].astype(str)))
    figures = _figures(run, outcomes)
    sections = [("answer", "The answer", _answer(run, figures, report))]

    def figs(anchor):
        items = figures.get(anchor, [])
        return f'<div class="figs">{"".join(items)}</div>' if items else ""

    sections.append(("strategies", "Strategies and domains", figs("strategies")))
    macro = figs("macro")
    if run.exceedance is not None:
        macro += "<h3>Exceedance probabilities</h3>" + html_table(run.exceedance, "exceedance")
    sections.append(("macro", "Digital deficit, investment and thresholds", macro))
    if run.downside is not None:
        body = (
            "<p>Every per-path outcome: VaR (the alpha-quantile on the bad side), ES (the mean "
            "beyond it), with Monte Carlo standard errors.</p>"
            + _collapsed(f"{len(run.downside)} rows", html_table(run.downside, "downside"))
        )
        sections.append(("all-downside", "All value at risk and expected shortfall", body))
    scen = figs("scenarios")
    if run.scenarios is not None and {"variable", "mean_diff", "diff_p05", "diff_p95"} <= set(
        run.scenarios.columns
    ):
        diffs = run.scenarios[["mean_diff", "diff_p05", "diff_p95"]].abs().sum(axis=1)
        same = [v for v, d in diffs.groupby(run.scenarios["variable"]).sum().items() if d == 0]
        if same:
            scen += (
                '<p class="units">Not drawn, the same on every path in every scenario: '
                + html.escape(", ".join(same))
                + ". Units as in the risk table (tn JPY; 2040 flows per year).</p>"
            )
    if run.scenarios is not None:
        scen += _collapsed(
            f"table: {len(run.scenarios)} paired differences",
            html_table(run.scenarios, "scenarios"),
        )
    sections.append(("compare", "Scenario comparison", scen))
    drivers = ""
    if run.discovery_text:
        items = [s for s in run.discovery_text.splitlines() if s.strip()]
        drivers += "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in items) + "</ul>"
    drivers += figs("drivers")
    if run.sensitivity is not None:
        drivers += _collapsed(
            f"sensitivity table: {len(run.sensitivity)} rows",
            html_table(run.sensitivity, "sensitivity"),
        )
    if run.discovery is not None:
        drivers += _collapsed(
            f"scenario discovery boxes: {len(run.discovery)} rows",
            html_table(run.discovery, "discovery"),
        )
    sections.append(("drivers", "What drives the downside", drivers))
    if run.reverse is not None:
        body = (
            "<p>Reverse stress test (<code>jp2040 mode=reverse</code>): how likely the outcome "
            "passes the threshold, which drivers move furthest from their prior on the paths "
            "that get there, and the most likely driver combination that does.</p>"
        )
        sections.append(
            ("reverse", "Reverse stress test", body + html_table(run.reverse, "reverse"))
        )
    if run.calibration is not None:
        sections.append(("calib", "Calibration", html_table(run.calibration, "calibration")))
    sections.append(("inputs", "Driver inputs", figs("inputs")))
    if run.summary is not None:
        scalars = run.summary[run.summary["year"].isna()] if "year" in run.summary else run.summary
        body = _collapsed(f"{len(scalars)} rows", html_table(scalars, "summary"))
        sections.append(("scalars", "Summary of per-path scalars", body))
    sections.append(("other", "Other figures", figs("other")))
    manifest_text = json.dumps(run.manifest, indent=2, sort_keys=True, default=str)
    sections.append(
        ("run", "Run", _collapsed("manifest.json", f"<pre>{html.escape(manifest_text)}</pre>"))
    )
    sections = [s for s in sections if s[2]]
    toc = "".join(f'<a href="#{a}">{html.escape(t)}</a>' for a, t, _ in sections)
    body = "".join(
        f'<section id="{a}"><h2>{html.escape(t)}</h2>{b}</section>' for a, t, b in sections
    )
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>jp2040 report: {html.escape(run_facts(run)['scenario'])}, "
        f"{html.escape(run.path.name)}</title><style>{CSS}</style><script>{JS}</script></head>"
        f'<body>{_header(run)}<nav class="toc">{toc}</nav>{body}</body></html>'
    )
    return write_text_atomic(page, run.path / "report.html")
