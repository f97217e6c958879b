"""Comparing a check run with its baseline (jp2040/regression.py): the tests and their tolerances.

Every statistic of every ``summary.csv`` row (mean, sd, p05, p50, p95) is compared.

- ``exact`` (``check.mode=exact``, or ``auto`` when the seed, path count, chains, chunk size,
  dtype, kept-draw and histogram settings, package versions and platform all match; the chunk
  size because the histogram edges come from a pilot of the first chunk, and another chunk size
  moved 2,889 of 13,655 statistics at 4,096 paths): each statistic within ``FLOAT_RTOL`` (1e-5)
  of the row's scale ``max(|baseline|, |now|, sd)``, plus ``FLOAT_ATOL``: float32 draws and
  float64 merges whose order follows the device count agree to a few ULP (engine.stats; one
  device against two passes), nothing more.
- ``statistical`` (``auto`` otherwise): ``|diff| <= k sqrt(mcse_a**2 + mcse_b**2)`` per row.
  Mean: each side's MCSE (engine/mcse.py) is the larger of the two, scaled to its own path
  count; under "nothing moved" both estimate the same error, and a sample that missed a rare
  spike, or a cell with no event at all, would otherwise claim a tiny one. Quantiles are
  compared on the probability scale, which needs no density estimate and holds at atoms (zero
  revenue before a launch), where a value-scale error breaks down: the rank of the baseline's
  p-quantile in the new run, ``F_now(q_base)`` (an interval at an atom or within a histogram
  bin), against p, each run contributing the binomial ``p (1 - p) / n``, on the arcsine scale
  (:func:`rank_z`). The sd is compared in exact mode only: its error needs the fourth moment,
  which the heavy, zero-inflated outputs estimate too poorly at CI path counts (in 10 seed pairs
  at 4,096 paths its z passed 4 six times as often as a normal z); spread changes show in p05
  and p95. Rows with zero error on both sides (point masses) must match within the float tolerance, and
  any row within it passes.

``k=auto`` controls the family-wise false-alarm rate of a clean rerun with another seed over the
``m`` statistics tested (point masses excluded) by Bonferroni, ``k = Phi^-1(1 - alpha / (2 m))``
with ``alpha = check.alpha = 0.01`` (k = 4.88 for the ~10,900 statistics of the default model).
Bonferroni holds under any dependence; the rows are strongly correlated (the years of one
trajectory, a domain and its area), so the true rate is lower as far as the normal approximation
holds. Measured on the default model: the largest |z| of a pair of seeds was 3.1-4.5 in 20
pairs at 4,096 paths (256 kept trajectories) and 3.6-4.3 in 6 pairs at 20,480 paths (1,000), none
above k; moving ``drivers.agi.median`` from 2037 to 2033 fails hundreds of statistics.
"""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

import numpy as np

QUANTILES = {"p05": 0.05, "p50": 0.5, "p95": 0.95}
STATISTICS = ("mean", "sd", "p05", "p50", "p95")
KEY = ("group", "variable", "entity", "year")
FLOAT_RTOL, FLOAT_ATOL = 1e-5, 1e-12
SHOW_ROWS = 10  # rows in the terminal table
SHOW_NAMES = 40  # moved variables named in the verdict line


def default_k(m: int, alpha: float = 0.01) -> float:
    """Bonferroni: each of ``m`` two-sided z tests at ``alpha / m``."""
    return NormalDist().inv_cdf(1.0 - alpha / (2.0 * max(m, 1)))


def rank_z(p, f_lo, f_hi, n_base, n_now):
    """z of a quantile on the probability scale: the baseline's p-quantile sits at ranks
    [f_lo, f_hi] of this run; each run's rank error is binomial, sqrt(p (1 - p) / n). Compared
    on the arcsine scale ``2 asin(sqrt(F))`` (variance 1/n whatever F: the binomial's skew at
    p05 and p95 with the 256 kept trajectories would otherwise fatten the tails), with a
    continuity correction of half a step per run. Positive: the distribution moved up."""
    with np.errstate(invalid="ignore", divide="ignore"):
        step = 0.5 / n_base + 0.5 / n_now
        u = np.clip(p, f_lo - step, f_hi + step)
        t = 2 * (np.arcsin(np.sqrt(p)) - np.arcsin(np.sqrt(np.clip(u, 0.0, 1.0))))
        return t / np.sqrt(1 / n_base + 1 / n_now)


