"""Labelled results: coordinates, the ArviZ DataTree, pandas accessors and the summary table."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.config import Config
from engine.drivers import DriverTable
from engine.params import COUNTRIES_RATIO, COUNTRIES_SPEND, REGIONS, ModelParams
from engine.run import RawResult
from engine.stats import has_histogram

log = logging.getLogger("jp2040.engine")

LEVELS = ("domain", "strategy", "area", "macro")
VECTOR_DIMS = {
    "defense_ratio": ("ratio_country", COUNTRIES_RATIO),  # China's ratio is not modelled
    "defense_spend": ("country", COUNTRIES_SPEND),
    "dc_facility_capex": ("region", REGIONS),
}
UNITS = {
    "workers_added": "million workers",
    "labour_shortage": "million workers",
    "defense_ratio": "% of GDP",
    "defense_spend": "bn USD/yr",
    "humanoid_demand_cum": "tn JPY",
    "investment_total_cum_2040": "tn JPY",
    "fiscal_effect_cum_2040": "tn JPY",
    "market_2040": "tn JPY/yr (market before adoption and share)",
    "japan_share_2040": "fraction of the market",
    "strategy_success": "0/1 (the strategy's policy arrived)",
    "fx": "JPY per USD",
    "debt_to_gdp": "ratio to nominal GDP",
    "gni_per_capita": "thousand USD per person",
}
HIGH_IS_BAD = (
    "digital_deficit",
    "investment",
    "labour_shortage",
    "defense_spend",
    "defense_ratio",
    "dc_facility_capex",
    "fx",
    "current_account_drag",
    "debt_to_gdp",
)
SUMMARY_COLUMNS = (
    "group",
    "variable",
    "entity",
    "year",
    "mean",
    "sd",
    "p05",
    "p50",
    "p95",
    "mcse_mean",
    "ess_bulk",
    "r_hat",
    "quantiles_from",
)
"""The columns of ``summary.csv`` (:meth:`SimulationResult.summary`, its one writer)."""
DIAGNOSTIC_DRAWS = 500  # ESS / R-hat of per-path scalars on this many draws per chain at most
DIAGNOSTIC_DRAWS_YEARLY = 200  # ... and of yearly cells (thousands: ArviZ loops over cells)


def base_name(var: str) -> str:
    """``operating_profit_2040`` -> ``operating_profit``; ``humanoid_demand_cum`` -> ``humanoid_demand``."""
    for suffix in ("_2040_report_basis", "_cum_2040", "_2040", "_cum"):
        if var.endswith(suffix):
            return var[: -len(suffix)]
    return var


def units_of(var: str) -> str:
    if var in UNITS:
        return UNITS[var]
    base = base_name(var)
    if base in UNITS:
        return UNITS[base]
    return "tn JPY" if "cum" in var else "tn JPY/yr"


def bad_side(var: str) -> str:
    return "high" if base_name(var).startswith(HIGH_IS_BAD) else "low"


@dataclass
class SimulationResult:
    """Result of :func:`engine.simulate`: kept draws, trajectories and streaming statistics."""

    cfg: Config
    table: DriverTable
    params: ModelParams
    raw: RawResult
    manifest: dict

    # ------------------------------------------------------------------ coordinates
    def entity_coords(self, level: str, var: str) -> tuple[str, tuple[str, ...]] | None:
        p = self.params
        if level.startswith("domain"):
            return "domain", p.domain_ids
        if level.startswith("strategy"):
            return "strategy", p.strategy_ids
        if level.startswith("area"):
            return "area", p.area_ids
        base = base_name(var)
        return VECTOR_DIMS.get(base)

    @property
    def years(self) -> np.ndarray:
        return self.params.years[: self.params.n_report_years].astype(int)

    # ------------------------------------------------------------------ pandas accessors
    def scalars(self, level: str = "strategy", var: str = "operating_profit_2040") -> pd.DataFrame:
        """Kept per-path values of one scalar variable: rows are paths (chain, draw), columns
        entities."""
        arr = self.raw.kept_scalars[level][var]
        c, d = arr.shape[:2]
        index = pd.MultiIndex.from_product([range(c), range(d)], names=["chain", "draw"])
        coords = self.entity_coords(level, var)
        flat = arr.reshape(c * d, -1)
        cols = list(coords[1]) if coords else [var]
        return pd.DataFrame(flat, index=index, columns=cols)

    def drivers(self) -> pd.DataFrame:
        """Kept driver draws: rows are paths (chain, draw), columns driver names."""
        arr = self.raw.kept_drivers
        c, d = arr.shape[:2]
        index = pd.MultiIndex.from_product([range(c), range(d)], names=["chain", "draw"])
        return pd.DataFrame(arr.reshape(c * d, -1), index=index, columns=list(self.table.names))

    # ------------------------------------------------------------------ replay
    def replay(self, indices):
        """Re-simulate global paths ``indices`` (e.g. ``self.tail_paths(...)``) with their full
        yearly trajectories and driver draws: an :class:`engine.replay.Replay`, bit for bit the
        paths of this run (engine.replay)."""
        from engine.replay import replay_paths

        return replay_paths(self.cfg, self.table, self.params, indices)

    def tail_paths(self, level: str, var: str, entity: str | None = None, n: int | None = None):
        """Global indices of the worst ``n`` paths (all the buffer holds by default) of a tail
        output, worst first; ``entity`` picks one entity of a vector output."""
        tails = self.raw.tails
        if level not in tails or var not in tails[level]:
            have = sorted(f"{g}/{v}" for g in tails for v in tails[g])
            raise KeyError(f"no tail buffer for {level}/{var}; buffers: {have}")
        index = tails[level][var]["worst"][1]
        if index.ndim > 1:
            ids = list(self.entity_coords(level, var)[1])
            if entity not in ids:
                raise KeyError(f"{level}/{var}: entity must be one of {ids}, got {entity!r}")
            index = index[ids.index(entity)]
        index = index[index >= 0]
        return index[:n] if n is not None else index

    # ------------------------------------------------------------------ DataTree
    def to_datatree(self):
        """ArviZ DataTree: groups domain, strategy, area, macro, drivers and *_yearly (kept
        draws), ``stats/*`` (streaming statistics of all paths) and ``tails/*`` (exact tail
        buffers); see engine.store and docs/outputs.md."""
        import json

        import arviz as az
        import xarray as xr

        trees = {}
        levels = {**self.raw.kept_scalars, **self.raw.trajectories}
        for level, vars_ in levels.items():
            yearly = level.endswith("_yearly")
            data, dims, coords = {}, {}, {}
            for var, arr in vars_.items():
                data[var] = np.asarray(arr)
                ent = self.entity_coords(level, var)
                dims[var] = (["year"] if yearly else []) + ([ent[0]] if ent else [])
                if ent:
                    coords[ent[0]] = list(ent[1])
            if yearly:
                coords["year"] = self.years
            ds = az.from_dict({"posterior": data}, dims=dims, coords=coords)[
                "posterior"
            ].to_dataset()
            for var in data:
                ds[var].attrs.update(units=units_of(var), bad_side=bad_side(var))
            trees[level] = ds
        drivers = {n: self.raw.kept_drivers[..., j] for j, n in enumerate(self.table.names)}
        trees["drivers"] = az.from_dict({"posterior": drivers})["posterior"].to_dataset()
        from engine.store import stats_groups, tails_groups

        trees.update(stats_groups(self))
        trees.update(tails_groups(self))
        dt = xr.DataTree.from_dict(trees)
        dt.attrs["manifest"] = json.dumps(self.manifest, default=str)
        return dt

    # ------------------------------------------------------------------ summary
    def summary(self, diagnostics: str = "scalars") -> pd.DataFrame:
        """One row per variable x entity x year (year empty for per-path scalars).

        ``diagnostics``: "scalars" (default) computes ESS / R-hat for the per-path scalars only
        (yearly rows get NaN: ArviZ loops in Python over the ~2,500 yearly cells, ~7 s, and for
        independent paths they repeat what the scalars show); "all" adds the yearly cells.

        Columns: group, variable, entity, year, mean, sd, p05, p50, p95, mcse_mean, ess_bulk,
        r_hat, quantiles_from. mean/sd are over all paths (streaming, float64); quantiles are
        exact from the kept draws when every path was kept ("all paths"), otherwise from the
        streaming histogram over all paths ("histogram", error at most one bin width), or for the
        per-domain yearly cells (no histogram, see engine.stats) from the kept trajectories; mcse_mean = sd / sqrt(n) (paths are independent); ess_bulk and r_hat come from
        ArviZ on the first kept draws of each chain (DIAGNOSTIC_DRAWS for scalars,
        DIAGNOSTIC_DRAWS_YEARLY for yearly cells; ESS is ArviZ's relative bulk ESS times the path
        count). Paths are independent, so these are sanity checks: ESS near the path count and
        R-hat near 1; chain independence itself is proven by a test, not by R-hat.
        """
        if diagnostics not in ("scalars", "all"):
            raise ValueError(f"diagnostics must be 'scalars' or 'all', got {diagnostics!r}")
        frames = []
        n_paths = self.raw.n_paths
        for group, vars_ in self.raw.stats.items():
            yearly = group.endswith("_yearly")
            kept_src = self.raw.trajectories if yearly else self.raw.kept_scalars
            for var, st in vars_.items():
                kept = kept_src.get(group, {}).get(var)
                n_kept = 0 if kept is None else kept.shape[0] * kept.shape[1]
                if n_kept == n_paths or (n_kept and not has_histogram(st)):
                    flat = kept.reshape((-1,) + kept.shape[2:]).astype(np.float64)
                    q = np.quantile(flat, [0.05, 0.5, 0.95], axis=0)
                    source = "all paths" if n_kept == n_paths else f"{n_kept} kept paths"
                elif has_histogram(st):
                    q = np.stack([st.quantile(x) for x in (0.05, 0.5, 0.95)])
                    source = "histogram"
                else:
                    q = np.full((3,) + st.mean.shape, np.nan)
                    source = "none"
                if yearly and diagnostics != "all":
                    ess, rhat = None, None
                else:
                    ess, rhat = _diagnostics(
                        kept, DIAGNOSTIC_DRAWS_YEARLY if yearly else DIAGNOSTIC_DRAWS
                    )
                if ess is not None:
                    ess = ess * n_paths  # relative ESS of the subset, scaled to all paths
                frames.append(
                    _rows(self, group, var, st, q, ess, rhat, yearly).assign(quantiles_from=source)
                )
        out = pd.concat(frames, ignore_index=True)[list(SUMMARY_COLUMNS)]
        out["year"] = out["year"].astype("Int64")
        return out


def _diagnostics(kept, max_draws):
    """Relative bulk ESS and rank R-hat per element from the first ``max_draws`` kept draws of
    each chain (chains, draws, ...), or None when there are too few."""
    if kept is None or kept.shape[1] < 4:
        return None, None
    from arviz_stats.base import array_stats

    x = np.asarray(kept[:, :max_draws], np.float64)
    x = np.moveaxis(x, (0, 1), (-2, -1))
    ess = array_stats.ess(x, method="bulk", relative=True, chain_axis=-2, draw_axis=-1)
    with warnings.catch_warnings():
        # An output that is constant within every chain (e.g. zero profit before launch) has
        # zero within-chain variance: arviz's R-hat divides 0/0 and warns; its R-hat is NaN.
        warnings.filterwarnings(
            "ignore", "invalid value encountered in (scalar )?divide", RuntimeWarning
        )
        rhat = (
            array_stats.rhat(x, method="rank", chain_axis=-2, draw_axis=-1)
            if x.shape[-2] > 1
            else None
        )
    return np.asarray(ess), (np.asarray(rhat) if rhat is not None else None)


def _rows(res: SimulationResult, group, var, st, q, ess, rhat, yearly) -> pd.DataFrame:
    """The summary rows of one output, one per element in C order (year first if ``yearly``)."""
    shape = st.mean.shape
    size = int(np.prod(shape, dtype=np.int64))
    pos = np.unravel_index(np.arange(size), shape) if shape else ()
    ent = res.entity_coords(group, var)
    ent_axis = 1 if yearly else 0
    if ent and len(shape) > ent_axis:
        entity = np.asarray(ent[1], dtype=object)[pos[ent_axis]]
    else:
        entity = np.full(size, "", dtype=object)

    def flat(a):
        return np.broadcast_to(np.asarray(a, np.float64), shape).reshape(size)

    missing = np.full(size, np.nan)
    return pd.DataFrame(
        {
            "group": group,
            "variable": var,
            "entity": entity,
            "year": res.years[pos[0]].astype(np.float64) if yearly else missing,
            "mean": flat(st.mean),
            "sd": flat(st.sd),
            "p05": flat(q[0]),
            "p50": flat(q[1]),
            "p95": flat(q[2]),
            "mcse_mean": flat(st.sd / np.sqrt(np.maximum(st.n, 1))),
            "ess_bulk": missing if ess is None else flat(ess),
            "r_hat": missing if rhat is None else flat(rhat),
        }
    )
