"""Downside metrics from the engine's exact tail buffers (``/tails`` in results.nc).

The engine keeps, for the headline per-path scalars, the k worst values of *all* n paths with
their global path indices (``engine.tails``). From them VaR, ES and exceedance probabilities, and
their MCSEs, are exactly what :mod:`reports.downside` computes with every path kept:

- VaR at ``alpha`` is NumPy's linear-interpolated quantile of the n values: two order
  statistics, both in the buffer when ``alpha <= engine.tail_alpha``.
- ES and the tail variance use the paths at or beyond the VaR: all in the buffer when its least
  bad value is not (else the estimate is NaN and ``covered`` False).
- The ESS in the MCSEs is ArviZ's ESS of the indicator ``1{path in the tail}`` on the first
  ``diag_max_draws`` draws of each chain: path g is draw ``g % per_chain`` of chain
  ``g // per_chain``, and it is in the tail exactly when it is in the buffer's tail part.
- The VaR's MCSE reads the order statistics about one standard deviation of the rank around
  alpha n (the buffer's margin holds them).

Layout of ``/tails/<group>``: per output ``<var>`` (values, dims ``(*entity, tail_rank)``, worst
first) and ``<var>.path`` (int64 global path index, -1 empty); ``<var>.best`` and
``<var>.best_path`` when best values were kept. Attrs of ``/tails``: ``n_paths``, ``chains``,
``k``, ``alpha``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from engine.order_stats import quantile_mcse_ranks
from reports.summaries import relative_ess

__all__ = ["TailBuffer", "buffer_exceedance", "buffer_tail_metrics", "tail_buffer"]

TAILS_GROUP = "tails"
RANK_DIM = "tail_rank"


@dataclass(frozen=True)
class TailBuffer:
    """One output's tail: ``values``/``index`` (n_cells, k), sorted from the ``side`` end
    (worst first for the bad side), ``entity`` labels (n_cells,), all-paths count and chains."""

    values: np.ndarray
    index: np.ndarray
    entity: np.ndarray
    side: str
    n_paths: int
    chains: int

    @property
    def per_chain(self) -> int:
        return self.n_paths // self.chains


def tail_buffer(dt: xr.DataTree, group: str, variable: str, side: str) -> TailBuffer | None:
    """The buffer of ``group/variable`` holding the ``side`` end (``"low"``/``"high"``), or None
    when results.nc has none (no ``/tails``, another output, or that end was not kept)."""
    if TAILS_GROUP not in dt.children or group not in dt[TAILS_GROUP].children:
        return None
    ds = dt[TAILS_GROUP][group].to_dataset()
    if variable not in ds.data_vars:
        return None
    bad = ds[variable].attrs.get("bad_side")
    if side == bad:
        values, index = ds[variable], ds[f"{variable}.path"]
    elif f"{variable}.best" in ds.data_vars:
        values, index = ds[f"{variable}.best"], ds[f"{variable}.best_path"]
    else:
        return None
    ent = [d for d in values.dims if d != RANK_DIM]
    labels = np.asarray(values[ent[0]].values).astype(str) if ent else np.array([""], dtype=object)
    attrs = dt[TAILS_GROUP].attrs
    return TailBuffer(
        np.asarray(values.transpose(*ent, RANK_DIM).values, np.float64).reshape(
            -1, values.sizes[RANK_DIM]
        ),
        np.asarray(index.transpose(*ent, RANK_DIM).values, np.int64).reshape(
            -1, values.sizes[RANK_DIM]
        ),
        labels,
        side,
        int(attrs["n_paths"]),
        int(attrs["chains"]),
    )


def _at(buf: TailBuffer, rank: np.ndarray) -> np.ndarray:
    """Ascending order statistic ``rank`` (0-based, per cell) of all n values, NaN if outside the
    buffer."""
    n, k = buf.n_paths, buf.values.shape[1]
    r = np.asarray(rank) if buf.side == "low" else buf.n_paths - 1 - np.asarray(rank)
    r = np.broadcast_to(r, (buf.values.shape[0],))
    ok = (r >= 0) & (r < k) & (r < n)
    got = np.take_along_axis(buf.values, np.clip(r, 0, k - 1)[:, None], 1)[:, 0]
    return np.where(
        ok & (np.take_along_axis(buf.index, np.clip(r, 0, k - 1)[:, None], 1)[:, 0] >= 0),
        got,
        np.nan,
    )


def _prefix_indicator(buf: TailBuffer, member: np.ndarray, diag_max_draws) -> np.ndarray:
    """``(n_cells, chains, D)`` 0/1: which of the first D draws of each chain are ``member``
    buffer entries (``member`` (n_cells, k) bool)."""
    per = buf.per_chain
    d_max = per if diag_max_draws is None else min(int(diag_max_draws), per)
    out = np.zeros((buf.values.shape[0], buf.chains, d_max))
    cell, slot = np.nonzero(member & (buf.index >= 0))
    g = buf.index[cell, slot]
    chain, draw = g // per, g % per
    keep = draw < d_max
    out[cell[keep], chain[keep], draw[keep]] = 1.0
    return out


def _complete(buf: TailBuffer, member: np.ndarray) -> np.ndarray:
    """(n_cells,) True when every path of the set is in the buffer: its least extreme entry is
    not a member, or the buffer holds all n paths."""
    k = buf.values.shape[1]
    full = (k >= buf.n_paths) & (buf.index[:, -1] >= 0)
    return full | ~member[:, -1]


def buffer_tail_metrics(buf: TailBuffer, alpha: float, diag_max_draws) -> dict:
    """VaR, ES, their MCSEs and ``covered`` (n_cells,) for tail probability ``alpha`` on the
    buffer's side, from all n paths; NaN where the buffer does not hold what they need."""
    n = buf.n_paths
    prob = alpha if buf.side == "low" else 1.0 - alpha
    h = (n - 1) * prob
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    var = _at(buf, lo) + (h - lo) * (_at(buf, hi) - _at(buf, lo))
    vals = buf.values
    with np.errstate(invalid="ignore"):
        member = (vals <= var[:, None]) if buf.side == "low" else (vals >= var[:, None])
    member &= buf.index >= 0
    covered = np.isfinite(var) & _complete(buf, member)
    n_tail = member.sum(axis=1)
    es = np.where(member, vals, 0.0).sum(axis=1) / np.maximum(n_tail, 1)
    dev = np.where(member, (vals - es[:, None]) ** 2, 0.0).sum(axis=1)
    tail_var = dev / np.maximum(n_tail - 1, 1)
    ess = relative_ess(_prefix_indicator(buf, member, diag_max_draws), "mean") * n
    r_lo, r_hi = quantile_mcse_ranks(n, prob, ess)
    var_mcse = np.where(np.isfinite(ess), (_at(buf, r_hi) - _at(buf, r_lo)) / 2, np.nan)
    es_mcse = np.sqrt((tail_var + (1 - alpha) * (es - var) ** 2) / (alpha * ess))
    nan = np.where(covered, 1.0, np.nan)
    return {
        "var": var * nan,
        "es": es * nan,
        "var_mcse": var_mcse * nan,
        "es_mcse": es_mcse * nan,
        "covered": covered & np.isfinite(var_mcse),
    }


def buffer_exceedance(buf: TailBuffer, threshold: float, diag_max_draws) -> dict:
    """``P(X < t)`` (buffer side ``low``) or ``P(X > t)`` (``high``) over all n paths, with the
    MCSE of :func:`reports.downside.exceedance_probability`; NaN where the buffer is full of
    hits (more than it holds)."""
    with np.errstate(invalid="ignore"):
        hit = buf.values < threshold if buf.side == "low" else buf.values > threshold
    hit &= buf.index >= 0
    covered = _complete(buf, hit)
    p = hit.sum(axis=1) / buf.n_paths
    ess = relative_ess(_prefix_indicator(buf, hit, diag_max_draws), "mean") * buf.n_paths
    mcse = np.sqrt(p * (1 - p) / ess)
    nan = np.where(covered, 1.0, np.nan)
    return {"probability": p * nan, "mcse": mcse * nan, "covered": covered}
