import base64
import os
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from reports.figures import (
    driver_distributions,
    exceedance_curve,
    fan_chart,
    forest_plot,
    save_figure,
)
from reports.html import build_report, format_number
from reports.summaries import ReportOptionError

from .conftest import STRATEGIES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class TableParser(HTMLParser):
    """Collects the cell texts of every table by id, and the img src attributes."""

    def __init__(self):
        super().__init__()
        self.tables, self.images = {}, []
        self._table = self._row = self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(attrs.get("id"), [])
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""
        elif tag == "img":
            self.images.append(attrs["src"])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


@pytest.fixture(scope="module")
def reported(report_dir):
    """The shared run dir after write_reports (conftest.report_dir)."""
    return report_dir


def test_figures_return_figures(results):
    assert isinstance(forest_plot(results, "operating_profit_2040", "strategy"), Figure)
    fig = forest_plot(results, "investment_cum_2040", "domain")
    assert "tn JPY" in fig.axes[0].get_xlabel()
    assert isinstance(fan_chart(results, "operating_profit", STRATEGIES[0], "strategy"), Figure)
    assert isinstance(fan_chart(results, "digital_deficit", None, "macro"), Figure)
    x = np.random.default_rng(0).normal(size=1000)
    fig = exceedance_curve(x, "low", -1.64, -2.06, "profit", "tn JPY")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["VaR = -1.64", "ES = -2.06"]
    fig = driver_distributions(results)
    assert sum(ax.get_visible() for ax in fig.axes) == 3
    with pytest.raises(ReportOptionError, match="valid"):
        fan_chart(results, "operating_profit", "moonshot", "strategy")
    with pytest.raises(ReportOptionError, match="level must be one of"):
        forest_plot(results, "operating_profit_2040", "planet")


def test_save_figure_atomic_png_svg(tmp_path):
    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    paths = save_figure(fig, tmp_path / "sub" / "line", formats=("png", "svg"))
    assert [p.name for p in paths] == ["line.png", "line.svg"]
    assert paths[0].read_bytes().startswith(PNG_MAGIC)
    assert b"<svg" in paths[1].read_bytes()[:400]
    assert sorted(os.listdir(tmp_path / "sub")) == ["line.png", "line.svg"]  # no temp files left
    with pytest.raises(ReportOptionError, match="valid"):
        save_figure(fig, tmp_path / "x", formats=("gif",))


def test_write_reports_outputs(reported):
    run_dir, written = reported
    names = {p.name for p in written}
    assert {"downside.csv", "exceedance.csv", "report.html"} <= names
    assert "summary.csv" not in names  # the engine's summary.csv is never rewritten
    pngs = sorted(p for p in written if p.suffix == ".png")
    # forests, fans (+ deficit), exceedance, drivers; headline deficit and strategies, scenarios
    assert len(pngs) == 4 + len(STRATEGIES) + 1 + 2 + 1 + 2 + 1
    assert {"headline_deficit.png", "headline_strategies.png", "scenarios.png"} <= names
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in pngs)


def test_html_is_self_contained_and_parses(reported):
    run_dir, _ = reported
    text = (run_dir / "report.html").read_text()
    parser = TableParser()
    parser.feed(text)
    parser.close()
    pngs = list((run_dir / "figures").glob("*.png"))
    assert text.count("data:image/png;base64,") == len(pngs)
    assert len(parser.images) == len(pngs)
    for src in parser.images:
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
    # one inline script, nothing fetched
    assert text.count("<script") == 1 and "<script>" in text
    for forbidden in ("<link", 'src="http', "http://", "https://", "<script src"):
        assert forbidden not in text
    # Text is escaped: the discovery text's "<policy fails>" shows as text, not as a tag.
    assert "&lt;policy fails&gt;" in text
    assert "cpu &lt;test&gt;" in text
    sens = pd.read_csv(run_dir / "sensitivity.csv")
    assert parser.tables["sensitivity"][0] == list(sens.columns)
    assert parser.tables["sensitivity"][1][:2] == [sens["driver"][0], sens["outcome"][0]]


def test_html_downside_numbers_match_csv(reported):
    run_dir, _ = reported
    parser = TableParser()
    parser.feed((run_dir / "report.html").read_text())
    table = parser.tables["downside"]
    csv = pd.read_csv(run_dir / "downside.csv", keep_default_na=False, na_values=[""])
    assert table[0] == list(csv.columns)
    assert len(table) - 1 == len(csv)
    for row_html, (_, row) in zip(table[1:], csv.iterrows()):
        for col, shown in zip(csv.columns, row_html):
            value = row[col]
            if col in ("var", "es", "var_mcse", "es_mcse", "alpha"):
                assert shown == format_number(float(value)), (col, shown, value)
    ex = parser.tables["exceedance"]
    ex_csv = pd.read_csv(run_dir / "exceedance.csv")
    probs = [r[ex[0].index("probability")] for r in ex[1:]]
    assert probs == [format_number(p) for p in ex_csv["probability"]]


def test_format_number():
    assert format_number(0.123456) == "0.1235"
    assert format_number(12345.678) == "1.235e+04"
    assert format_number(float("nan")) == ""
    assert format_number(pd.NA) == ""
    assert format_number(np.int64(2040)) == "2040"


def test_build_report_optional_sections(tmp_path, reported):
    import shutil

    run_dir, _ = reported
    other = tmp_path / "r"
    shutil.copytree(run_dir, other)
    pd.DataFrame({"scenario": ["decline"], "mean_diff": [-0.5]}).to_csv(
        other / "scenarios.csv", index=False
    )
    pd.DataFrame({"target": ["x"], "z": [0.1]}).to_csv(other / "calibration.csv", index=False)
    path = build_report(other)
    parser = TableParser()
    parser.feed(path.read_text())
    assert parser.tables["scenarios"][1] == ["decline", "-0.5"]
    assert parser.tables["calibration"][1] == ["x", "0.1"]


def test_fan_chart_prefers_all_path_quantiles(results):
    from .conftest import YEARS

    rows = pd.DataFrame(
        {
            "group": "macro_yearly",
            "variable": "digital_deficit",
            "entity": "",
            "year": YEARS,
            "p05": 1.0,
            "p50": np.arange(len(YEARS), dtype=float),
            "p95": 40.0,
            "quantiles_from": "histogram",
        }
    )
    fig = fan_chart(results, "digital_deficit", None, "macro", 30.0, summary=rows)
    ax = fig.axes[0]
    median = next(line for line in ax.get_lines() if line.get_label() == "median")
    np.testing.assert_array_equal(median.get_ydata(), rows["p50"])
    assert "all paths" in ax.get_title()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["90% band", "50% band (kept paths)", "median", "report"]
    kept = fan_chart(
        results,
        "digital_deficit",
        None,
        "macro",
        summary=rows.assign(quantiles_from="40 kept paths"),
    )
    assert "kept paths" in kept.axes[0].get_title() and "all paths" not in kept.axes[0].get_title()
