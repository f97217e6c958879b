"""The prior check (mode=prior) and the provenance listing (report.provenance=true)."""

import subprocess
import sys

import pytest

from engine import compose
from engine.prior import prior_check
from engine.provenance import provenance_table


def test_prior_check_recovers_driver_specs():
    table = prior_check(compose(["engine.progress=false"]), n=50_000).set_index("driver")
    # agi: metalog with median 2037, 90% interval [2029, 2060]
    assert table.loc["agi", "median"] == pytest.approx(2037, abs=0.3)
    assert table.loc["agi", "p05"] == pytest.approx(2029, abs=0.3)
    assert table.loc["agi", "p95"] == pytest.approx(2060, abs=1.0)
    assert 0.3 < table.loc["agi", "p_after_2040"] < 0.45
    assert table.loc["fx", "p05"] == pytest.approx(115, rel=0.02)
    assert table.loc["fx", "p95"] == pytest.approx(195, rel=0.02)
    assert table["p_after_2040"].notna().sum() == 3  # the three arrival years only
    assert len(table) == 210  # 15 global, 7 x 25 domain, 3 x 4 strategy, 8 impact drivers


def test_every_parameter_has_a_source():
    table = provenance_table(compose([]))
    assert set(table["source"]) <= {"report", "external", "assumption"}
    assert (table["source"] == "report").sum() > 50
    assert table["parameter"].is_unique


def test_provenance_switch_lists_parameters(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "jp2040", "report.provenance=true", f"hydra.run.dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "strategies.competitive_advantage.investment_cum_2040" in proc.stdout
    assert "assumption" in proc.stdout and "external" in proc.stdout
