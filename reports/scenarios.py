"""Paired scenario comparison: each scenario against a baseline, path by path.

Runs with the same seed and path count use the same random numbers for the same (chain, draw)
index, so ``scenario - baseline`` per path removes the common noise. MCSE of the mean difference
is ``sd(diff) / sqrt(ESS(diff))`` with ArviZ's ESS (first ``diag_max_draws`` draws per chain).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from reports.downside import SCALAR_GROUPS, bad_side
from reports.summaries import (
    DIAG_MAX_DRAWS,
    ReportOptionError,
    diagnostic_subset,
    iter_variables,
    relative_ess,
    sample_groups,
    stack_cells,
)

__all__ = ["DEFAULT_VARIABLES", "compare_scenarios"]

DEFAULT_VARIABLES = (
    "strategy/operating_profit_2040",
    "strategy/investment_cum_2040",
    "macro/digital_deficit_2040",
    "macro/investment_total_cum_2040",
)
"""Headline variables compared by default (those present in the baseline)."""

COLUMNS = [
    "group",
    "variable",
    "entity",
    "year",
    "scenario",
    "baseline",
    "mean_diff",
    "median_diff",
    "diff_p05",
    "diff_p95",
    "mcse_mean_diff",
    "p_worse",
]


def compare_scenarios(
    dts: Mapping[str, xr.DataTree],
    baseline: str = "capture",
    variables: Iterable[str] | None = None,
    *,
    diag_max_draws: int | None = DIAG_MAX_DRAWS,
) -> pd.DataFrame:
    """Compare every scenario in ``dts`` with ``dts[baseline]``, pairing paths by (chain, draw).

    ``variables``: ``"group/name"`` or plain names in the scalar groups; default
    :data:`DEFAULT_VARIABLES` that exist in the baseline. Returns one row per scenario x
    variable x entity with columns ``group``, ``variable``, ``entity``, ``year``, ``scenario``,
    ``baseline``, ``mean_diff``, ``median_diff``, ``diff_p05``, ``diff_p95`` (quantiles of the
    per-path difference scenario - baseline), ``mcse_mean_diff`` and ``p_worse`` (fraction of
    paths where the scenario is worse, by the variable's ``bad_side``; ties are not worse).

    Raises :class:`ReportOptionError` for an unknown baseline or variable, and ``ValueError``
    when a scenario's chain/draw counts or entities differ from the baseline's.
    """
    if baseline not in dts:
        raise ReportOptionError(f"unknown baseline {baseline!r}; scenarios: {sorted(dts)}")
    base_dt = dts[baseline]
    groups = [g for g in SCALAR_GROUPS if g in sample_groups(base_dt)]
    if variables is None:
        present = {f"{g}/{v}" for g in groups for v in base_dt[g].to_dataset().data_vars}
        variables = [v for v in DEFAULT_VARIABLES if v in present]
    variables = list(variables)
    base_vars = list(iter_variables(base_dt, groups, variables))
    frames = []
    for scenario, dt in dts.items():
        if scenario == baseline:
            continue
        for group, name, base_da in base_vars:
            if group not in dt.children or name not in dt[group].to_dataset().data_vars:
                raise ReportOptionError(f"scenario {scenario!r} lacks {group}/{name}")
            da = dt[group][name]
            shape_b = (base_da.sizes["chain"], base_da.sizes["draw"])
            shape_s = (da.sizes["chain"], da.sizes["draw"])
            if shape_b != shape_s:
                raise ValueError(
                    f"cannot pair paths: scenario {scenario!r} has (chain, draw) = {shape_s}, "
                    f"baseline {baseline!r} has {shape_b}; rerun with the same engine.n_paths "
                    "and chains"
                )
            base_vals, index = stack_cells(base_da)
            vals, index_s = stack_cells(da)
            if not index["entity"].equals(index_s["entity"]):
                raise ValueError(
                    f"{group}/{name}: entities of {scenario!r} differ from the baseline's"
                )
            frames.append(
                _paired_rows(
                    vals - base_vals, vals, base_vals, bad_side(name, base_da.attrs), diag_max_draws
                )
                .assign(group=group, variable=name, scenario=scenario, baseline=baseline)
                .join(index)
            )
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def _paired_rows(diff, scen, base, side, diag_max_draws) -> pd.DataFrame:
    """Statistics of the per-path differences; arrays are ``(chain, draw, n_cells)``."""
    n = diff.shape[0] * diff.shape[1]
    flat = diff.reshape(n, -1)
    sd = flat.std(axis=0, ddof=1)
    ess = relative_ess(diagnostic_subset(diff, diag_max_draws), "mean") * n
    worse = scen < base if side == "low" else scen > base
    p05, p50, p95 = np.quantile(flat, [0.05, 0.5, 0.95], axis=0)
    return pd.DataFrame(
        {
            "mean_diff": flat.mean(axis=0),
            "median_diff": p50,
            "diff_p05": p05,
            "diff_p95": p95,
            "mcse_mean_diff": np.where(sd > 0, sd / np.sqrt(ess), 0.0),
            "p_worse": worse.reshape(n, -1).mean(axis=0),
        }
    )
