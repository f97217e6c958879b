"""Hand-checked cases: with every driver fixed (point masses) the engine reproduces the closed-form
adoption, revenue, profit and cumulative investment, and the report's central figures."""

import copy

import numpy as np
import pytest

from engine import compose, simulate
from engine.config import validate
from engine.params import adoption, build_params, dc_facility_capex, investment_weights
from tests.point_mass import set_point_mass_drivers


def fixed_config():
    """Every driver a point mass at its median, no copula, no calibration scales: the nominal
    path, whose numbers have closed forms."""
    base = compose(
        [
            "scenario=capture",
            "engine.n_paths=64",
            "engine.chains=2",
            "engine.chunk_size=64",
            "engine.keep_trajectories=64",
            "engine.progress=false",
        ]
    )
    raw = copy.deepcopy(base.raw)
    set_point_mass_drivers(raw)
    raw["macro"]["calibration"] = {
        "market_scale": {},
        "investment_scale": {},
        "impact_scale": {},
        "humanoid_take_up_scale": 1.0,
    }
    return validate(raw)


@pytest.fixture(scope="module")
def fixed():
    cfg = fixed_config()
    return cfg, simulate(cfg)


def test_point_mass_paths_are_identical(fixed):
    _, res = fixed
    prof = res.scalars("strategy", "operating_profit_2040").to_numpy()
    assert np.ptp(prof, axis=0).max() == 0.0


def test_closed_form_adoption_revenue_investment(fixed):
    cfg, res = fixed
    p = build_params(cfg)
    years = p.years[: p.n_report_years]
    i = p.domain_ids.index("metal_recycling")
    d = cfg.domains["metal_recycling"]
    a = adoption(years, d.launch_year, d.bass_p, d.bass_q, cfg.engine.launch_adoption)
    market = d.market_2040 * (1 + cfg.macro["market_growth"]) ** (years - 2040)
    revenue = market * a * d.japan_share
    traj = res.raw.trajectories["domain_yearly"]
    np.testing.assert_allclose(traj["revenue"][0, 0, :, i], revenue, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(
        traj["operating_profit"][0, 0, :, i],
        revenue * d.margin - d.fixed_cost,
        rtol=2e-5,
        atol=1e-6,
    )
    inv = cfg.macro["investment"]
    grid = 2026 + np.arange(200.0)
    w = investment_weights(
        grid, d.launch_year, 2026, inv["post_launch_years"], inv["post_launch_decay"]
    )
    expected = p.investment_total[i] * w[: len(years)] / w.sum()
    np.testing.assert_allclose(traj["investment"][0, 0, :, i], expected, rtol=2e-5, atol=1e-6)
    cum = res.scalars("domain", "investment_cum_2040")["metal_recycling"].iloc[0]
    assert cum == pytest.approx(d.investment_2040, rel=2e-5)


def test_nominal_case_reproduces_the_report(fixed):
    _, res = fixed
    inv = res.scalars("strategy", "investment_cum_2040_report_basis").iloc[0]
    prof = res.scalars("strategy", "operating_profit_2040_report_basis").iloc[0]
    np.testing.assert_allclose(inv.to_numpy(), [63, 93, 10, 24], rtol=1e-4)
    np.testing.assert_allclose(prof.to_numpy(), [3, 19, -1, 3], rtol=1e-3, atol=2e-4)
    macro = {
        v: res.scalars("macro", f"{v}_2040").iloc[0, 0]
        for v in (
            "social_security_savings",
            "import_substitution",
            "tourism_demand",
            "autonomy_solutions_sales",
            "dc_power_saving",
            "digital_deficit_restraint",
            "autonomous_driving_market",
            "workers_added",
        )
    }
    np.testing.assert_allclose(
        list(macro.values()), [13, 0.7, 3, 44, 2.0, 6.9, 2.7, 4.36], rtol=1e-4
    )
    ratio = res.scalars("macro", "defense_ratio_2040").iloc[0].to_numpy()
    np.testing.assert_allclose(ratio, [3.5, 3.5, 3.5], rtol=1e-6)
    deficit = 6.7 * 1.0981**16 - 6.9
    assert res.scalars("macro", "digital_deficit_2040").iloc[0, 0] == pytest.approx(
        deficit, rel=1e-4
    )


def test_dc_capex_method_matches_report_arithmetic():
    dc = {
        "twh_2024": 415,
        "load_factor": 0.8,
        "utilisation": 0.7,
        "capex_usd_per_w": 12,
        "facility_share": 0.75,
    }
    y = np.arange(2025, 2031.0)
    avg = dc_facility_capex(y, 807.5, 1200.0, 150.0, dc).mean()
    # (807.5 - 415) TWh over 6 years -> GW -> 12 USD/W x 75% x 150 JPY/USD
    exact = (807.5 - 415) * 1e12 / (8760 * 0.56) / 6 * 12 * 0.75 * 150 / 1e12
    assert avg == pytest.approx(exact, rel=1e-9)
    assert 17.5 < avg < 18.5
