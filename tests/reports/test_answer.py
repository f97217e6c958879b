"""The first screen of report.html: report figures, header facts, risk table, sentences."""

import json

import pandas as pd
import pytest

from reports.captions import caption
from reports.html_answer import MAX_RISK_ROWS, answer_text, driver_sentences, risk_table, run_facts
from reports.rundir import load_run
from reports.targets import report_figures


def test_report_figures_from_configs_and_manifest(tmp_path):
    fig = report_figures()
    assert fig.investment == {
        "social_infrastructure": 63,
        "competitive_advantage": 93,
        "strategic_technology": 10,
        "ecosystem": 24,
    }
    assert fig.profit["competitive_advantage"] == 19 and fig.profit["strategic_technology"] == -1
    assert fig.deficit_2040 == 30 and fig.total_investment == 180
    assert fig.for_variable("investment_cum_2040_report_basis") == fig.investment
    assert fig.for_variable("digital_deficit_2040") == {"": 30}
    assert fig.for_variable("revenue_2040") == {}
    # the run's resolved config (configs/strategies) takes precedence over targets.yaml
    manifest = {"config": {"strategies": {"ecosystem": {"investment_cum_2040": 25}}}}
    assert report_figures(manifest).investment["ecosystem"] == 25
    missing = report_figures(targets_file=tmp_path / "none.yaml")
    assert missing.deficit_2040 is None and missing.for_variable("digital_deficit_2040") == {}


def test_run_facts_device_fallback(run_dir):
    run = load_run(run_dir, load_datatree=False)
    run.manifest = {
        "scenario": "not_so_bright",
        "n_paths": 200000,
        "seed": 3,
        "backend": "gpu",
        "devices_used": ["cuda:0"],
        "git_revision": "39c29c762225919d",
        "created": "2026-11-30T14:44:35+00:00",
    }
    facts = run_facts(run)
    assert facts == {
        "scenario": "not_so_bright",
        "paths": "200,000",
        "seed": "3",
        "device": "gpu (cuda:0)",
        "git": "39c29c7622",
        "date": "2026-11-30 14:44:35+00:00",
    }
    run.manifest["device"] = "gpu: 2 x NVIDIA H200"
    run.manifest["devices"] = ["cuda:0", "cuda:1"]
    assert run_facts(run)["device"] == "gpu: 2 x NVIDIA H200 (1 used)"
    run.manifest = {}
    assert set(run_facts(run).values()) == {"?"}


@pytest.fixture(scope="module")
def run(report_dir):
    return load_run(report_dir[0], load_datatree=False)


def test_risk_table_numbers_come_from_the_csvs(run):
    table = risk_table(run, report_figures(run.manifest))
    assert 0 < len(table) <= MAX_RISK_ROWS
    row = table[table["outcome"] == "digital_deficit_2040"].iloc[0]
    down = run.downside
    cell = down[(down["variable"] == "digital_deficit_2040") & (down["alpha"] == 0.05)].iloc[0]
    assert row["ES 5%"] == f"{cell['es']:.3g} ± {cell['es_mcse']:.1g}"
    assert row["VaR 5%"].startswith(f"{cell['var']:.3g} ± ")
    exc = run.exceedance
    p = exc[exc["variable"] == "digital_deficit_2040"].iloc[0]
    assert row["P(bad)"].startswith(f"{100 * p['probability']:.1f}% ± ")
    assert row["P(bad)"].endswith("(> 30)")
    assert row["report"] == "30"
    profit = table[table["outcome"] == "operating_profit_2040 [competitive_advantage]"].iloc[0]
    assert profit["report"] == "19" and profit["bad side"] == "low"


def test_answer_and_driver_sentences(run):
    text = " ".join(answer_text(run, report_figures(run.manifest)))
    exc = run.exceedance
    p = exc[exc["variable"] == "digital_deficit_2040"]["probability"].iloc[0]
    assert f"{100 * p:.1f}%" in text and "not-so-bright figure is 30" in text
    sentences = driver_sentences(run)
    assert len(sentences) == 3
    sens = run.sensitivity
    first = sens[sens["outcome"] == "digital deficit 2040"]
    top = first.sort_values("first_order", ascending=False)["driver"].iloc[0]
    assert sentences[0].startswith(f"digital deficit 2040: mostly {top} (")


def test_every_figure_has_a_specific_caption(report_dir):
    run_dir, _ = report_dir
    outcomes = list(dict.fromkeys(pd.read_csv(run_dir / "sensitivity.csv")["outcome"]))
    for png in (run_dir / "figures").glob("*.png"):
        title, how = caption(png.stem, outcomes)
        assert how != "A figure of the run.", png.stem
        assert "the outcome" not in title, png.stem
    assert caption("prim_1", outcomes)[0] == f"Scenario discovery (PRIM): {outcomes[1]}"
    assert caption("fan_operating_profit_ecosystem")[0] == "operating profit by year: ecosystem"


def test_report_html_size_and_manifest(report_dir):
    run_dir, _ = report_dir
    text = (run_dir / "report.html").read_text()
    assert len(text.encode()) < 3_000_000
    assert json.loads((run_dir / "manifest.json").read_text())["scenario"] in text
