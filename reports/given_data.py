"""Given-data sensitivity indices: what the Monte Carlo sample already says, no extra runs.

``X`` is a :class:`pandas.DataFrame` of driver draws (one column per driver, ``n`` rows) and
``y`` the outcome on the same ``n`` paths. The indices see the sample as it is, *correlated
drivers included*: a driver that is correlated with an influential one gets credit for the
variance the two share.

* :func:`first_order` -- variance-based first-order index ``Var(E[y|x_i]) / Var(y)`` estimated by
  conditional means over equal-count bins of ``x_i``, with the ANOVA (epsilon-squared) finite-bin
  bias correction.
* :func:`spearman` -- rank correlation of each driver with ``y``.
* :func:`pawn` -- the PAWN moment-independent index (Pianosi & Wagener 2015, 2018, given-data
  version): Kolmogorov-Smirnov distance between the unconditional CDF of ``y`` and its CDF
  within each slice of ``x_i``, summarised over slices by the median (or max).
* :func:`given_data_indices` -- all three with bootstrap intervals, in one table.

Inputs are checked, binned and ranked by :mod:`reports.driver_sample`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from reports.driver_sample import (
    default_bins,
    digitize,
    equal_count_bins,
    quantile_cuts,
    unit_ranks,
    validate_sample,
)

__all__ = [
    "check_ci",
    "first_order",
    "given_data_indices",
    "pawn",
    "recentred_interval",
    "spearman",
]

#: Rows per driver-chunk: bounds memory at ``chunk * n`` small integers.
_DRIVER_CHUNK = 16


def _standardise(y: np.ndarray) -> np.ndarray:
    """Centre and scale ``y`` (shape (n,)) so power sums do not cancel catastrophically."""
    sd = y.std()
    return (y - y.mean()) / sd


# --------------------------------------------------------------------------------------------
# statistics from sufficient statistics (shared by point estimates and the bootstrap)
# --------------------------------------------------------------------------------------------


def _s1_from_sums(cnt: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """Bias-corrected binned first-order index from per-bin sums.

    Parameters
    ----------
    cnt, s1, s2 : ndarray, shape (..., K)
        Per-bin count, sum of y and sum of y**2.

    Returns
    -------
    ndarray, shape (...)
        ``(SSB - (K' - 1) * MSW) / SST`` with ``K'`` the non-empty bins (epsilon-squared).
    """
    n = cnt.sum(-1)
    tot = s1.sum(-1)
    sst = s2.sum(-1) - tot**2 / n
    with np.errstate(invalid="ignore", divide="ignore"):
        between = np.where(cnt > 0, s1**2 / np.where(cnt > 0, cnt, 1), 0.0).sum(-1)
        ssb = between - tot**2 / n
        k = (cnt > 0).sum(-1)
        msw = (sst - ssb) / np.maximum(n - k, 1)
        return (ssb - (k - 1) * msw) / sst


def _ks_from_hist(hist: np.ndarray, summary: str) -> np.ndarray:
    """PAWN statistic from a (slice x y-cell) histogram.

    Kept instead of ``scipy.stats.ks_2samp`` per slice: on an exact grid (``y_cells >= n``) the
    two agree to 1e-16 (tested), but the histogram took 0.05 s CPU against ks_2samp's 1.06 s
    for 20 drivers x 40,000 paths x 10 slices, a cost every bootstrap replicate repeats. At the
    default 1000 cells it differs from the exact KS by up to 5e-4.

    Parameters
    ----------
    hist : ndarray, shape (..., K, G)
        Counts of paths per driver slice (K) and outcome cell (G, ordered by value).
    summary : {"median", "max", "mean"}
        How the per-slice KS distances are combined.

    Returns
    -------
    ndarray, shape (...)
    """
    nk = hist.sum(-1)  # (..., K)
    n = nk.sum(-1)  # (...)
    f_all = np.cumsum(hist.sum(-2), -1) / n[..., None]  # (..., G)
    with np.errstate(invalid="ignore", divide="ignore"):
        f_k = np.cumsum(hist, -1) / nk[..., None]  # (..., K, G)
        ks = np.abs(f_k - f_all[..., None, :]).max(-1)  # (..., K)
    ks = np.where(nk > 0, ks, np.nan)
    reducer = {"median": np.nanmedian, "max": np.nanmax, "mean": np.nanmean}[summary]
    return reducer(ks, axis=-1)


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``a`` (shape (d, m)) with ``b`` (shape (m,))."""
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a @ b) / np.sqrt((a * a).sum(-1) * (b @ b))


# --------------------------------------------------------------------------------------------
# given-data indices
# --------------------------------------------------------------------------------------------


def recentred_interval(est: np.ndarray, reps: np.ndarray, ci: float, scale: float) -> tuple:
    """Recentred (and optionally rescaled) percentile interval.

    ``lo, hi = est + scale * (q_{(1-ci)/2}, q_{(1+ci)/2}) - scale * median`` of the bootstrap
    replicates ``reps`` (shape (n_boot, ...)). Recentring on the full-sample estimate removes the
    bootstrap's own bias shift (resamples contain duplicates, which inflates KS-type statistics),
    so the interval always contains ``est``; ``scale = sqrt(m / n)`` converts the spread of an
    m-out-of-n bootstrap to sample size n.
    """
    a = (1.0 - ci) / 2.0
    with warnings.catch_warnings():  # all-NaN columns (e.g. Spearman of a categorical) stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        q_lo, med, q_hi = np.nanquantile(reps, [a, 0.5, 1.0 - a], axis=0)
    return est + scale * (q_lo - med), est + scale * (q_hi - med)


def check_ci(ci: float, n_boot: int) -> None:
    """Bootstrap settings: interval coverage ``ci`` in (0, 1), ``n_boot >= 0`` replicates."""
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be in (0, 1); got {ci}")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0; got {n_boot}")


