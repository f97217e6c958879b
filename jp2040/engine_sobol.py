"""Sobol indices through the engine itself: a Saltelli design of driver uniforms is fed to
``engine.simulate`` in place of random draws.

The design assumes independent drivers: each driver's uniform goes through its own quantile
function and the copula is switched off, so correlations in ``drivers.correlation`` are ignored.
The given-data indices of :mod:`reports.sensitivity` work on the correlated sample instead (a
driver correlated with an influential one shares its credit). Drivers not in ``drivers`` are held
at their medians (uniform 0.5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.sensitivity import sobol


def engine_sobol(
    cfg,
    group: str,
    variable: str,
    entity: str | None = None,
    drivers: list[str] | None = None,
    n: int = 256,
    seed: int = 0,
    n_boot: int = 100,
) -> pd.DataFrame:
    """First- and total-order Sobol indices of one per-path outcome of the engine.

    Args:
        cfg: a validated config (``engine.compose``); its scenario and parameters are used.
        group, variable, entity: the outcome, e.g. ``("macro", "digital_deficit_2040", None)``
            or ``("strategy", "operating_profit_2040", "ecosystem")``.
        drivers: driver names to vary (default: all); the others stay at their medians.
        n: base sample size, a power of two; the engine runs n (d + 2) paths.
    Returns:
        DataFrame indexed by driver: S1, S1_lo, S1_hi, ST, ST_lo, ST_hi.
    """
    from engine import simulate
    from engine.drivers import build_driver_table

    table = build_driver_table(cfg)
    names = list(drivers or table.names)
    unknown = [d for d in names if d not in table.names]
    if unknown:
        raise ValueError(f"unknown driver(s) {unknown}; valid: {', '.join(table.names[:10])}, ...")
    cols = [table.uniform_names.index(d) for d in names]

    def model(u: np.ndarray) -> np.ndarray:
        rows = len(u)
        full = np.full((rows, len(table.uniform_names)), 0.5)
        full[:, cols] = np.clip(u, 1e-7, 1 - 1e-7)
        run_cfg = cfg.with_engine(
            n_paths=rows, chains=1, keep_paths=rows, keep_trajectories=0, progress=False
        )
        res = simulate(run_cfg, uniforms=full, apply_copula=False)
        out = res.scalars(group, variable)
        return (out[entity] if entity is not None else out.iloc[:, 0]).to_numpy(np.float64)

    return sobol(model, names, n, seed=seed, n_boot=n_boot)
