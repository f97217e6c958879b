import numpy as np
import pytest
from scipy import stats

from reports.downside import (
    DEFAULT_THRESHOLDS,
    bad_side,
    downside,
    exceedance,
    exceedance_probability,
    expected_shortfall,
    value_at_risk,
)
from reports.summaries import ReportOptionError

from .conftest import N_CHAIN, N_DRAW, STRATEGIES


def normal_es(mu, sigma, alpha, side):
    z = stats.norm.ppf(alpha)
    shift = sigma * stats.norm.pdf(z) / alpha
    return mu - shift if side == "low" else mu + shift


def lognormal_es_high(mu, s, alpha):
    z = stats.norm.ppf(1 - alpha)
    return np.exp(mu + s**2 / 2) * stats.norm.cdf(s - z) / alpha


def test_closed_forms_on_a_large_normal_sample():
    x = np.random.default_rng(1).normal(3.0, 2.0, size=(4, 25_000))
    for side in ("low", "high"):
        for alpha in (0.05, 0.01):
            var = value_at_risk(x, alpha, side)
            es = expected_shortfall(x, alpha, side)
            q = stats.norm.ppf(alpha if side == "low" else 1 - alpha, 3.0, 2.0)
            assert abs(var.value - q) < 4 * var.mcse
            assert abs(es.value - normal_es(3.0, 2.0, alpha, side)) < 4 * es.mcse
            # MCSE about the i.i.d. asymptotic value (not zero, not huge).
            assert (
                0.5
                < var.mcse
                / (2.0 * np.sqrt(alpha * (1 - alpha) / 1e5) / stats.norm.pdf(stats.norm.ppf(alpha)))
                < 2.0
            )


def test_shapes_and_one_chain():
    x = np.random.default_rng(2).normal(size=(3, 2, 4, 200))
    est = expected_shortfall(x, 0.05, "low")
    assert est.value.shape == (3, 2) and est.mcse.shape == (3, 2)
    one = value_at_risk(np.arange(1001.0), 0.1, "low")
    assert float(one.value) == pytest.approx(100.0)
    with pytest.raises(ReportOptionError, match="side must be one of"):
        value_at_risk(x, 0.05, "down")


def coverage(estimate, truth):
    return np.mean(np.abs(estimate.value - truth) < 2 * estimate.mcse)


def test_mcse_coverage_across_replicates():
    # 200 replicate samples of 4 chains x 1000 draws, processed as one batch.
    rng = np.random.default_rng(3)
    alpha = 0.05
    x = rng.normal(0.0, 1.0, size=(200, 4, 1000))
    cov_var = coverage(value_at_risk(x, alpha, "low"), stats.norm.ppf(alpha))
    cov_es = coverage(expected_shortfall(x, alpha, "low"), normal_es(0.0, 1.0, alpha, "low"))
    cov_p = coverage(exceedance_probability(x, 1.0, "high"), stats.norm.sf(1.0))
    # Skewed, high side: lognormal(0, 0.5).
    y = rng.lognormal(0.0, 0.5, size=(200, 4, 1000))
    cov_es_ln = coverage(expected_shortfall(y, alpha, "high"), lognormal_es_high(0.0, 0.5, alpha))
    cov_var_ln = coverage(value_at_risk(y, alpha, "high"), stats.lognorm.ppf(1 - alpha, 0.5))
    for cov in (cov_var, cov_es, cov_p, cov_es_ln, cov_var_ln):
        assert 0.88 <= cov <= 0.99, (cov_var, cov_es, cov_p, cov_es_ln, cov_var_ln)


def test_downside_table_exact_answers(results):
    df = downside(results)
    assert list(df.columns) == [
        "group",
        "variable",
        "entity",
        "year",
        "side",
        "alpha",
        "var",
        "es",
        "var_mcse",
        "es_mcse",
        "source",
    ]
    assert (df["source"] == f"all {N_CHAIN * N_DRAW} paths").all()  # no tail buffers here
    assert set(df["alpha"]) == {0.05, 0.01}
    assert df["year"].isna().all()
    assert set(df["group"]) == {"domain", "strategy", "area", "macro"}
    dd = df[(df.variable == "digital_deficit_2040") & (df.alpha == 0.05)].iloc[0]
    assert dd["side"] == "high" and dd["entity"] == ""
    # Stratified N(25, 5): VaR/ES equal the closed forms up to the 1/N discretisation.
    assert dd["var"] == pytest.approx(25 + 5 * stats.norm.ppf(0.95), abs=0.02)
    assert dd["es"] == pytest.approx(normal_es(25, 5, 0.05, "high"), abs=0.02)
    op = df[
        (df.group == "strategy") & (df.variable == "operating_profit_2040") & (df.alpha == 0.01)
    ]
    assert op["side"].eq("low").all() and op["entity"].tolist() == STRATEGIES
    mu = 1.0 + np.arange(len(STRATEGIES))
    np.testing.assert_allclose(op["es"], normal_es(mu, 1.0, 0.01, "low"), atol=0.02)
    assert (op["es_mcse"] > 0).all() and (op["var_mcse"] > 0).all()


def test_downside_variable_selection(results):
    df = downside(results, alphas=(0.1,), variables=["strategy/investment_cum_2040"])
    assert df["side"].eq("high").all() and len(df) == len(STRATEGIES)
    with pytest.raises(ReportOptionError, match="valid"):
        downside(results, variables=["operating_profit_2050"])


