"""The not-so-bright transmission (engine.macro) against hand computations on the nominal path,
strategy dependence against its closed form, and investment under failure."""

import numpy as np
import pytest

from engine import compose, simulate
from engine.params import build_params, investment_weights
from tests.point_mass import point_mass_config

SCENARIOS = {
    "capture": "scenario=capture",
    "not_so_bright": "scenario=not_so_bright",
    # sovereign AI captured, the domestic DC build-out (strategy 2) not: a partial restraint
    "partial": "scenario.policy_success_prob={social_infrastructure: 1, competitive_advantage: 0, "
    "strategic_technology: 1, ecosystem: 1}",
}


@pytest.fixture(scope="module")
def runs():
    out = {}
    for name, override in SCENARIOS.items():
        cfg = point_mass_config([override])
        out[name] = (cfg, simulate(cfg))
    return out


def _year(res, var, i=None):
    """(T,) trajectory of path 0."""
    x = res.raw.trajectories["macro_yearly"][var][0, 0]
    return x if i is None else x[:, i]


def _hand_deficit(cfg, res):
    """The deficit mechanism recomputed from the path's own outputs (the nominal path)."""
    p = build_params(cfg)
    m = cfg.macro
    dd = m["digital_deficit"]
    years = p.years[: p.n_report_years]
    since = years - 2024.0
    traj = res.raw.trajectories["domain_yearly"]
    ai = p.ai_domain
    d = cfg.domains[dd["ai_domain"]]
    revenue = traj["revenue"][0, 0, :, ai]  # = market x adoption x share
    ai_spend = revenue / res.scalars("domain", "japan_share_2040").iloc[0, ai]
    share = res.scalars("domain", "japan_share_2040").iloc[0, ai]
    success = res.scalars("strategy", "strategy_success").iloc[0].to_numpy()
    c = dd["compute_share"]
    dc = dd["dc_domestic_share"]["captured" if success[p.dc_strategy] else "failed"]
    baseline = dd["value_2024"] * 1.07**since
    deficit0 = baseline + ai_spend * ((1 - c) * (1 - share) + c * (1 - dc))
    none = min(d.japan_share * cfg.scenario.failure_share_factor, 0.99)
    dc_none = dd["dc_domestic_share"]["failed"]
    nothing = baseline + ai_spend * ((1 - c) * (1 - none) + c * (1 - dc_none))
    return years, deficit0, nothing


def test_deficit_gap_comes_from_the_mechanism(runs):
    """Paired capture vs not_so_bright on the same (nominal) path: each deficit equals the
    mechanism at the path's exchange rate; the restraint is the deficit with nothing captured
    minus the path's; a path with sovereign AI but no domestic DC build-out gets a partial
    restraint, exactly the model share's part."""
    restraint = {}
    for name, (cfg, res) in runs.items():
        years, deficit0, nothing = _hand_deficit(cfg, res)
        fx = _year(res, "fx")
        yen = fx / 150.0
        np.testing.assert_allclose(_year(res, "digital_deficit"), deficit0 * yen, rtol=2e-5)
        np.testing.assert_allclose(
            _year(res, "digital_deficit_restraint"),
            (nothing - deficit0) * yen,
            rtol=2e-4,
            atol=1e-6,
        )
        restraint[name] = res.scalars("macro", "digital_deficit_restraint_2040").iloc[0, 0]
    assert restraint["not_so_bright"] == pytest.approx(0.0, abs=1e-6)
    assert 0.0 < restraint["partial"] < restraint["capture"]
    nsb = runs["not_so_bright"][1].scalars("macro", "digital_deficit_2040").iloc[0, 0]
    cap = runs["capture"][1].scalars("macro", "digital_deficit_2040").iloc[0, 0]
    assert nsb > cap


