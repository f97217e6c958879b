"""Synthetic results DataTrees that follow docs/outputs.md, with known distributions.

Per-path scalars are *stratified* normal samples: the values ``mu + sigma * Phi^-1((k + 0.5)/N)``
for k = 0..N-1, randomly permuted over (chain, draw). Their empirical quantiles and mean are
therefore the normal's to within ~1e-3 sigma, so statistics have (nearly) exact answers while the
diagnostics still see an i.i.d.-looking ordering.
"""

from __future__ import annotations

import json

import arviz as az
import numpy as np
import pytest
import xarray as xr
from scipy import stats

N_CHAIN = 4
N_DRAW = 500
N_KEEP = 40
YEARS = np.arange(2026, 2041)
DOMAINS = ["ai_robotics", "quantum", "space"]
STRATEGIES = ["social_infrastructure", "competitive_advantage", "strategic_technology", "ecosystem"]
AREAS = ["digital", "foundation"]
COUNTRIES = ["united_states", "nato", "japan"]
REGIONS = ["global", "japan"]

# (mu, sigma) of the per-path scalars; entity i gets mu + i (so entities differ).
SCALARS = {
    "revenue_2040": (10.0, 2.0, "low"),
    "operating_profit_2040": (1.0, 1.0, "low"),
    "investment_cum_2040": (20.0, 4.0, "high"),
    "fcf_cum_2040": (5.0, 3.0, "low"),
}
MACRO = {
    "digital_deficit_2040": (25.0, 5.0, "high"),  # P(> 30) = 1 - Phi(1)
    "investment_total_cum_2040": (180.0, 10.0, "high"),  # P(> 190) = 1 - Phi(1)
    "existing_value_added_2040": (50.0, 5.0, "low"),
    "labour_shortage_2040": (3.0, 0.5, "high"),
}


def stratified_normal(rng, mu, sigma, shape):
    """A permuted stratified sample of N(mu, sigma) with the given (chain, draw, ...) shape."""
    n = int(np.prod(shape))
    u = (np.arange(n) + 0.5) / n
    return (mu + sigma * stats.norm.ppf(u))[rng.permutation(n)].reshape(shape)


def entity_offsets(n):
    return np.arange(n, dtype=float)


def _group(variables, dims, coords, units, sides):
    dt = az.from_dict({"g": variables}, dims=dims, coords=coords)
    ds = dt["g"].to_dataset()
    for name in ds.data_vars:
        ds[name].attrs.update(units=units.get(name, "tn JPY"), bad_side=sides[name])
    ds.attrs = {}
    return ds