def test_bad_side_is_the_engines_attr(results):
    """Reports read the side from the ``bad_side`` attr the engine writes (one definition, by
    base name, in engine.results); a variable without it is an error naming it."""
    from engine.results import bad_side as engine_bad_side

    assert engine_bad_side("operating_profit_2040") == "low"
    assert engine_bad_side("investment_cum_2040_report_basis") == "high"
    assert engine_bad_side("investment_total_cum_2040") == "high"
    assert engine_bad_side("labour_shortage_2040") == "high"
    assert engine_bad_side("existing_value_added_2040") == "low"
    assert bad_side("revenue_2040", {"bad_side": "high"}) == "high"
    with pytest.raises(ReportOptionError, match="'mystery': bad_side attr"):
        bad_side("mystery", {})
    flipped = results.copy(deep=True)
    flipped["strategy"]["revenue_2040"].attrs["bad_side"] = "high"
    df = downside(flipped, alphas=(0.1,), variables=["strategy/revenue_2040"])
    assert df["side"].eq("high").all()
    del flipped["strategy"]["revenue_2040"].attrs["bad_side"]
    with pytest.raises(ReportOptionError, match="revenue_2040"):
        downside(flipped, alphas=(0.1,), variables=["strategy/revenue_2040"])


def test_default_exceedance_exact(results):
    df = exceedance(results)
    assert list(df.columns) == [
        "group",
        "variable",
        "entity",
        "year",
        "threshold",
        "side",
        "probability",
        "mcse",
        "source",
    ]
    assert len(df) == 2 + len(STRATEGIES)
    n = N_CHAIN * N_DRAW
    dd = df[df.variable == "digital_deficit_2040"].iloc[0]
    assert dd["probability"] == pytest.approx(stats.norm.sf(1.0), abs=1.0 / n)
    inv = df[df.variable == "investment_total_cum_2040"].iloc[0]
    assert inv["probability"] == pytest.approx(stats.norm.sf(1.0), abs=1.0 / n)
    op = df[df.variable == "operating_profit_2040"]
    assert op["entity"].tolist() == STRATEGIES
    truth = stats.norm.cdf(-(1.0 + np.arange(len(STRATEGIES))))
    np.testing.assert_allclose(op["probability"], truth, atol=1.0 / n)
    p = op["probability"].to_numpy()
    np.testing.assert_allclose(op["mcse"], np.sqrt(p * (1 - p) / n), rtol=0.25)
    assert DEFAULT_THRESHOLDS[0]["threshold"] == 30.0


def test_exceedance_yearly_and_errors(results):
    spec = [{"variable": "digital_deficit", "year": 2040, "threshold": 29.0, "side": "high"}]
    df = exceedance(results, spec)
    assert df["year"].tolist() == [2040] and df["group"].tolist() == ["macro_yearly"]
    assert 0.2 < df["probability"].item() < 0.8
    with pytest.raises(ReportOptionError, match="valid: \\['social_infrastructure'"):
        exceedance(
            results,
            [
                {
                    "group": "strategy",
                    "variable": "operating_profit_2040",
                    "entity": "moonshot",
                    "threshold": 0,
                    "side": "low",
                }
            ],
        )
    with pytest.raises(ReportOptionError, match="give 'group'"):
        exceedance(results, [{"variable": "revenue_2040", "threshold": 0, "side": "low"}])
    with pytest.raises(ReportOptionError, match="unknown year 2050"):
        exceedance(results, [{**spec[0], "year": 2050}])


# --- reports.scenarios (paired comparison) -------------------------------------------------


def test_compare_scenarios_paired_exact(results):
    from reports.scenarios import compare_scenarios

    from .conftest import make_results

    lower = make_results(shift=-0.5)  # same seed: the same paths, every scalar 0.5 lower
    df = compare_scenarios({"capture": results, "decline": lower}, baseline="capture")
    assert set(df["scenario"]) == {"decline"} and set(df["baseline"]) == {"capture"}
    assert len(df) == 2 * len(STRATEGIES) + 2
    np.testing.assert_allclose(df["mean_diff"], -0.5, atol=1e-9)
    np.testing.assert_allclose(df["diff_p05"], -0.5, atol=1e-9)
    np.testing.assert_allclose(df["mcse_mean_diff"], 0.0, atol=1e-9)
    op = df[df.variable == "operating_profit_2040"]
    assert op["p_worse"].eq(1.0).all()  # low is bad: lower profit on every path
    dd = df[df.variable == "digital_deficit_2040"]
    assert dd["p_worse"].eq(0.0).all()  # high is bad: a lower deficit is never worse


def test_compare_scenarios_noisy_difference(results):
    from reports.scenarios import compare_scenarios

    noisy = results.copy(deep=True)
    ds = noisy["strategy"].to_dataset()
    rng = np.random.default_rng(7)
    ds["operating_profit_2040"] = ds["operating_profit_2040"] + rng.normal(
        0.2, 1.0, ds["operating_profit_2040"].shape
    )
    noisy["strategy"] = ds
    df = compare_scenarios(
        {"capture": results, "noisy": noisy}, variables=["strategy/operating_profit_2040"]
    )
    assert len(df) == len(STRATEGIES)
    assert (np.abs(df["mean_diff"] - 0.2) < 4 * df["mcse_mean_diff"]).all()
    np.testing.assert_allclose(df["mcse_mean_diff"], 1 / np.sqrt(N_CHAIN * N_DRAW), rtol=0.25)
    np.testing.assert_allclose(df["p_worse"], stats.norm.cdf(-0.2), atol=0.04)
    np.testing.assert_allclose(df["diff_p95"] - df["diff_p05"], 2 * 1.645, atol=0.2)


def test_compare_scenarios_errors(results):
    from reports.scenarios import compare_scenarios

    from .conftest import make_results

    with pytest.raises(ReportOptionError, match="unknown baseline"):
        compare_scenarios({"a": results}, baseline="capture")
    short = make_results(n_draw=400)
    with pytest.raises(ValueError, match="cannot pair paths"):
        compare_scenarios({"capture": results, "short": short})