def test_fx_and_fiscal_block_by_hand(runs):
    """fx = 150 (1 + e 100 (drag - 6.7) / GDP); pb = fiscal effect + tax/GDP x value-added gap
    (base ratio 0); debt(t) = debt(t-1)(1 + r) - pb(t) from 2.1 x GDP(2025); GNI per head."""
    for cfg, res in runs.values():
        p = build_params(cfg)
        m = cfg.macro
        tr, fis = m["transmission"], m["fiscal"]
        years = p.years[: p.n_report_years]
        since = years - 2024.0
        traj = res.raw.trajectories["domain_yearly"]
        revenue = traj["revenue"][0, 0]  # (T, D)
        success = res.scalars("strategy", "strategy_success").iloc[0].to_numpy()
        failed = 1.0 - success.mean()
        infl = m["defense"]["japan_inflation"]
        va_real = 610 * (1.005 - cfg.scenario.existing_shrink_per_year * failed) ** since
        va_gap = (va_real - 610 * 1.005**since) * (1 + infl) ** since
        gdp = va_real * (1 + infl) ** since + tr["value_added_ratio"] * revenue.sum(axis=1)
        earnings = tr["foreign_earnings_share"] * revenue[:, p.global_scope].sum(axis=1)
        _, deficit0, _ = _hand_deficit(cfg, res)
        gdp_base = 610 * 1.005**since * (1 + infl) ** since
        fx = 150.0 * (1 + tr["fx_elasticity"] * 100 * (deficit0 - earnings - 6.7) / gdp_base)
        np.testing.assert_allclose(_year(res, "fx"), fx, rtol=2e-5)
        pb = _year(res, "fiscal_effect") + fis["tax_to_gdp"] * va_gap
        np.testing.assert_allclose(_year(res, "primary_balance"), pb, rtol=1e-4, atol=1e-4)
        debt = fis["debt_to_gdp_2024"] * 610 * (1.005 + infl)
        ratios = []
        for k in range(len(years)):
            debt = debt * (1 + fis["interest_rate"]) - pb[k]
            ratios.append(debt / gdp[k])
        np.testing.assert_allclose(_year(res, "debt_to_gdp"), ratios, rtol=1e-4)
        pop = tr["population_2024"] * (1 + tr["population_growth"]) ** since
        gni = gdp * (1 + tr["primary_income_ratio"]) / pop / fx * 1e3
        np.testing.assert_allclose(_year(res, "gni_per_capita"), gni, rtol=1e-4)
    # the report's picture: capture's primary balance dips, then improves by 2040; the
    # not-so-bright one stays in deficit and ends worse than it starts
    pb_cap = _year(runs["capture"][1], "primary_balance")
    pb_nsb = _year(runs["not_so_bright"][1], "primary_balance")
    assert pb_cap.min() < 0 < pb_cap[-1] and pb_cap[-1] > pb_cap[0]
    assert (pb_nsb < 0).all() and pb_nsb[-1] < pb_nsb[0] and pb_nsb[-1] < pb_cap[-1]


def test_failed_strategy_spends_until_its_onset(runs):
    cfg, res = runs["not_so_bright"]
    p = build_params(cfg)
    years = p.years[: p.n_report_years]
    inv = cfg.macro["investment"]
    after = cfg.macro["investment_under_failure"]["spend_after_onset"]
    i = p.domain_ids.index("metal_recycling")
    d = cfg.domains["metal_recycling"]
    grid = 2026 + np.arange(200.0)
    w = investment_weights(
        grid, d.launch_year, 2026, inv["post_launch_years"], inv["post_launch_decay"]
    )
    planned = p.investment_total[i] * w[: len(years)] / w.sum()
    expected = np.where(years > d.launch_year, after * planned, planned)
    got = res.raw.trajectories["domain_yearly"]["investment"][0, 0, :, i]
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-7)


def test_strategy_three_failing_lowers_the_others_closed_form():
    """mixed: P(s | 3 fails) = p_s (1 - k), P(s | 3 succeeds) = p_s, within 4 binomial SEs."""
    cfg = compose(["engine.n_paths=20000", "engine.progress=false", "engine.keep_trajectories=0"])
    res = simulate(cfg)
    succ = res.scalars("strategy", "strategy_success")
    k = cfg.macro["strategy_dependence"]["strength"]
    probs = cfg.scenario.policy_success_prob
    pre = succ["strategic_technology"] == 1
    assert pre.mean() == pytest.approx(
        probs["strategic_technology"], abs=4 * np.sqrt(0.25 / len(pre))
    )
    for s in ("social_infrastructure", "competitive_advantage", "ecosystem"):
        for cond, expected in ((~pre, probs[s] * (1 - k)), (pre, probs[s])):
            x = succ.loc[cond, s]
            se = np.sqrt(expected * (1 - expected) / len(x))
            assert x.mean() == pytest.approx(expected, abs=4 * se), (s, expected)
    assert set(np.unique(succ.to_numpy())) <= {0.0, 1.0}