def _prepare_driver(
    x: np.ndarray, n_bins: int, pawn_bins: int, do_fo: bool, do_pawn: bool, do_rho: bool
) -> tuple[np.ndarray | None, int, np.ndarray | None, int, np.ndarray | None]:
    """Per-driver bins (first order, PAWN slices) and average ranks of ``x`` (shape (n,)).

    Ranks come from ``scipy.stats.rankdata`` (:func:`reports.driver_sample.unit_ranks`), whose
    argsort cannot be shared with the cut points' sort: all three indices' point estimates took
    2.9 s CPU against 1.8 s with one shared argsort of our own at 1e6 rows x 10 drivers, about
    5 ms more per driver at the 40,000 rows explain.py uses.

    Returns
    -------
    bins_f : ndarray, shape (n,), int16, or None
    k_f : int
    bins_p : ndarray, shape (n,), int16, or None
    k_p : int
    ranks : ndarray, shape (n,), float32, or None
        Average ranks scaled to (0, 1).
    """
    bins_f = bins_p = ranks = None
    k_f = k_p = 0
    xs = np.sort(x) if do_fo and do_pawn else None  # one sort serves both sets of cut points
    if do_fo:
        bins_f, k_f = equal_count_bins(x, n_bins, xs)
    if do_pawn:
        bins_p, k_p = equal_count_bins(x, pawn_bins, xs)
    if do_rho:
        ranks = unit_ranks(x).astype(np.float32)
    return bins_f, k_f, bins_p, k_p, ranks


def _fo_one(bins: np.ndarray, k: int, y: np.ndarray, y2: np.ndarray) -> float:
    """First-order index of one driver from its bins (n,), outcome (n,) and outcome**2 (n,)."""
    cnt = np.bincount(bins, minlength=k).astype(float)
    s1 = np.bincount(bins, weights=y, minlength=k)
    s2 = np.bincount(bins, weights=y2, minlength=k)
    return float(_s1_from_sums(cnt, s1, s2))