def make_results(seed=0, n_chain=N_CHAIN, n_draw=N_DRAW, shift=0.0):
    """Build a synthetic results DataTree. ``shift`` moves every scalar's mean (scenarios)."""
    rng = np.random.default_rng(seed)
    groups = {}
    for level, ids, extra in (
        ("domain", DOMAINS, {}),
        ("strategy", STRATEGIES, {"investment_cum_2040_report_basis": (18.0, 3.0, "high")}),
        ("area", AREAS, {}),
    ):
        spec = {**SCALARS, **extra}
        variables, sides = {}, {}
        for name, (mu, sigma, side) in spec.items():
            mus = mu + shift + entity_offsets(len(ids))
            variables[name] = np.stack(
                [stratified_normal(rng, m, sigma, (n_chain, n_draw)) for m in mus], axis=-1
            )
            sides[name] = side
        dims = {name: [level] for name in variables}
        groups[level] = _group(variables, dims, {level: ids}, {}, sides)

    macro, sides, units = {}, {}, {}
    for name, (mu, sigma, side) in MACRO.items():
        macro[name] = stratified_normal(rng, mu + shift, sigma, (n_chain, n_draw))
        sides[name] = side
    macro["defense_ratio_2040"] = np.stack(
        [stratified_normal(rng, 2.0 + 0.5 * i, 0.2, (n_chain, n_draw)) for i in range(3)], -1
    )
    sides["defense_ratio_2040"] = "high"
    units["defense_ratio_2040"] = "% of GDP"
    units["labour_shortage_2040"] = "million workers"
    macro["dc_facility_capex_2040"] = np.stack(
        [stratified_normal(rng, 8.0 - 5.0 * i, 1.0, (n_chain, n_draw)) for i in range(2)], -1
    )
    sides["dc_facility_capex_2040"] = "high"
    groups["macro"] = _group(
        macro,
        {"defense_ratio_2040": ["country"], "dc_facility_capex_2040": ["region"]},
        {"country": COUNTRIES, "region": REGIONS},
        units,
        sides,
    )

    drivers = {
        "agi_year": rng.uniform(2030, 2040, (n_chain, n_draw)),
        "launch_delay.metal_recycling": rng.exponential(2.0, (n_chain, n_draw)),
        "policy_success.ecosystem": rng.beta(2.0, 5.0, (n_chain, n_draw)),
    }
    groups["drivers"] = _group(
        drivers, {}, {}, dict.fromkeys(drivers, "1"), dict.fromkeys(drivers, "low")
    )

    # Trajectories: linear trend in the year plus N(0, 1) noise; the first N_KEEP paths.
    years_from = (YEARS - YEARS[0]).astype(float)
    for level, ids in (("domain", DOMAINS), ("strategy", STRATEGIES), ("area", AREAS)):
        variables = {}
        for name, slope in (
            ("revenue", 0.5),
            ("operating_profit", 0.1),
            ("investment", 0.2),
            ("fcf", 0.05),
        ):
            trend = slope * years_from[:, None] + entity_offsets(len(ids))[None, :] + shift
            noise = rng.normal(size=(n_chain, N_KEEP, len(YEARS), len(ids)))
            variables[name] = trend + noise
        sides = {"revenue": "low", "operating_profit": "low", "investment": "high", "fcf": "low"}
        groups[f"{level}_yearly"] = _group(
            variables,
            {name: ["year", level] for name in variables},
            {"year": YEARS, level: ids},
            {},
            sides,
        )
    trend = 15.0 + years_from + shift
    groups["macro_yearly"] = _group(
        {"digital_deficit": trend + rng.normal(size=(n_chain, N_KEEP, len(YEARS)))},
        {"digital_deficit": ["year"]},
        {"year": YEARS},
        {},
        {"digital_deficit": "high"},
    )

    manifest = {"seed": seed, "config": {"engine": {"n_paths": n_chain * n_draw}}}
    tree = {"/": xr.Dataset(attrs={"manifest": json.dumps(manifest)})}
    tree.update({f"/{name}": ds for name, ds in groups.items()})
    return xr.DataTree.from_dict(tree)


@pytest.fixture(scope="session")
def results():
    """A synthetic results DataTree (4 chains x 500 draws, 40 kept trajectories per chain)."""
    return make_results()


@pytest.fixture
def run_dir(tmp_path, results):
    """A run directory with results.nc and manifest.json, as the engine writes it."""
    results.to_netcdf(tmp_path / "results.nc")
    manifest = {
        "seed": 0,
        "config": {"engine": {"n_paths": N_CHAIN * N_DRAW}},
        "versions": {"jax": "0.12.0.1", "arviz": az.__version__},
        "device": "cpu",
        "overrides": [],
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


REPORT_MANIFEST = {
    "seed": 0,
    "scenario": "mixed",
    "n_paths": N_CHAIN * N_DRAW,
    "device": "cpu <test>",
    "git_revision": "0123456789abcdef",
    "created": "2026-01-02T03:04:05+00:00",
    "config": {"engine": {"n_paths": N_CHAIN * N_DRAW}},
}


@pytest.fixture(scope="session")
def report_dir(tmp_path_factory, results):
    """A run directory with every input of report.html (scenarios.csv from shifted copies of
    ``results`` on the same paths, the explanation, calibration.csv) after write_reports.

    Returns (run_dir, paths written by write_reports). Shared by the HTML and browser tests.
    """
    import pandas as pd

    from jp2040.report import write_reports
    from reports.explain import write_explanation
    from reports.scenarios import compare_scenarios

    run_dir = tmp_path_factory.mktemp("report")
    (run_dir / "manifest.json").write_text(json.dumps(REPORT_MANIFEST))
    dts = {
        "capture": make_results(shift=0.5),
        "mixed": results,
        "not_so_bright": make_results(shift=-1),
    }
    compare_scenarios(dts, baseline="capture").to_csv(run_dir / "scenarios.csv", index=False)
    write_explanation(run_dir, results, N_CHAIN * N_DRAW, setting=True)
    with open(run_dir / "discovery_text.txt", "a") as handle:
        handle.write("Escaped: agi_year > 2035 & <policy fails>\n")
    pd.DataFrame({"target": ["deficit"], "z": [0.1]}).to_csv(
        run_dir / "calibration.csv", index=False
    )
    written = write_reports(run_dir, results, {"alphas": [0.05, 0.01]})
    return run_dir, written
