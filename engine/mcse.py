"""Monte Carlo standard errors of the statistics in ``summary.csv``, and the ranks of given values
in a run's distributions (for the quantile comparisons of ``jp2040.regression``).

Paths are independent draws, so each error is the usual large-sample one for ``n`` iid draws:

- mean: ``sd / sqrt(n)`` (``mcse_mean``, already in the summary);
- sd: ``sd * sqrt((kurtosis - 1) / (4 n))`` (delta method on the sample variance). The kurtosis
  is the largest of three estimates, each a lower bound in practice for heavy tails: the kept
  draws of the element, the histogram over all paths, and the extremes
  ``((max - mean)**4 + (min - mean)**4) / (n var**2)`` (a rare spike that no kept trajectory saw);
- quantile p (p05, p50, p95): ArviZ's order-statistic MCSE (``arviz_stats.mcse(method=
  "quantile")``, the one convention of the project; ``reports.summaries`` applies the same with
  a given ESS): half the distance between the order statistics at the 15.9% and 84.1% points
  of the quantile's rank distribution Beta(ess p + 1, ess (1 - p) + 1), with ``ess = n_q`` (paths
  are independent). ``n_q`` and the order statistics follow the summary's source of the
  quantile: the kept draws (all paths, or the kept trajectories for the per-domain yearly cells,
  which have no histogram) or the histogram of all paths, whose bin width adds
  ``width / sqrt(12)`` in quadrature (a histogram quantile is known only within its bin).

A point mass has zero error for every statistic.

On the probability scale a quantile needs no density: the rank of the baseline's p-quantile in a
new run, ``F_new(q_base)``, differs from p by about ``sqrt(p (1 - p) / n)`` per run.
:func:`rank_intervals` gives ``[F(v-), F(v)]`` (an interval at an atom, such as the zero revenue of
a domain that has not launched, where the value-scale error above breaks down).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.drift import QUANTILES
from engine.order_stats import quantile_mcse_ranks, rank_interval
from engine.stats import has_histogram

MIN_KURTOSIS_DRAWS = 16  # fewer kept draws: only the histogram and the extremes
COLUMNS = ("mcse_sd", "mcse_p05", "mcse_p50", "mcse_p95", "quantile_n")
BIN_COLUMNS = tuple(f"{q}_bin_{side}" for q in QUANTILES for side in ("lo", "hi"))


def quantile_mcse(flat: np.ndarray, p: float, ess=None) -> np.ndarray:
    """MCSE of the sample quantile p of ``flat`` (n, *s) per element (*s): ArviZ's
    ``mcse(method="quantile")`` with ESS ``ess`` (default n: independent paths), i.e. half the
    distance between the order statistics at ``engine.order_stats.quantile_mcse_ranks``."""
    n = flat.shape[0]
    ess = np.broadcast_to(np.asarray(n if ess is None else ess, np.float64), flat.shape[1:])
    lo, hi = quantile_mcse_ranks(n, p, ess)
    srt = np.sort(flat, axis=0)
    out = (np.take_along_axis(srt, hi[None], 0)[0] - np.take_along_axis(srt, lo[None], 0)[0]) / 2
    return np.where(np.isfinite(ess), out, np.nan)


def bin_width(st) -> np.ndarray:
    return (st.hi - st.lo) / (st.hist.shape[-1] - 2)


def histogram_quantile_mcse(st, p: float) -> np.ndarray:
    """MCSE of the histogram quantile p of streaming Stats ``st``: the spread of
    :func:`quantile_mcse` (ess = all ``st.n`` paths) read from the histogram, plus the bin
    width's discretisation in quadrature."""
    lo, hi = rank_interval(p, max(float(np.max(st.n)), 1.0))
    spread = (st.quantile(float(hi)) - st.quantile(float(lo))) / 2
    return np.sqrt(spread**2 + bin_width(st) ** 2 / 12.0)