def _pawn_one(bins: np.ndarray, k: int, ycode: np.ndarray, g: int, stat: str) -> float:
    """PAWN index of one driver from its slices (n,) and outcome cells ``ycode`` (n,)."""
    h = np.bincount(bins.astype(np.int32) * g + ycode, minlength=k * g).reshape(k, g)
    return float(_ks_from_hist(h.astype(float), stat))


def _chunk_given_data(
    Xt: np.ndarray,
    y: np.ndarray,
    unordered: np.ndarray,
    *,
    which: Sequence[str],
    n_bins: int,
    pawn_bins: int,
    y_cells: int,
    pawn_stat: str,
    n_boot: int,
    seed: int,
    boot_rows: int,
) -> dict[str, np.ndarray]:
    """Point estimates and bootstrap replicates for one chunk of drivers.

    Parameters
    ----------
    Xt : ndarray, shape (c, n)
    y : ndarray, shape (n,), standardised
    unordered : ndarray, shape (c,), bool

    Returns
    -------
    dict
        ``{index: est (c,)}`` plus ``{index + "_boot": (n_boot, c)}`` when ``n_boot > 0``.
    """
    c, n = Xt.shape
    m = min(n, boot_rows)
    do_fo, do_pawn, do_rho = ("first_order" in which), ("pawn" in which), ("spearman" in which)
    prepared = [_prepare_driver(x, n_bins, pawn_bins, do_fo, do_pawn, do_rho) for x in Xt]
    out: dict[str, np.ndarray] = {}
    y2 = y * y
    if do_pawn:
        ycuts = quantile_cuts(y, y_cells)
        g = len(ycuts) + 1
        ycode = digitize(y, ycuts).astype(np.int32)
    if do_rho:
        ranks_y = unit_ranks(y).astype(np.float32)
        ranks_x = np.stack([p[4] for p in prepared])  # (c, n) float32
        del_unordered = np.where(unordered, np.nan, 1.0)

    def estimate(rows: np.ndarray | None) -> dict[str, np.ndarray]:
        """All requested indices on the rows ``rows`` (shape (m,), sorted) or the full sample."""
        take = (lambda a: a) if rows is None else (lambda a: np.take(a, rows, axis=-1))
        yy, yy2 = take(y), take(y2)
        res = {}
        if do_fo:
            res["first_order"] = np.array([_fo_one(take(p[0]), p[1], yy, yy2) for p in prepared])
        if do_pawn:
            yc = take(ycode)
            res["pawn"] = np.array(
                [_pawn_one(take(p[2]), p[3], yc, g, pawn_stat) for p in prepared]
            )
        if do_rho:
            res["spearman"] = _pearson_rows(take(ranks_x), take(ranks_y)) * del_unordered
        return res

    out.update(estimate(None))
    if n_boot > 0:
        reps = {k: np.empty((n_boot, c)) for k in which}
        for r in range(n_boot):
            # sorted indices: the statistics ignore row order and sorted gathers are ~5x faster
            idx = np.sort(np.random.default_rng([seed, r]).integers(0, n, m))
            for k, v in estimate(idx).items():
                reps[k][r] = v
        for k in which:
            out[k + "_boot"] = reps[k]
    return out