def compare(base, now, result, mode: str, k="auto", alpha=0.01, n_paths=(1, 1), rows=None):
    """One row per (summary row, statistic): baseline, now, diff, mcse_baseline, mcse_now, z,
    test (exact, mcse, rank, not tested), passed; failed rows first, then by |z|.

    ``base`` is aligned to ``now`` (``result.summary()`` with MCSE columns, same rows); ``rows``:
    a mask of the rows to compare (None: all); ``n_paths``: (baseline, now) path counts. z is the
    difference in combined MCSE (value scale; probability scale for ``rank``). Returns (table,
    the k used and the number m of statistics it was chosen for; None, None in exact mode)."""
    import pandas as pd

    from engine.mcse import rank_intervals

    ranks = None
    if mode == "statistical":
        known = {}
        for q in QUANTILES:  # a histogram quantile is known only within its bin
            v = base[q].to_numpy(float)
            lo, hi = base[f"{q}_bin_lo"].to_numpy(float), base[f"{q}_bin_hi"].to_numpy(float)
            known[q] = (
                np.where(np.isnan(lo), v, np.minimum(lo, v)),
                np.where(np.isnan(hi), v, np.maximum(hi, v)),
            )
        ranks = rank_intervals(result, known)
    scale_r = math.sqrt(n_paths[0] / n_paths[1])  # mcse_now ~ mcse_base * scale_r
    frames = []
    for stat in STATISTICS:
        a, b = base[stat].to_numpy(float), now[stat].to_numpy(float)
        ma = np.nan_to_num(base[f"mcse_{stat}"].to_numpy(float))
        mb = np.nan_to_num(now[f"mcse_{stat}"].to_numpy(float))
        diff = b - a
        scale = np.nanmax(np.abs(np.stack([a, b, base["sd"], now["sd"]])), axis=0)
        close = (np.abs(diff) <= FLOAT_RTOL * np.nan_to_num(scale) + FLOAT_ATOL) | (
            np.isnan(a) & np.isnan(b)
        )
        test = np.full(len(a), "exact", dtype=object)
        if mode == "statistical" and stat == "mean":
            ma, mb = np.maximum(ma, mb / scale_r), np.maximum(mb, ma * scale_r)
            test[:] = "mcse"
        se = np.sqrt(ma**2 + mb**2)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, diff / se, np.where(close, 0.0, np.sign(diff) * np.inf))
        z = np.where(np.isnan(a) ^ np.isnan(b), np.inf, np.nan_to_num(z, nan=0.0))
        if mode == "statistical" and stat in QUANTILES:
            p = QUANTILES[stat]
            f_lo, f_hi, n_now = ranks[stat]
            n_base = base["quantile_n"].to_numpy(float)
            z_rank = rank_z(p, f_lo, f_hi, n_base, n_now)
            ok = np.isfinite(z_rank)
            z = np.where(ok, z_rank, z)
            test = np.where(ok, "rank", test)
        if mode == "statistical" and stat == "sd":
            test[:] = "not tested"
        keep = slice(None) if rows is None else np.asarray(rows, bool)
        frames.append(
            pd.DataFrame(
                {
                    **{c: base[c].to_numpy() for c in KEY},
                    "statistic": stat,
                    "baseline": a,
                    "now": b,
                    "diff": diff,
                    "mcse_baseline": ma,
                    "mcse_now": mb,
                    "z": z,
                    "test": test,
                    "close": close,
                }
            )[keep]
        )
    table = pd.concat(frames, ignore_index=True)
    tested = (table["test"] != "not tested").to_numpy()
    if mode == "exact":
        table["passed"] = table["close"]
        k_used = m = None
    else:
        spread = (table["mcse_baseline"] > 0) | (table["mcse_now"] > 0)
        m = int((tested & spread.to_numpy()).sum())
        k_used = default_k(m, alpha) if k == "auto" else float(k)
        table["passed"] = table["close"] | ~tested | (np.abs(table["z"]) <= k_used)
    order = np.lexsort((-np.abs(table["z"].to_numpy()), table["passed"].to_numpy()))
    return table.drop(columns="close").iloc[order].reset_index(drop=True), k_used, m


def verdict(table, mode, k, m, alpha, changed=(), extra=0, run_dir=None) -> str:
    """The terminal report: config changes, the rows that moved most, one verdict line."""
    import pandas as pd

    lines = []
    if changed:
        lines.append(f"config differs from the baseline at {len(changed)} keys:")
        lines += [f"  {c}" for c in changed[:8]] + (["  ..."] if len(changed) > 8 else [])
    tested = table[table["test"] != "not tested"]
    top = tested.head(SHOW_ROWS)
    if len(top):
        lines.append(
            f"{'variable':42s} {'entity':24s} {'year':>4s} {'stat':>4s} {'baseline':>11s} "
            f"{'now':>11s} {'z':>8s}"
        )
        for r in top.itertuples():
            year = "" if pd.isna(r.year) else str(int(r.year))
            flag = "" if r.passed else "  DRIFT"
            lines.append(
                f"{r.group + '/' + r.variable:42.42s} {str(r.entity or ''):24.24s} {year:>4s} "
                f"{r.statistic:>4s} {r.baseline:11.4g} {r.now:11.4g} {r.z:8.2f}{flag}"
            )
    how = "exact (float tolerance 1e-5 of scale)"
    if mode != "exact":
        how = f"statistical, k={k:.2f} (alpha={alpha:g} over the {m} statistics that vary)"
    failed = tested[~tested["passed"]]
    if extra:
        lines.append(f"{extra} rows of this run are not in the baseline (not compared)")
    if run_dir is not None:
        lines.append(f"wrote {Path(run_dir) / 'check.csv'}")
    if len(failed):
        names = list(dict.fromkeys(failed["group"] + "/" + failed["variable"]))
        more = f" (+{len(names) - SHOW_NAMES} more)" if len(names) > SHOW_NAMES else ""
        lines.append(
            f"check {how}: DRIFT: {len(failed)} of {len(tested)} statistics tested moved, in "
            f"{', '.join(names[:SHOW_NAMES])}{more}"
        )
    else:
        at = ""
        if len(tested):
            w = tested.iloc[0]
            at = f"; largest |z| {abs(w['z']):.2f} ({w['group']}/{w['variable']} {w['statistic']})"
        lines.append(f"check {how}: PASS{at}")
    return "\n".join(lines)
