"""Fit the calibration scales: ``python -m engine.fit [N_PATHS]``.

Runs the ``capture`` scenario and scales each strategy's market sizes and each impact so that
the medians reproduce the report's 2040 operating profit (MODEL 2.2) and impact figures (2.3).
Two fixed-point iterations (profit is linear in the market scale, less the fixed R&D costs).
Prints the ``macro.calibration`` block to paste into ``configs/macro/default.yaml``.
"""

from __future__ import annotations

import sys

import numpy as np
import yaml

from engine import compose, simulate
from engine.calibration import load_targets


def fit(n_paths: int = 40_000, iterations: int = 2) -> dict:
    targets = load_targets()
    cfg = compose(
        [
            "scenario=capture",
            f"engine.n_paths={n_paths}",
            "engine.progress=false",
            "engine.keep_trajectories=0",
            "report.sensitivity=false",
        ]
    )
    raw = cfg.raw
    cal = raw["macro"]["calibration"]
    for _ in range(iterations):
        from engine.config import validate

        cfg = validate(raw)
        res = simulate(cfg)
        prof = res.scalars("strategy", "operating_profit_2040_report_basis").median()
        for s, spec in targets["strategy_profit"].items():
            fixed = sum(
                cfg.domains[d].fixed_cost
                for d in cfg.strategies[s].domains
                if d not in cfg.strategies[s].report_basis_excludes
            )
            cal["market_scale"][s] *= float((spec["value"] + fixed) / (prof[s] + fixed))
        inv = res.scalars("strategy", "investment_cum_2040_report_basis").median()
        for s, spec in targets["strategy_investment"].items():
            cal["investment_scale"][s] *= float(spec["value"] / inv[s])
        for imp, spec in targets["impacts"].items():
            med = float(np.median(res.scalars("macro", f"{imp}_2040").to_numpy()))
            cal["impact_scale"][imp] *= spec["value"] / med
        c2050 = simulate(validate(raw).with_engine(end_year=2050))
        hum = float(np.median(c2050.scalars("macro", "humanoid_demand_cum").to_numpy()))
        cal["humanoid_take_up_scale"] *= targets["humanoid_cum_2050"]["value"] / hum
    return {
        k: {n: round(v, 4) for n, v in d.items()} if isinstance(d, dict) else round(d, 4)
        for k, d in cal.items()
    }


if __name__ == "__main__":
    n = int(float(sys.argv[1])) if len(sys.argv) > 1 else 40_000
    print(yaml.safe_dump({"calibration": fit(n)}, default_flow_style=None, width=200))
