"""Hand-checked cases: with every driver fixed (point masses) the engine reproduces the closed-form
adoption, revenue, profit, investment, impacts and tied markets; with random drivers the tied
markets hold path by path."""

import numpy as np
import pytest

from engine import compose, simulate
from engine.params import adoption, build_params, dc_facility_capex, investment_weights
from tests.point_mass import point_mass_config


def fixed_config():
    """Every driver a point mass at its median, no copula: the nominal path, whose numbers have
    closed forms."""
    return point_mass_config(["scenario=capture"])


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
    # the programme: capital intensity x planned revenue (market x share) + R&D programme
    assert p.investment_total[i] == pytest.approx(
        d.capital_intensity * d.market_2040 * d.japan_share + d.rd_programme, rel=1e-12
    )
    cum = res.scalars("domain", "investment_cum_2040")["metal_recycling"].iloc[0]
    assert cum == pytest.approx(expected[: p.index_2040 + 1].sum(), rel=2e-5)


def test_nominal_impacts_tied_markets_and_deficit(fixed):
    """Impacts: potential x adoption of their domain (no cap, no scale); autonomy sales are the
    revenue of manufacturing_reshoring; tied markets are their fraction of the computed parent."""
    cfg, res = fixed
    p = build_params(cfg)
    la = cfg.engine.launch_adoption
    for name, spec in cfg.macro["impacts"].items():
        got = res.scalars("macro", f"{name}_2040").iloc[0, 0]
        d = cfg.domains[spec["domain"]]
        if spec.get("kind") == "mechanism":
            continue  # the digital-deficit restraint: tests/engine/test_macro.py
        if spec.get("kind") == "domain_revenue":
            rev = res.scalars("domain", "revenue_2040")[spec["domain"]].iloc[0]
            assert got == pytest.approx(rev, rel=1e-6), name
            continue
        launch = 2032.0 if spec["domain"] == "photonics_electronics" else d.launch_year
        a = adoption(2040.0, launch, d.bass_p, d.bass_q, la)
        assert got == pytest.approx(spec["potential"] * a, rel=2e-5, abs=1e-7), name
    market = res.scalars("domain", "market_2040").iloc[0]
    capex = res.scalars("macro", "dc_facility_capex_2040").iloc[0].to_numpy()[0]
    spend = res.scalars("macro", "defense_spend_2040").iloc[0].to_numpy().sum() * 150.0 / 1e3
    d = cfg.domains
    assert market["datacenter_solutions"] == pytest.approx(
        d["datacenter_solutions"].parent_fraction * capex, rel=1e-5
    )
    assert market["defense_materials"] == pytest.approx(
        d["defense_materials"].parent_fraction * spend, rel=1e-5
    )
    assert market["metal_recycling"] == pytest.approx(d["metal_recycling"].market_2040, rel=1e-6)
    share = res.scalars("domain", "japan_share_2040").iloc[0]
    np.testing.assert_allclose(share.to_numpy(), p.japan_share, rtol=1e-6)
    ratio = res.scalars("macro", "defense_ratio_2040").iloc[0].to_numpy()
    np.testing.assert_allclose(ratio, [3.5, 3.5, 3.5], rtol=1e-6)


def test_tied_markets_hold_path_by_path():
    """With random drivers: market_2040 of the tied domains = min(fraction x market_factor, 1) x
    the path's own parent (DC facility CAPEX, the four powers' defense spending in tn JPY)."""
    cfg = compose(
        [
            "engine.n_paths=256",
            "engine.chains=2",
            "engine.chunk_size=128",
            "engine.keep_trajectories=0",
            "engine.progress=false",
        ]
    )
    res = simulate(cfg)
    drv = res.drivers()
    market = res.scalars("domain", "market_2040")
    capex = res.scalars("macro", "dc_facility_capex_2040").to_numpy()[:, 0]
    spend = res.scalars("macro", "defense_spend_2040").to_numpy().sum(axis=1)
    fx = drv["fx"].to_numpy()
    for name, parent in (
        ("datacenter_solutions", capex),
        ("defense_materials", spend * fx / 1e3),
    ):
        frac = cfg.domains[name].parent_fraction * drv[f"market_factor.{name}"].to_numpy()
        expected = np.minimum(frac, 1.0) * parent
        np.testing.assert_allclose(market[name].to_numpy(), expected, rtol=2e-5)
        assert np.ptp(market[name].to_numpy()) > 0  # it moves with the drivers


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
