"""One self-contained ``report.html`` per run: tables and base64-embedded figures.

No external CSS, JavaScript or network access; every text is ``html.escape``d; numbers are shown
with :data:`SIG_DIGITS` significant digits (:func:`format_number`).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from pathlib import Path

import pandas as pd

from reports.io import write_text_atomic
from reports.rundir import RunData, load_run

__all__ = ["SIG_DIGITS", "build_report", "format_number", "html_table"]

SIG_DIGITS = 4

CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.85em}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f0f0f0}td.t{text-align:left}
figure{margin:1em 0}img{max-width:100%}pre{background:#f6f6f6;padding:1em;overflow:auto}
.headline li{margin:0.2em 0}
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


def _cell(value) -> tuple[str, bool]:
    if isinstance(value, str):
        return html.escape(value), True
    return html.escape(format_number(value)), False


def html_table(df: pd.DataFrame, table_id: str, max_rows: int | None = None) -> str:
    """An escaped HTML table of a DataFrame (numbers via :func:`format_number`)."""
    shown = df if max_rows is None else df.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for record in shown.itertuples(index=False, name=None):
        cells = []
        for value in record:
            text, is_text = _cell(value)
            cells.append(f'<td class="t">{text}</td>' if is_text else f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    note = ""
    if max_rows is not None and len(df) > max_rows:
        note = f"<p>First {max_rows} of {len(df)} rows (all rows in the CSV).</p>"
    return (
        f'<table id="{html.escape(table_id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{note}"
    )


def _label(row) -> str:
    entity = row.get("entity", "")
    year = row.get("year")
    text = str(row["variable"])
    if isinstance(entity, str) and entity:
        text += f"[{entity}]"
    if year is not None and year is not pd.NA and not (isinstance(year, float) and year != year):
        text += f" in {year}"
    return text


def _headlines(run: RunData) -> list[str]:
    items = []
    if run.exceedance is not None:
        for _, row in run.exceedance.iterrows():
            op = ">" if row["side"] == "high" else "<"
            items.append(
                f"P({_label(row)} {op} {format_number(row['threshold'])}) = "
                f"{format_number(row['probability'])} ± {format_number(row['mcse'])}"
            )
    if run.downside is not None:
        df = run.downside
        alpha = df["alpha"].max() if len(df) else None
        rows = df[(df["alpha"] == alpha) & df["group"].isin(["strategy", "macro"])]
        for _, row in rows.iterrows():
            items.append(
                f"{_label(row)}: {format_number(100 * row['alpha'])}% ES "
                f"({row['side']} is bad) = {format_number(row['es'])} ± "
                f"{format_number(row['es_mcse'])}; VaR = {format_number(row['var'])}"
            )
    if run.summary is not None and {"p50", "p05", "p95"} <= set(run.summary.columns):
        df = run.summary
        keep = df["group"].isin(["strategy", "macro"]) & df["year"].isna()
        for _, row in df[keep].iterrows():
            items.append(
                f"{_label(row)}: median {format_number(row['p50'])} "
                f"(90% interval {format_number(row['p05'])} to {format_number(row['p95'])})"
            )
    return items


def _figures(run: RunData) -> list[tuple[str, str]]:
    if not run.figures_dir.is_dir():
        return []
    out = []
    for png in sorted(run.figures_dir.glob("*.png")):
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        out.append((png.stem, data))
    return out


def _section(title: str, body: str, anchor: str) -> str:
    return f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{body}</section>'


def build_report(run_dir: str | os.PathLike, run: RunData | None = None) -> Path:
    """Write ``RUN_DIR/report.html`` from the run's CSVs, figures and manifest; return its path.

    Sections: headline numbers, downside (VaR/ES), exceedance, figures, scenario comparison
    (``scenarios.csv``), calibration (``calibration.csv``), what drives the downside
    (``sensitivity.csv``, ``discovery.csv``, ``discovery_text.txt``), summary of the per-path
    scalars, manifest. Sections whose inputs are absent are left out.
    """
    run = run or load_run(run_dir, load_datatree=False)
    manifest = run.manifest
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>jp2040 report: {html.escape(run.path.name)}</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>jp2040 risk report</h1>",
        "<p>Run <code>{}</code>; seed {}; device {}. Money in tn JPY unless stated.</p>".format(
            html.escape(str(run.path.name)),
            html.escape(str(manifest.get("seed", "?"))),
            html.escape(str(manifest.get("device", "?"))),
        ),
    ]
    headlines = _headlines(run)
    if headlines:
        items = "".join(f"<li>{html.escape(h)}</li>" for h in headlines)
        parts.append(_section("Headline numbers", f'<ul class="headline">{items}</ul>', "head"))
    if run.downside is not None:
        body = (
            "<p>VaR: the alpha-quantile on the bad side; ES: mean beyond it; MCSE columns are "
            "Monte Carlo standard errors.</p>" + html_table(run.downside, "downside")
        )
        parts.append(_section("Downside: value at risk and expected shortfall", body, "down"))
    if run.exceedance is not None:
        parts.append(
            _section("Exceedance probabilities", html_table(run.exceedance, "exceedance"), "exceed")
        )
    figures = _figures(run)
    if figures:
        body = "".join(
            f'<figure><img alt="{html.escape(stem)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(stem)}</figcaption></figure>"
            for stem, data in figures
        )
        parts.append(_section("Figures", body, "figures"))
    if run.scenarios is not None:
        parts.append(
            _section("Scenario comparison", html_table(run.scenarios, "scenarios"), "scen")
        )
    if run.calibration is not None:
        parts.append(_section("Calibration", html_table(run.calibration, "calibration"), "calib"))
    drivers = []
    if run.sensitivity is not None:
        drivers.append("<h3>Sensitivity</h3>" + html_table(run.sensitivity, "sensitivity", 200))
    if run.discovery is not None:
        drivers.append("<h3>Scenario discovery</h3>" + html_table(run.discovery, "discovery", 200))
    if run.discovery_text:
        drivers.append(f"<pre>{html.escape(run.discovery_text)}</pre>")
    if drivers:
        parts.append(_section("What drives the downside", "".join(drivers), "drivers"))
    if run.summary is not None:
        scalars = run.summary[run.summary["year"].isna()] if "year" in run.summary else run.summary
        body = f"<details><summary>{len(scalars)} rows</summary>"
        body += html_table(scalars, "summary") + "</details>"
        parts.append(_section("Summary of per-path scalars", body, "summary"))
    manifest_text = json.dumps(manifest, indent=2, sort_keys=True, default=str)
    parts.append(_section("Manifest", f"<pre>{html.escape(manifest_text)}</pre>", "manifest"))
    parts.append("</body></html>")
    return write_text_atomic("\n".join(parts), run.path / "report.html")
