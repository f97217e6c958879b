"""The calibration: where do the report's figures fall in the model's distributions?

``jp2040 mode=calibrate`` runs ``capture``, ``not_so_bright`` (same paths: common random numbers)
and ``capture`` with ``engine.end_year=2050``, and reads each of the report's figures
(``configs/calibration/targets.yaml``, each with its source and role) against the model:

* an **independent** check (a figure never used to set a parameter) passes when it lies inside
  the model's 90% interval [p05, p95]; its median need not match;
* an **input** (a figure that sets a parameter, named in ``sets``) is shown with its percentile;
  where the model should reproduce it (defense path, China's growth, the not-so-bright deficit)
  it passes when the median lies within the tolerance; an impact potential is a run-rate the
  model reaches only at maturity, so its 2040 row has no pass/fail (``passed`` is empty).

``calibration.csv`` has one row per figure with ``role`` and ``percentile`` (the share of paths
at or below the report's figure, in %). ``run_calibration`` exits non-zero when a check fails.
Nothing here fits a parameter.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from engine.config import CONFIG_DIR, Config
from engine.mcse import quantile_mcse

log = logging.getLogger("jp2040.calibration")
TARGETS_FILE = CONFIG_DIR / "calibration" / "targets.yaml"
COLUMNS = [
    "target",
    "scenario",
    "role",
    "source",
    "report_value",
    "median",
    "p05",
    "p95",
    "percentile",
    "mcse",
    "tolerance",
    "passed",
    "known_miss",
    "note",
]
ROLES = ("independent", "input")


def load_targets(path: Path = TARGETS_FILE) -> dict:
    return yaml.safe_load(Path(path).read_text())


def _row(target, scenario, spec, sample, *, abs_tol=None, rel_tol=None, kind="value", mc_widen=0.0):
    """One row. ``kind``: ``value`` (the figure itself) or ``at_least`` (the report says "over
    X": passes when X <= p95, i.e. the model gives totals above X at least 5% of the time)."""
    sample = np.asarray(sample, np.float64).ravel()
    report = float(spec["value"])
    role = spec.get("role", "independent")
    if spec.get("known_miss") and not spec.get("note"):
        raise ValueError(f"{target}: a known_miss needs a note that explains it")
    if role not in ROLES:
        raise ValueError(f"{target}: unknown role {role!r} (valid: {', '.join(ROLES)})")
    med = float(np.median(sample))
    p05, p95 = (float(v) for v in np.quantile(sample, [0.05, 0.95]))
    mcse = float(quantile_mcse(sample.reshape(-1, 1), 0.5)[0])
    tol = np.nan
    if role == "independent":
        passed = report <= p95 if kind == "at_least" else p05 <= report <= p95
    elif abs_tol is not None or rel_tol is not None:
        tol = max(abs(report) * (rel_tol or 0.0), abs_tol or 0.0) + mc_widen * mcse
        passed = abs(med - report) <= tol
    else:
        passed = None  # an input the model reaches only at maturity: nothing to pass
    return dict(
        target=target,
        scenario=scenario,
        role=role,
        source=spec.get("source", "report"),
        report_value=report,
        median=med,
        p05=p05,
        p95=p95,
        percentile=float(100.0 * np.mean(sample <= report)),
        mcse=mcse,
        tolerance=tol,
        passed=passed,
        known_miss=bool(spec.get("known_miss", False)),
        note=str(spec.get("note", "")),
    )


def calibration_table(capture, not_so_bright, capture_2050, targets: dict, mc_widen=0.0):
    """Compare three SimulationResults with the report's figures; one row per figure.

    ``mc_widen`` widens the tolerance of reproduced inputs by that many MCSEs of the median
    (small CI runs); independent checks use the 90% interval and are never widened.
    """
    rows = []
    t = targets
    tol = t.get("tolerances", {})

    def add(*args, **kw):
        rows.append(_row(*args, mc_widen=mc_widen, **kw))

    inv = capture.scalars("strategy", "investment_cum_2040_report_basis")
    prof = capture.scalars("strategy", "operating_profit_2040_report_basis")
    for s, spec in t["strategy_investment"].items():
        add(f"investment_cum_2040[{s}]", "capture", spec, inv[s])
    total = capture.scalars("macro", "investment_total_cum_2040").iloc[:, 0]
    add(
        "investment_total_cum_2040 (over)",
        "capture",
        t["total_investment_at_least"],
        total,
        kind="at_least",
    )
    for s, spec in t["strategy_profit"].items():
        add(f"operating_profit_2040[{s}]", "capture", spec, prof[s])
    for var, spec in t["impacts"].items():
        x = capture.scalars("macro", f"{var}_2040").iloc[:, 0]
        add(f"{var}_2040", "capture", spec, x)

    years = list(capture.years)
    traj = capture.raw.trajectories["macro_yearly"]
    ratio = traj["defense_ratio"]  # (c, d, T, 3)
    countries = ("united_states", "nato", "japan")
    dspec = t["defense_pct_gdp"]
    for c in countries:
        for year, value in dspec[c].items():
            x = ratio[:, :, years.index(int(year)), countries.index(c)]
            spec = {"value": value, "role": dspec.get("role", "input"), "source": "report"}
            add(f"defense_ratio[{c}, {year}]", "capture", spec, x, abs_tol=tol.get("defense_abs"))
    spend = traj["defense_spend"][..., 3]  # china
    growth = (spend[:, :, years.index(2040)] / spend[:, :, years.index(2030)]) ** 0.1 - 1
    add(
        "china_defense_growth",
        "capture",
        t["china_defense_growth"],
        growth,
        abs_tol=tol.get("china_growth_abs"),
    )

    # the engine's yearly output; the report averages 2024-30 (the horizon starts in 2026) and 2030-40
    capex = traj["dc_facility_capex"][..., 0]  # (c, d, T) global
    for key, (y0, y1) in (
        ("dc_capex_2024_2030", (max(2025, years[0]), 2030)),
        ("dc_capex_2030_2040", (2031, 2040)),
    ):
        cols = [years.index(y) for y in range(y0, y1 + 1)]
        add(
            f"dc_facility_capex_global_avg[{y0}-{y1}]",
            "capture",
            t["dc_facility_capex"][key],
            capex[:, :, cols].mean(axis=-1),
        )

    deficit_nsb = not_so_bright.scalars("macro", "digital_deficit_2040").iloc[:, 0]
    add("digital_deficit_2040", "not_so_bright", t["not_so_bright_deficit_2040"], deficit_nsb)
    deficit_cap = capture.scalars("macro", "digital_deficit_2040").iloc[:, 0]
    add("digital_deficit_2040", "capture", t["capture_deficit_2040"], deficit_cap)
    if capture_2050 is not None:
        hum = capture_2050.scalars("macro", "humanoid_demand_cum").iloc[:, 0]
        add(
            "humanoid_demand_cum (2026-2050)", "capture, end_year=2050", t["humanoid_cum_2050"], hum
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def failures(table: pd.DataFrame) -> list[str]:
    """Targets whose check failed unexpectedly: ``passed`` is False and the miss is not a known,
    explained one (``known_miss: true`` with a ``note`` in targets.yaml)."""
    bad = table["passed"].eq(False) & ~table["known_miss"].astype(bool)
    return table.loc[bad, "target"].tolist()


def fixed_misses(table: pd.DataFrame) -> list[str]:
    """Known misses that now pass: their ``known_miss`` flag and note are stale."""
    return table.loc[table["passed"].eq(True) & table["known_miss"].astype(bool), "target"].tolist()


def run_scenarios(cfg: Config):
    """Simulate capture, not_so_bright and capture to 2050 at the config's path count."""
    from engine import simulate

    # every path kept: the checks read per-path values (percentiles, intervals)
    cfg = cfg.with_engine(keep_paths=max(cfg.engine.keep_paths, cfg.engine.n_paths))
    capture = simulate(cfg.with_scenario("capture"))
    nsb = simulate(cfg.with_scenario("not_so_bright"))
    c2050 = simulate(cfg.with_scenario("capture").with_engine(end_year=2050))
    return capture, nsb, c2050


def run_calibration(cfg: Config, run_dir: Path, overrides=()) -> int:
    """Write calibration.csv in ``run_dir``, print it, return 1 if any check fails."""
    from reports.io import write_csv_atomic

    capture, nsb, c2050 = run_scenarios(cfg)
    table = calibration_table(capture, nsb, c2050, load_targets())
    run_dir.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(table, run_dir / "calibration.csv")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(
            table.drop(columns=["source"]).to_string(index=False, float_format=lambda v: f"{v:.3g}")
        )
    failed = failures(table)
    indep = table[table["role"] == "independent"]
    inside = int(indep["passed"].eq(True).sum())
    known = int((indep["passed"].eq(False) & indep["known_miss"]).sum())
    print(
        f"{inside}/{len(indep)} independent checks inside the model's 90% interval at "
        f"{cfg.engine.n_paths} paths; {known} known, explained misses (see the note column)"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    for target in fixed_misses(table):
        log.warning("%s is marked known_miss but now passes: update targets.yaml", target)
    return 1 if failed else 0
