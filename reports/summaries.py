"""The shared machinery of the reports' statistics over a results DataTree's kept draws:
walking groups and variables (named dims), stacking cells, ArviZ diagnostics and the quantile
MCSE. ``summary.csv`` itself is the engine's (``engine.results``; all paths).

Sampling diagnostics (the ESS inside the MCSEs) come from ArviZ (``arviz_stats``) on the first
``diag_max_draws`` draws of each chain: ArviZ's *relative* ESS of that subset is multiplied by
the full number of draws. Paths are independent Monte Carlo draws, so the relative efficiency of
a prefix is an unbiased estimate of the whole's; with at most ``diag_max_draws`` draws per chain
the cost stays flat as the number of paths grows. When a chain has no more than
``diag_max_draws`` draws the diagnostics are exactly ArviZ's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import xarray as xr
from arviz_stats.base import array_stats

from engine.order_stats import quantile_mcse_ranks

__all__ = [
    "DIAG_MAX_DRAWS",
    "ENTITY_DIMS",
    "SAMPLE_DIMS",
    "ReportOptionError",
    "entity_dim",
    "iter_variables",
]

SAMPLE_DIMS = ("chain", "draw")
ENTITY_DIMS = ("domain", "strategy", "area", "country", "region")
YEAR_DIM = "year"
DIAG_MAX_DRAWS = 10_000
"""Default cap on draws per chain used for ESS / R-hat (see the module docstring)."""


class ReportOptionError(ValueError):
    """A report option names a group, variable or entity the results do not have."""


def entity_dim(da: xr.DataArray) -> str | None:
    """The entity dim of a variable (``domain``, ``strategy``, ...), or None for scalars."""
    extra = [d for d in da.dims if d not in SAMPLE_DIMS and d != YEAR_DIM]
    if len(extra) > 1:
        raise ValueError(f"variable {da.name!r} has more than one entity dim: {extra}")
    return extra[0] if extra else None


def sample_groups(dt: xr.DataTree) -> list[str]:
    """Names of the DataTree's groups whose variables have ``chain`` and ``draw`` dims."""
    names = []
    for name, node in dt.children.items():
        ds = node.to_dataset()
        if any(set(SAMPLE_DIMS) <= set(da.dims) for da in ds.data_vars.values()):
            names.append(name)
    return names


def iter_variables(
    dt: xr.DataTree, groups: Sequence[str] | None = None, var_names: Iterable[str] | None = None
) -> Iterator[tuple[str, str, xr.DataArray]]:
    """Yield ``(group, name, DataArray)`` for the sampled variables of a DataTree.

    ``var_names`` entries are plain names (matched in every group) or ``"group/name"``.
    Unknown groups or names raise :class:`ReportOptionError` listing the valid ones.
    """
    available = sample_groups(dt)
    if groups is None:
        groups = available
    unknown = [g for g in groups if g not in available]
    if unknown:
        raise ReportOptionError(f"unknown group(s) {unknown}; valid groups: {available}")
    wanted = None if var_names is None else list(var_names)
    matched: set[str] = set()
    for group in groups:
        ds = dt[group].to_dataset()
        for name, da in ds.data_vars.items():
            if not set(SAMPLE_DIMS) <= set(da.dims):
                continue
            if wanted is not None:
                keys = {name, f"{group}/{name}"} & set(wanted)
                if not keys:
                    continue
                matched |= keys
            yield group, str(name), da
    if wanted is not None:
        missing = [w for w in wanted if w not in matched]
        if missing:
            valid = sorted(
                {str(n) for g in groups for n in dt[g].to_dataset().data_vars}
                | {f"{g}/{n}" for g in groups for n in dt[g].to_dataset().data_vars}
            )
            raise ReportOptionError(f"unknown variable(s) {missing}; valid: {valid}")


def stack_cells(da: xr.DataArray) -> tuple[np.ndarray, pd.DataFrame]:
    """Reshape a variable to ``(chain, draw, n_cells)`` float64 plus a cell index.

    The index has columns ``entity`` (str, "" when the variable has no entity dim) and ``year``
    (nullable Int64), one row per cell, in C order of (year, entity) as they appear in the dims.
    """
    ent = entity_dim(da)
    rest = [d for d in da.dims if d not in SAMPLE_DIMS]
    da = da.transpose(*SAMPLE_DIMS, *rest)
    n_chain, n_draw = da.sizes["chain"], da.sizes["draw"]
    values = np.asarray(da.values, dtype=np.float64).reshape(n_chain, n_draw, -1)
    grids = np.meshgrid(*[np.asarray(da[d].values) for d in rest], indexing="ij")
    cols = {d: g.ravel() for d, g in zip(rest, grids)}
    n_cells = values.shape[-1]
    entity = cols[ent].astype(str) if ent else np.full(n_cells, "", dtype=object)
    year = (
        pd.array(cols[YEAR_DIM].astype(int), dtype="Int64")
        if YEAR_DIM in cols
        else pd.array([pd.NA] * n_cells, dtype="Int64")
    )
    return values, pd.DataFrame({"entity": entity, "year": year})


def diagnostic_subset(values: np.ndarray, diag_max_draws: int | None) -> np.ndarray:
    """The first ``diag_max_draws`` draws of each chain, as ``(n_cells, chain, draw)``."""
    sub = values if diag_max_draws is None else values[:, :diag_max_draws]
    return np.moveaxis(sub, -1, 0)


def relative_ess(sub: np.ndarray, method: str, prob: float | None = None) -> np.ndarray:
    """ArviZ relative ESS of a ``(n_cells, chain, draw)`` array, shape ``(n_cells,)``.

    A constant cell gets relative ESS 1 (ArviZ returns the sample size there even when
    ``relative=True``).
    """
    rel = np.asarray(
        array_stats.ess(sub, method=method, relative=True, prob=prob), dtype=np.float64
    ).reshape(sub.shape[0])
    flat = sub.reshape(sub.shape[0], -1)
    constant = (flat.max(axis=1) - flat.min(axis=1)) < np.finfo(float).resolution
    return np.where(constant, 1.0, rel)


def sorted_quantile(sorted_flat: np.ndarray, q: float) -> np.ndarray:
    """Linear-interpolated quantile (NumPy's default) from samples sorted along axis 0."""
    n = sorted_flat.shape[0]
    h = (n - 1) * q
    lo = int(np.floor(h))
    hi = min(lo + 1, n - 1)
    return sorted_flat[lo] + (h - lo) * (sorted_flat[hi] - sorted_flat[lo])


def quantile_mcse_from_sorted(sorted_flat: np.ndarray, q: float, ess: np.ndarray) -> np.ndarray:
    """MCSE of the ``q`` quantile: ArviZ's order-statistic method with a given ESS per cell.

    Half the distance between the order statistics at the 15.9% and 84.1% points of the
    Beta(ess*q + 1, ess*(1 - q) + 1) distribution of the quantile's rank, computed on all draws:
    ``arviz_stats.mcse(method="quantile")`` with the ESS given instead of estimated.
    """
    n = sorted_flat.shape[0]
    ess = np.asarray(ess, dtype=np.float64)
    lo, hi = quantile_mcse_ranks(n, q, ess)
    cols = np.arange(sorted_flat.shape[1])
    out = (sorted_flat[hi, cols] - sorted_flat[lo, cols]) / 2
    return np.where(np.isfinite(ess), out, np.nan)
