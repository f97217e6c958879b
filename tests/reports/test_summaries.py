import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from reports.summaries import ReportOptionError, quantile_column, summarize

from .conftest import DOMAINS, MACRO, N_CHAIN, N_DRAW, STRATEGIES, YEARS

Z05 = stats.norm.ppf(0.05)
Z95 = stats.norm.ppf(0.95)


@pytest.fixture(scope="module")
def summary(results):
    return summarize(results)


def test_columns_and_rows(summary):
    assert list(summary.columns) == [
        "group",
        "variable",
        "entity",
        "year",
        "mean",
        "sd",
        "p05",
        "p50",
        "p95",
        "hdi_lo",
        "hdi_hi",
        "mcse_mean",
        "mcse_p05",
        "mcse_p50",
        "mcse_p95",
        "ess_bulk",
        "ess_tail",
        "r_hat",
    ]
    assert str(summary["year"].dtype) == "Int64"
    counts = summary.groupby("group").size()
    assert counts["domain"] == 4 * len(DOMAINS)
    assert counts["strategy"] == 5 * len(STRATEGIES)
    assert counts["macro"] == len(MACRO) + 3 + 2
    assert counts["drivers"] == 3
    assert counts["strategy_yearly"] == 4 * len(YEARS) * len(STRATEGIES)
    assert counts["macro_yearly"] == len(YEARS)
    scalars = summary[~summary["group"].str.endswith("_yearly")]
    assert scalars["year"].isna().all()
    assert summary.loc[summary.group == "macro_yearly", "year"].tolist() == list(YEARS)
    assert (summary.loc[summary.group == "macro_yearly", "entity"] == "").all()


def test_exact_normal_statistics(summary):
    # Stratified N(mu + i, sigma) samples: statistics are the normal's to ~1e-3 sigma.
    rows = summary[(summary.group == "strategy") & (summary.variable == "operating_profit_2040")]
    assert rows["entity"].tolist() == STRATEGIES
    mu = 1.0 + np.arange(len(STRATEGIES))
    np.testing.assert_allclose(rows["mean"], mu, atol=1e-9)
    np.testing.assert_allclose(rows["sd"], 1.0, atol=1e-3)
    np.testing.assert_allclose(rows["p50"], mu, atol=1e-3)
    np.testing.assert_allclose(rows["p05"], mu + Z05, atol=3e-3)
    np.testing.assert_allclose(rows["p95"], mu + Z95, atol=3e-3)
    # Symmetric unimodal: the 90% HDI is the central interval.
    np.testing.assert_allclose(rows["hdi_lo"], mu + Z05, atol=0.02)
    np.testing.assert_allclose(rows["hdi_hi"], mu + Z95, atol=0.02)
    macro = summary[(summary.group == "macro") & (summary.variable == "digital_deficit_2040")]
    assert macro["entity"].tolist() == [""]
    assert macro["p95"].item() == pytest.approx(25 + 5 * Z95, abs=0.02)


def test_diagnostics_match_arviz_when_uncapped(results, summary):
    # With fewer draws per chain than the cap, our diagnostics are exactly ArviZ's.
    ds = results["domain"].to_dataset()
    ours = summary[summary.group == "domain"].set_index(["variable", "entity"])
    with az.rc_context({"stats.ci_kind": "hdi", "stats.ci_prob": 0.9}):
        ess_bulk = az.ess(ds, method="bulk")
        ess_tail = az.ess(ds, method="tail", prob=(0.05, 0.95))
        rhat = az.rhat(ds)
        mcse_mean = az.mcse(ds, method="mean")
        mcse_q = az.mcse(ds, method="quantile", prob=0.05)
        hdi = az.hdi(ds, prob=0.9)
    for name in ds.data_vars:
        for ent in DOMAINS:
            row = ours.loc[(name, ent)]
            sel = {"domain": ent}
            assert row["ess_bulk"] == pytest.approx(float(ess_bulk[name].sel(sel)), rel=1e-9)
            assert row["ess_tail"] == pytest.approx(float(ess_tail[name].sel(sel)), rel=1e-9)
            assert row["r_hat"] == pytest.approx(float(rhat[name].sel(sel)), rel=1e-9)
            assert row["mcse_mean"] == pytest.approx(float(mcse_mean[name].sel(sel)), rel=1e-9)
            assert row["mcse_p05"] == pytest.approx(float(mcse_q[name].sel(sel)), rel=1e-9)
            lo, hi = hdi[name].sel(sel).values
            assert (row["hdi_lo"], row["hdi_hi"]) == pytest.approx((lo, hi), rel=1e-12)


def test_summary_matches_az_summary_stats(results, summary):
    ref = az.summary(results, group="area", kind="all", ci_kind="hdi", ci_prob=0.9, round_to="none")
    ours = summary[summary.group == "area"]
    for _, row in ours.iterrows():
        label = f"{row['variable']}[{row['entity']}]"
        assert row["mean"] == pytest.approx(ref.loc[label, "mean"], rel=1e-12)
        assert row["sd"] == pytest.approx(ref.loc[label, "sd"], rel=1e-9)
        assert row["ess_bulk"] == pytest.approx(ref.loc[label, "ess_bulk"], rel=1e-9)
        assert row["r_hat"] == pytest.approx(ref.loc[label, "r_hat"], rel=1e-9)


def test_capped_diagnostics_are_close(results, summary):
    capped = summarize(results, groups=["domain"], diag_max_draws=200)
    full = summary[summary.group == "domain"].reset_index(drop=True)
    n = N_CHAIN * N_DRAW
    # i.i.d. draws: ESS about n either way; the cap only adds estimation noise.
    np.testing.assert_allclose(capped["ess_bulk"] / n, full["ess_bulk"] / n, atol=0.3)
    np.testing.assert_allclose(capped["mcse_mean"], full["mcse_mean"], rtol=0.3)
    pd.testing.assert_series_equal(capped["p05"], full["p05"])


def test_yearly_trend(summary):
    rows = summary[(summary.group == "macro_yearly") & (summary.variable == "digital_deficit")]
    truth = 15.0 + (YEARS - YEARS[0])
    # Noise N(0, 1), 160 paths: mean within 4 MCSE of the trend, the MCSE about 1/sqrt(160).
    assert np.all(np.abs(rows["mean"].to_numpy() - truth) < 4 * rows["mcse_mean"].to_numpy())
    assert rows["mcse_mean"].between(0.04, 0.15).all()


def test_quantile_names_and_var_names(results):
    df = summarize(
        results,
        quantiles=(0.01, 0.5, 0.975),
        var_names=["macro/digital_deficit_2040", "agi_year"],
    )
    assert {"p01", "p50", "p97.5", "mcse_p97.5"} <= set(df.columns)
    assert df["variable"].tolist() == ["digital_deficit_2040", "agi_year"]
    assert quantile_column(0.05) == "p05"


def test_unknown_names_raise(results):
    with pytest.raises(ReportOptionError, match="valid.*digital_deficit_2040"):
        summarize(results, var_names=["digital_deficit_2041"])
    with pytest.raises(ReportOptionError, match="valid groups"):
        summarize(results, groups=["nope"])