def _given_data(
    X,
    y,
    *,
    which: Sequence[str],
    n_bins: int | None = None,
    pawn_bins: int = 10,
    y_cells: int = 1000,
    pawn_stat: str = "median",
    n_boot: int = 0,
    seed: int = 0,
    ci: float = 0.9,
    boot_rows: int = 20_000,
) -> pd.DataFrame:
    """Shared driver loop for the given-data indices; returns a frame indexed by driver."""
    names, Xt, unordered, yv = validate_sample(X, y)
    check_ci(ci, n_boot)
    n = len(yv)
    if n_bins is None:
        n_bins = default_bins(n)
    if n_bins < 2:
        raise ValueError(f"n_bins must be >= 2; got {n_bins}")
    if pawn_bins < 2:
        raise ValueError(f"pawn_bins must be >= 2; got {pawn_bins}")
    if pawn_stat not in ("median", "max", "mean"):
        raise ValueError(f"pawn_stat must be 'median', 'max' or 'mean'; got {pawn_stat!r}")
    ys = _standardise(yv)
    pieces: dict[str, list[np.ndarray]] = {}
    for a in range(0, len(names), _DRIVER_CHUNK):
        sl = slice(a, a + _DRIVER_CHUNK)
        res = _chunk_given_data(
            Xt[sl],
            ys,
            unordered[sl],
            which=which,
            n_bins=n_bins,
            pawn_bins=pawn_bins,
            y_cells=min(y_cells, n),
            pawn_stat=pawn_stat,
            n_boot=n_boot,
            seed=seed,
            boot_rows=boot_rows,
        )
        for k, v in res.items():
            pieces.setdefault(k, []).append(v)
    cols: dict[str, np.ndarray] = {}
    scale = np.sqrt(min(n, boot_rows) / n)
    for k in which:
        est = np.concatenate(pieces[k])
        cols[k] = est
        if n_boot > 0:
            boot = np.concatenate(pieces[k + "_boot"], axis=1)
            cols[k + "_lo"], cols[k + "_hi"] = recentred_interval(est, boot, ci, scale)
    df = pd.DataFrame(cols, index=pd.Index(names, name="driver"))
    return df


def first_order(X, y, n_bins: int | None = None) -> pd.Series:
    """Given-data first-order (main-effect) variance index of each driver.

    ``S_i = Var(E[y | x_i]) / Var(y)``, with ``E[y | x_i]`` estimated as the mean of ``y`` within
    equal-count bins of ``x_i`` (cut at the sample quantiles of ``x_i``; tied values share a bin,
    so a driver with few distinct values -- a switch, a year, a coded category -- gets one bin
    per value).

    The plain binned estimator ``SSB / SST`` is biased upward: each bin mean carries sampling
    noise of variance ``sigma_within**2 / n_k``, adding about ``(K - 1) * MSW`` to the between-bin
    sum of squares. We subtract it, i.e. return the ANOVA epsilon-squared
    ``(SSB - (K - 1) * MSW) / SST`` (Kelley 1935), whose noise bias is zero for fixed bins;
    an irrelevant driver then scores ~0 (slightly negative values are possible and mean "no
    detectable effect"). The remaining bias is the discretisation error (the variation of
    ``E[y | x_i]`` inside a bin is lost), which shrinks like ``1 / K**2`` for smooth effects.

    Because it reuses the (possibly correlated) sample, ``S_i`` includes variance that ``x_i``
    shares with correlated drivers; indices need not sum to <= 1 when drivers are correlated.

    Parameters
    ----------
    X : DataFrame, shape (n, d)
        Driver draws, one column per driver. Unordered categoricals are binned by category.
    y : array-like, shape (n,)
        Outcome per path; must be finite.
    n_bins : int, optional
        Number of equal-count bins ``K``; default ``sqrt(n)`` clipped to [2, 50].

    Returns
    -------
    Series, shape (d,)
        Indexed by driver name.
    """
    return _given_data(X, y, which=["first_order"], n_bins=n_bins)["first_order"]


def spearman(X, y) -> pd.Series:
    """Spearman rank correlation of each driver with the outcome.

    Ties get average ranks. Unordered categorical drivers get NaN (no ranking exists).

    Parameters
    ----------
    X : DataFrame, shape (n, d)
    y : array-like, shape (n,)

    Returns
    -------
    Series, shape (d,)
        Values in [-1, 1], indexed by driver.
    """
    return _given_data(X, y, which=["spearman"])["spearman"]


