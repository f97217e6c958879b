"""The calibration check: does the central case reproduce the report's published figures?

``jp2040 mode=calibrate`` runs ``capture``, ``not_so_bright`` (same paths: common random numbers)
and ``capture`` with ``engine.end_year=2050``, and compares medians with the report's figures
(``configs/calibration/targets.yaml`` is the project's copy of them, each with its source). It
writes ``calibration.csv`` and exits non-zero when a target fails.

Each median carries a Monte Carlo standard error (order-statistic method); ``mc_widen=k`` widens
every tolerance by ``k`` MCSEs (the CI test uses this at a small path count, never more).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from engine.config import CONFIG_DIR, Config
from engine.params import dc_facility_capex

log = logging.getLogger("jp2040.calibration")
TARGETS_FILE = CONFIG_DIR / "calibration" / "targets.yaml"
COLUMNS = [
    "target",
    "scenario",
    "source",
    "report_value",
    "median",
    "p05",
    "p95",
    "mcse",
    "rel_error",
    "tolerance",
    "passed",
]


def median_mcse(x: np.ndarray, q: float = 0.5) -> float:
    """MCSE of a sample quantile from the order statistics that bracket a 68% interval of its
    rank (binomial): (x[k_hi] - x[k_lo]) / 2 with k = n q +/- sqrt(n q (1 - q))."""
    x = np.sort(np.asarray(x, np.float64).ravel())
    n = len(x)
    half = np.sqrt(n * q * (1 - q))
    lo = int(np.clip(np.floor(n * q - half), 0, n - 1))
    hi = int(np.clip(np.ceil(n * q + half), 0, n - 1))
    return float((x[hi] - x[lo]) / 2.0)


def load_targets(path: Path = TARGETS_FILE) -> dict:
    return yaml.safe_load(Path(path).read_text())


def _row(
    target,
    scenario,
    source,
    report,
    sample,
    rel_tol=None,
    abs_tol=None,
    kind="median",
    mc_widen=0.0,
):
    sample = np.asarray(sample, np.float64).ravel()
    med = float(np.median(sample))
    p05, p95 = (float(v) for v in np.quantile(sample, [0.05, 0.95]))
    mcse = median_mcse(sample)
    tol = max(abs(report) * (rel_tol or 0.0), abs_tol or 0.0) + mc_widen * mcse
    if kind == "at_least":
        passed = med >= report - mc_widen * mcse
        tol = mc_widen * mcse
    else:
        passed = abs(med - report) <= tol
    rel = (med - report) / abs(report) if report else np.nan
    return dict(
        target=target,
        scenario=scenario,
        source=source,
        report_value=report,
        median=med,
        p05=p05,
        p95=p95,
        mcse=mcse,
        rel_error=rel,
        tolerance=tol,
        passed=bool(passed),
    )


def calibration_table(capture, not_so_bright, capture_2050, targets: dict, mc_widen=0.0):
    """Compare three SimulationResults with the targets; returns the calibration DataFrame."""
    rows = []
    t = targets

    def add(*args, **kw):
        rows.append(_row(*args, mc_widen=mc_widen, **kw))

    inv = capture.scalars("strategy", "investment_cum_2040_report_basis")
    prof = capture.scalars("strategy", "operating_profit_2040_report_basis")
    for s, spec in t["strategy_investment"].items():
        add(
            f"investment_cum_2040[{s}]",
            "capture",
            spec["source"],
            spec["value"],
            inv[s],
            rel_tol=t["tolerances"]["investment_rel"],
        )
    total = capture.scalars("macro", "investment_total_cum_2040").iloc[:, 0]
    add(
        "investment_total_cum_2040 (at least)",
        "capture",
        t["total_investment_at_least"]["source"],
        t["total_investment_at_least"]["value"],
        total,
        kind="at_least",
    )
    for s, spec in t["strategy_profit"].items():
        add(
            f"operating_profit_2040[{s}]",
            "capture",
            spec["source"],
            spec["value"],
            prof[s],
            rel_tol=t["tolerances"]["profit_rel"],
            abs_tol=t["tolerances"]["profit_abs"],
        )
    for var, spec in t["impacts"].items():
        x = capture.scalars("macro", f"{var}_2040").iloc[:, 0]
        add(
            f"{var}_2040",
            "capture",
            spec["source"],
            spec["value"],
            x,
            rel_tol=t["tolerances"]["impact_rel"],
        )

    years = list(capture.years)
    ratio = capture.raw.trajectories["macro_yearly"]["defense_ratio"]  # (c, d, T, 3)
    countries = ("united_states", "nato", "japan")
    for c, by_year in t["defense_pct_gdp"].items():
        for year, value in by_year.items():
            x = ratio[:, :, years.index(int(year)), countries.index(c)]
            add(
                f"defense_ratio[{c}, {year}]",
                "capture",
                "report",
                value,
                x,
                abs_tol=t["tolerances"]["defense_abs"],
            )
    spend = capture.raw.trajectories["macro_yearly"]["defense_spend"][..., 3]  # china
    growth = (spend[:, :, years.index(2040)] / spend[:, :, years.index(2030)]) ** 0.1 - 1
    add(
        "china_defense_growth",
        "capture",
        "report",
        t["china_defense_growth"],
        growth,
        abs_tol=t["tolerances"]["china_growth_abs"],
    )

    drv = capture.drivers()
    dc = capture.params.macro["datacenter"]
    for key, (y0, y1) in (
        ("dc_capex_2024_2030", (2025, 2030)),
        ("dc_capex_2030_2040", (2031, 2040)),
    ):
        yrs = np.arange(y0, y1 + 1, dtype=np.float64)[:, None]
        per_year = dc_facility_capex(
            yrs,
            drv["dc_twh_2030"].to_numpy()[None],
            drv["dc_twh_2035"].to_numpy()[None],
            drv["fx"].to_numpy()[None],
            dc,
        )
        spec = t["dc_facility_capex"][key]
        add(
            f"dc_facility_capex_global_avg[{y0 - 1 if y0 == 2025 else y0 - 1}-{y1}]",
            "capture",
            spec["source"],
            spec["value"],
            per_year.mean(0),
            abs_tol=t["tolerances"]["dc_abs"],
        )

    deficit_nsb = not_so_bright.scalars("macro", "digital_deficit_2040").iloc[:, 0]
    spec = t["not_so_bright_deficit_2040"]
    add(
        "digital_deficit_2040",
        "not_so_bright",
        spec["source"],
        spec["value"],
        deficit_nsb,
        abs_tol=t["tolerances"]["deficit_abs"],
    )
    deficit_cap = capture.scalars("macro", "digital_deficit_2040").iloc[:, 0]
    spec = t["deficit_restraint_paired"]
    add(
        "digital_deficit_2040 (not_so_bright - capture, paired)",
        "capture vs not_so_bright",
        spec["source"],
        spec["value"],
        deficit_nsb.to_numpy() - deficit_cap.to_numpy(),
        rel_tol=t["tolerances"]["impact_rel"],
    )
    if capture_2050 is not None:
        hum = capture_2050.scalars("macro", "humanoid_demand_cum").iloc[:, 0]
        spec = t["humanoid_cum_2050"]
        add(
            "humanoid_demand_cum (2026-2050)",
            "capture, end_year=2050",
            spec["source"],
            spec["value"],
            hum,
            rel_tol=t["tolerances"]["impact_rel"],
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def run_scenarios(cfg: Config):
    """Simulate capture, not_so_bright and capture to 2050 at the config's path count."""
    from engine import simulate

    capture = simulate(cfg.with_scenario("capture"))
    nsb = simulate(cfg.with_scenario("not_so_bright"))
    c2050 = simulate(cfg.with_scenario("capture").with_engine(end_year=2050))
    return capture, nsb, c2050


def run_calibration(cfg: Config, run_dir: Path, overrides=()) -> int:
    """Write calibration.csv in ``run_dir``, print it, return 1 if any target fails."""
    from reports.io import write_csv_atomic

    capture, nsb, c2050 = run_scenarios(cfg)
    table = calibration_table(capture, nsb, c2050, load_targets())
    run_dir.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(table, run_dir / "calibration.csv")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(
            table.drop(columns=["source"]).to_string(index=False, float_format=lambda v: f"{v:.3g}")
        )
    failed = table.loc[~table["passed"], "target"].tolist()
    print(
        f"{len(table) - len(failed)}/{len(table)} targets passed at {cfg.engine.n_paths} paths"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0