def quantile_bin(st, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Edges (left, right) of the histogram bin that holds the quantile p (``Stats.quantile``'s
    bin; the underflow bin is [min, lo], the overflow bin [hi, max])."""
    bins = st.hist.shape[-1] - 2
    inner = st.lo[..., None] + bin_width(st)[..., None] * np.arange(bins + 1)
    left = np.concatenate([st.min[..., None], inner], axis=-1)
    right = np.concatenate([inner, st.max[..., None]], axis=-1)
    cum = np.cumsum(st.hist.astype(np.float64), axis=-1)
    k = np.minimum((cum < p * cum[..., -1:]).sum(-1, keepdims=True), bins + 1)
    return np.take_along_axis(left, k, -1)[..., 0], np.take_along_axis(right, k, -1)[..., 0]


def _kurtosis(c: np.ndarray, weights=None, axis=0) -> np.ndarray:
    """m4 / m2**2 of centred values ``c`` along ``axis`` (1 where there is no spread)."""
    m2 = np.average(c**2, axis=axis, weights=weights)
    m4 = np.average(c**4, axis=axis, weights=weights)
    return np.where(m2 > 0, m4 / np.where(m2 > 0, m2, 1.0) ** 2, 1.0)


def histogram_kurtosis(st) -> np.ndarray:
    """Kurtosis of all ``st.n`` paths from the histogram (bin midpoints; the under- and overflow
    bins at the midpoints of [min, lo] and [hi, max])."""
    bins = st.hist.shape[-1] - 2
    inner = st.lo[..., None] + bin_width(st)[..., None] * (np.arange(bins) + 0.5)
    under = ((st.min + st.lo) / 2)[..., None]
    over = ((st.hi + st.max) / 2)[..., None]
    mid = np.concatenate([under, inner, over], axis=-1)
    w = st.hist.astype(np.float64)
    w = np.where(w.sum(-1, keepdims=True) > 0, w, 1.0)
    return _kurtosis(mid - st.mean[..., None], weights=w, axis=-1)


def sd_mcse(st, flat: np.ndarray | None) -> np.ndarray:
    """MCSE of the sample sd of streaming Stats ``st`` (*s) over its ``st.n`` paths; ``flat``
    (k, *s): the element's kept draws, or None."""
    n = max(float(np.max(st.n)), 1.0)
    var = st.variance
    safe = np.where(var > 0, var, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        kurt = ((st.max - st.mean) ** 4 + (st.min - st.mean) ** 4) / (n * safe**2)
    kurt = np.nan_to_num(kurt, nan=1.0)
    if has_histogram(st):
        kurt = np.maximum(kurt, histogram_kurtosis(st))
    if flat is not None and flat.shape[0] >= MIN_KURTOSIS_DRAWS:
        kurt = np.maximum(kurt, _kurtosis(flat - flat.mean(axis=0)))
    elif not has_histogram(st):
        kurt = np.maximum(kurt, 3.0)  # nothing seen of the shape: normal
    return np.where(var > 0, st.sd * np.sqrt(np.maximum(kurt - 1.0, 0.0) / (4.0 * n)), 0.0)


def _elements(result):
    """Yield (group, var, st, flat kept draws or None, quantile source) in the summary's order
    (``engine.results.SimulationResult.summary``): source is "kept", "histogram" or "none"."""
    raw = result.raw
    for group, vars_ in raw.stats.items():
        kept_src = raw.trajectories if group.endswith("_yearly") else raw.kept_scalars
        for var, st in vars_.items():
            kept = kept_src.get(group, {}).get(var)
            n_kept = 0 if kept is None else kept.shape[0] * kept.shape[1]
            flat = None
            if n_kept:
                flat = np.asarray(kept, np.float64).reshape((n_kept,) + kept.shape[2:])
            if n_kept == raw.n_paths or (n_kept and not has_histogram(st)):
                source = "kept"
            else:
                source = "histogram" if has_histogram(st) else "none"
            yield group, var, st, flat, source


def _flat(a, shape) -> np.ndarray:
    size = int(np.prod(shape, dtype=np.int64))
    return np.broadcast_to(np.asarray(a, np.float64), shape).reshape(size)


def mcse_table(result) -> pd.DataFrame:
    """group, variable, :data:`COLUMNS` and :data:`BIN_COLUMNS` for every row of
    ``result.summary()``, in its order (the same loop and the same C order of elements as
    ``engine.results._rows``). ``quantile_n``: the paths behind the row's quantiles;
    ``p05_bin_lo``/``p05_bin_hi`` etc.: the histogram bin that holds a histogram quantile (the
    value is known only within it), NaN for quantiles of kept draws."""
    frames = []
    for group, var, st, flat, source in _elements(result):
        shape = st.mean.shape
        cols = {"mcse_sd": sd_mcse(st, flat)}
        n_q = flat.shape[0] if source == "kept" else float(np.max(st.n))
        for name, p in QUANTILES.items():
            cols[f"{name}_bin_lo"] = cols[f"{name}_bin_hi"] = np.nan  # kept: the value itself
            if source == "kept":
                cols[f"mcse_{name}"] = quantile_mcse(flat, p)
            elif source == "histogram":
                cols[f"mcse_{name}"] = histogram_quantile_mcse(st, p)
                cols[f"{name}_bin_lo"], cols[f"{name}_bin_hi"] = quantile_bin(st, p)
            else:
                cols[f"mcse_{name}"] = np.nan
        cols["quantile_n"] = n_q if source != "none" else np.nan
        frames.append(
            pd.DataFrame(
                {"group": group, "variable": var, **{k: _flat(v, shape) for k, v in cols.items()}}
            )
        )
    return pd.concat(frames, ignore_index=True)


def with_mcse(summary: pd.DataFrame, result) -> pd.DataFrame:
    """``summary`` (``result.summary()``) with the :data:`COLUMNS` of :func:`mcse_table`."""
    extra = mcse_table(result)
    if len(extra) != len(summary) or not (
        (extra["group"].to_numpy() == summary["group"].to_numpy()).all()
        and (extra["variable"].to_numpy() == summary["variable"].to_numpy()).all()
    ):  # a change to the summary's row order must be mirrored in _elements
        raise RuntimeError("engine.mcse: rows do not line up with the summary's rows")
    out = summary.copy()
    for c in COLUMNS + BIN_COLUMNS:
        out[c] = extra[c].to_numpy()
    return out


def _histogram_cdf(st, lo_v: np.ndarray, hi_v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per element, the histogram's CDF at the left edge of the bin that holds ``lo_v`` and at
    the right edge of the bin that holds ``hi_v`` (values are known only within a bin)."""
    shape = st.mean.shape
    size = int(np.prod(shape, dtype=np.int64))
    bins = st.hist.shape[-1] - 2
    lo_e, hi_e = _flat(st.lo, shape), _flat(st.hi, shape)
    vmin, vmax = _flat(st.min, shape), _flat(st.max, shape)
    hist = np.asarray(st.hist, np.float64).reshape(size, bins + 2)
    out_lo, out_hi = np.full(size, np.nan), np.full(size, np.nan)
    for i in range(size):
        total = hist[i].sum()
        if not (np.isfinite(lo_v[i]) and np.isfinite(hi_v[i])) or total <= 0:
            continue
        inner = np.linspace(lo_e[i], hi_e[i], bins + 1)
        edges = np.clip(np.concatenate([[vmin[i]], inner, [vmax[i]]]), vmin[i], vmax[i])
        cum = np.concatenate([[0.0], np.cumsum(hist[i])]) / total
        # bin j spans edges[j] .. edges[j + 1] and cum[j] is the mass of bins 0 .. j - 1. At
        # most F(lo-): the bins that end below lo; at least F(hi): the bins that start at or
        # below hi (at a point mass, where the edges collapse, [0, 1])
        below = np.searchsorted(edges, lo_v[i], side="left") - 1
        upto = np.searchsorted(edges, hi_v[i], side="right")
        out_lo[i] = cum[min(max(below, 0), bins + 2)]
        out_hi[i] = cum[min(upto, bins + 2)]
    return out_lo, out_hi


def rank_intervals(result, values: dict[str, tuple]) -> dict[str, tuple]:
    """Where given values fall in this run's distributions, row by row of ``result.summary()``.

    Args:
        values: {"p05": (lo, hi), ...}: per summary row the interval known to hold the value
            (lo == hi for an exact value; NaN: skip the row).
    Returns:
        {name: (F_lo, F_hi, n)} arrays per row: this run's CDF just below ``lo`` and at ``hi``
        (kept draws: the ECDF ``F(lo-)``, ``F(hi)``; histogram: the CDF at the outer edges of the
        bins that hold lo and hi) and the paths ``n`` behind it; NaN where not available.
    """
    out = {name: ([], [], []) for name in values}
    start = 0
    for _group, _var, st, flat, source in _elements(result):
        shape = st.mean.shape
        size = int(np.prod(shape, dtype=np.int64))
        n = flat.shape[0] if source == "kept" else float(np.max(st.n))
        for name, (lo_all, hi_all) in values.items():
            lo_v = np.asarray(lo_all[start : start + size], np.float64)
            hi_v = np.asarray(hi_all[start : start + size], np.float64)
            if source == "kept":
                x = flat.reshape(flat.shape[0], size)
                f_lo, f_hi = (x < lo_v).mean(axis=0), (x <= hi_v).mean(axis=0)
            elif source == "histogram":
                f_lo, f_hi = _histogram_cdf(st, lo_v, hi_v)
            else:
                f_lo = f_hi = np.full(size, np.nan)
            bad = ~(np.isfinite(lo_v) & np.isfinite(hi_v))
            out[name][0].append(np.where(bad, np.nan, f_lo))
            out[name][1].append(np.where(bad, np.nan, f_hi))
            out[name][2].append(np.full(size, n if source != "none" else np.nan))
        start += size
    return {k: tuple(np.concatenate(a) for a in parts) for k, parts in out.items()}