def pawn(X, y, n_bins: int = 10, stat: str = "median", y_cells: int = 1000) -> pd.Series:
    """Given-data PAWN index (Pianosi & Wagener 2018): a moment-independent sensitivity.

    For each driver the sample is cut into ``n_bins`` equal-count slices of ``x_i``; within each
    slice the empirical CDF of ``y`` is compared with the unconditional empirical CDF by the
    Kolmogorov-Smirnov distance, and the per-slice distances are summarised by ``stat``
    (median by default, as recommended by Pianosi & Wagener; ``"max"`` is more sensitive to
    effects confined to one end of the driver's range, such as a tail-only effect).

    The CDFs are compared at the ``y_cells`` outcome quantiles (exact when ``y`` has at most
    ``y_cells`` distinct values), which makes the index a single histogram pass per driver.

    PAWN is in [0, 1] and is 0 only if ``y`` is independent of ``x_i``. With finite samples an
    irrelevant driver scores about ``0.87 * sqrt((1 - 1/n_bins) / (n / n_bins))`` (the mean KS
    distance of a random subsample), so compare drivers against that floor, not against 0.

    Parameters
    ----------
    X : DataFrame, shape (n, d)
    y : array-like, shape (n,)
    n_bins : int
        Conditioning slices per driver.
    stat : {"median", "max", "mean"}
    y_cells : int
        Outcome grid resolution for the CDF comparison.

    Returns
    -------
    Series, shape (d,)
    """
    return _given_data(X, y, which=["pawn"], pawn_bins=n_bins, pawn_stat=stat, y_cells=y_cells)[
        "pawn"
    ]


def given_data_indices(
    X,
    y,
    n_boot: int = 200,
    seed: int = 0,
    ci: float = 0.9,
    *,
    n_bins: int | None = None,
    pawn_bins: int = 10,
    pawn_stat: str = "median",
    boot_rows: int = 20_000,
) -> pd.DataFrame:
    """First-order, Spearman and PAWN indices with bootstrap intervals.

    Bootstrap: paths are resampled with replacement (the same resampled rows for every driver
    and index), bins and ranks are held at their full-sample definitions, and the interval is
    the percentile interval recentred on the full-sample estimate (see below). When
    ``n > boot_rows`` each resample has ``m = boot_rows`` rows (an m-out-of-n bootstrap) and the
    spread is rescaled by ``sqrt(m / n)``, the rate at which all three estimators converge; this
    keeps ``n = 1e6`` with hundreds of drivers tractable (1e6 x 50 with 200 replicates: ~35 s on two
    busy cores, ~13 s of it the point estimates, measured before the ranks came from scipy,
    which adds ~0.11 s per driver at 1e6 rows). Intervals are therefore

    ``lo, hi = est + sqrt(m/n) * (q_{(1-ci)/2} - q_{0.5}, q_{(1+ci)/2} - q_{0.5})``

    of the bootstrap replicates, which always contain ``est``. They are least reliable for
    indices near 0, where the sampling distribution is not normal.

    Parameters
    ----------
    X : DataFrame, shape (n, d)
    y : array-like, shape (n,)
    n_boot : int
        Bootstrap replicates (0 for point estimates only).
    seed : int
        Seed for the resampling (replicate ``r`` uses ``default_rng([seed, r])``).
    ci : float
        Interval coverage.
    n_bins, pawn_bins, pawn_stat
        Passed to :func:`first_order` / :func:`pawn`.
    boot_rows : int
        Maximum rows per bootstrap resample (``m``). Checked at n = 20000: the rescaled
        widths from ``m = 5000`` match the full bootstrap's within sampling noise.

    Returns
    -------
    DataFrame, shape (d, 9)
        Indexed by driver; columns ``first_order``, ``first_order_lo``, ``first_order_hi``,
        ``spearman``, ``spearman_lo``, ``spearman_hi``, ``pawn``, ``pawn_lo``, ``pawn_hi``
        (without the ``_lo`` / ``_hi`` columns when ``n_boot == 0``).
    """
    return _given_data(
        X,
        y,
        which=["first_order", "spearman", "pawn"],
        n_bins=n_bins,
        pawn_bins=pawn_bins,
        pawn_stat=pawn_stat,
        n_boot=n_boot,
        seed=seed,
        ci=ci,
        boot_rows=boot_rows,
    )
