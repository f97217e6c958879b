"""Why the downside happens: sensitivity indices over a Monte Carlo sample.

Two families of tools live here.

*Given-data* indices reuse the sample the engine already drew: ``X`` is a
:class:`pandas.DataFrame` of driver draws (one column per driver, ``n`` rows) and ``y`` the
outcome on the same ``n`` paths. They need no extra model runs and they see the sample as it is,
*correlated drivers included*: a driver that is correlated with an influential one gets credit
for the variance the two share.

* :func:`first_order` -- variance-based first-order index ``Var(E[y|x_i]) / Var(y)`` estimated by
  conditional means over equal-count bins of ``x_i``, with the ANOVA (epsilon-squared) finite-bin
  bias correction.
* :func:`spearman` -- rank correlation of each driver with ``y``.
* :func:`pawn` -- the PAWN moment-independent index (Pianosi & Wagener 2015, 2018, given-data
  version): Kolmogorov-Smirnov distance between the unconditional CDF of ``y`` and its CDF
  within each slice of ``x_i``, summarised over slices by the median (or max).
* :func:`given_data_indices` -- all three with bootstrap intervals, in one table.

*Saltelli / Sobol* indices go back through a model function on an independent quasi-random
design: :func:`saltelli_design`, :func:`stack_design`, :func:`unstack_outputs`,
:func:`sobol_indices` and the one-call :func:`sobol`.

Finally two views aimed at the tail rather than the variance: :func:`tail_sensitivity`
(which drivers look different on the worst paths) and :func:`tornado` (what the outcome looks
like when one driver sits near its 10th or 90th percentile, conditioning on the sample).

All functions are pure: they take arrays / frames and return new pandas objects.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "first_order",
    "spearman",
    "pawn",
    "given_data_indices",
    "saltelli_design",
    "stack_design",
    "unstack_outputs",
    "sobol_indices",
    "sobol",
    "tail_sensitivity",
    "tornado",
]

#: Rows per driver-chunk: bounds memory at ``chunk * n`` small integers.
_DRIVER_CHUNK = 16
#: Resolution (bits) of the scrambled Sobol points; used to move them into the open interval.
_SOBOL_BITS = 30


# --------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------


def _validate(
    X: pd.DataFrame | np.ndarray, y
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Check and convert inputs.

    Parameters
    ----------
    X : DataFrame, shape (n, d), or ndarray, shape (n, d)
        Driver draws. Numeric and bool columns are used as numbers; ``category`` and ``object``
        columns are coded with :func:`pandas.factorize` (ordered categoricals keep their order).
    y : array-like, shape (n,)
        Outcome.

    Returns
    -------
    names : list of str, length d
    Xt : ndarray, shape (d, n), float64
        Drivers as rows (contiguous per driver).
    unordered : ndarray, shape (d,), bool
        True for unordered categorical drivers (rank-based summaries are undefined for them).
    y : ndarray, shape (n,), float64
    """
    if isinstance(X, np.ndarray):
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n, d); got an array with shape {X.shape}")
        X = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    if not isinstance(X, pd.DataFrame):
        raise ValueError(f"X must be a pandas DataFrame or 2-D array; got {type(X).__name__}")
    y = np.asarray(y.to_numpy() if isinstance(y, pd.Series) else y, dtype=float)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D; got shape {y.shape}")
    n = len(X)
    if len(y) != n:
        raise ValueError(f"length mismatch: X has {n} rows but y has {len(y)} values")
    if n < 4:
        raise ValueError(f"need at least 4 rows; got {n}")
    if X.shape[1] == 0:
        raise ValueError("X has no columns (no drivers)")
    n_bad = int(np.count_nonzero(~np.isfinite(y)))
    if n_bad:
        raise ValueError(f"y contains {n_bad} NaN/inf values; drop or impute those paths first")
    if np.all(y == y[0]):
        raise ValueError("y is constant; sensitivity indices are undefined")

    names = [str(c) for c in X.columns]
    Xt = np.empty((X.shape[1], n), dtype=float)
    unordered = np.zeros(X.shape[1], dtype=bool)
    for j, col in enumerate(X.columns):
        s = X[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy()
            if np.any(codes < 0):
                raise ValueError(f"driver {col!r} contains missing values")
            Xt[j] = codes
            unordered[j] = not s.cat.ordered
        elif pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
            Xt[j] = s.to_numpy(dtype=float)
        else:
            codes, _ = pd.factorize(s, sort=True)
            if np.any(codes < 0):
                raise ValueError(f"driver {col!r} contains missing values")
            Xt[j] = codes
            unordered[j] = True
        n_bad = int(np.count_nonzero(~np.isfinite(Xt[j])))
        if n_bad:
            raise ValueError(f"driver {col!r} contains {n_bad} NaN/inf values")
    return names, Xt, unordered, y


def _standardise(y: np.ndarray) -> np.ndarray:
    """Centre and scale ``y`` (shape (n,)) so power sums do not cancel catastrophically."""
    sd = y.std()
    return (y - y.mean()) / sd


def _quantile_cuts(x: np.ndarray, k: int) -> np.ndarray:
    """Distinct interior cut points giving ``k`` equal-count slices of ``x`` (shape (n,))."""
    s = np.sort(x)
    pos = (np.arange(1, k) * len(s)) // k
    return np.unique(s[pos])


def _digitize(x: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Bin index ``#{c in cuts : c <= x}`` for each value, as int16; shape (n,).

    For a handful of cuts a chunked compare-and-add is about twice as fast as a binary search.
    """
    if len(cuts) > 64:
        return np.searchsorted(cuts, x, side="right").astype(np.int16)
    out = np.empty(len(x), dtype=np.int16)
    step = 1 << 16
    for a in range(0, len(x), step):
        xc = x[a : a + step]
        acc = np.zeros(len(xc), dtype=np.int16)
        for c in cuts:
            acc += xc >= c
        out[a : a + step] = acc
    return out


def _bins(x: np.ndarray, k: int) -> tuple[np.ndarray, int]:
    """Equal-count bins of one driver.

    Bins are defined by value (cut points at the ``j/k`` sample quantiles), so tied values always
    share a bin; a driver with at most ``k`` distinct values therefore gets one bin per value.

    Returns
    -------
    bins : ndarray, shape (n,), int16, values in ``[0, n_cells)``
    n_cells : int
    """
    cuts = _quantile_cuts(x, k)
    return _digitize(x, cuts), len(cuts) + 1


def _default_bins(n: int) -> int:
    """Default number of conditioning bins for :func:`first_order`: ``sqrt(n)`` in [2, 50]."""
    return int(min(50, max(2, np.sqrt(n))))


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks scaled to (0, 1): ``(rank - 0.5) / n`` with ties sharing their mean rank."""
    n = len(x)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    new_group = np.empty(n, dtype=bool)
    new_group[0] = True
    np.not_equal(xs[1:], xs[:-1], out=new_group[1:])
    starts = np.flatnonzero(new_group)
    ends = np.append(starts[1:], n)
    mean_rank = (starts + ends - 1) / 2.0  # 0-based mean position of each tie group
    ranks = np.empty(n, dtype=float)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return (ranks + 0.5) / n


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


def _interval(est: np.ndarray, reps: np.ndarray, ci: float, scale: float) -> tuple:
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


def _check_ci(ci: float, n_boot: int) -> None:
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be in (0, 1); got {ci}")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0; got {n_boot}")


def _bins_from_sorted(xs: np.ndarray, k: int) -> tuple[np.ndarray, int]:
    """Like :func:`_bins` but for already-sorted values; returns bins in sorted order."""
    cuts = np.unique(xs[(np.arange(1, k) * len(xs)) // k])
    return np.searchsorted(cuts, xs, side="right").astype(np.int16), len(cuts) + 1


def _prepare_driver(
    x: np.ndarray, n_bins: int | None, pawn_bins: int | None, need_ranks: bool
) -> tuple[np.ndarray | None, int, np.ndarray | None, int, np.ndarray | None]:
    """Per-driver bins (first order, PAWN slices) and average ranks.

    With ranks requested one argsort serves all three; otherwise a sort (for the cut points)
    plus a compare pass is cheaper.

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
    if need_ranks:
        n = len(x)
        order = np.argsort(x)
        xs = x[order]
        new_group = np.empty(n, dtype=bool)
        new_group[0] = True
        np.not_equal(xs[1:], xs[:-1], out=new_group[1:])
        starts = np.flatnonzero(new_group)
        ends = np.append(starts[1:], n)
        mid = (starts + ends - 1) / 2.0 + 0.5  # tie groups share their mean rank
        ranks = np.empty(n, dtype=np.float32)
        ranks[order] = np.repeat(mid / n, ends - starts)
        if n_bins is not None:
            bs, k_f = _bins_from_sorted(xs, n_bins)
            bins_f = np.empty(n, dtype=np.int16)
            bins_f[order] = bs
        if pawn_bins is not None:
            bs, k_p = _bins_from_sorted(xs, pawn_bins)
            bins_p = np.empty(n, dtype=np.int16)
            bins_p[order] = bs
    else:
        if n_bins is not None:
            bins_f, k_f = _bins(x, n_bins)
        if pawn_bins is not None:
            bins_p, k_p = _bins(x, pawn_bins)
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
    prepared = [
        _prepare_driver(x, n_bins if do_fo else None, pawn_bins if do_pawn else None, do_rho)
        for x in Xt
    ]
    out: dict[str, np.ndarray] = {}
    y2 = y * y
    if do_pawn:
        ycuts = _quantile_cuts(y, y_cells)
        g = len(ycuts) + 1
        ycode = _digitize(y, ycuts).astype(np.int32)
    if do_rho:
        ranks_y = _average_ranks(y).astype(np.float32)
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
    names, Xt, unordered, yv = _validate(X, y)
    _check_ci(ci, n_boot)
    n = len(yv)
    if n_bins is None:
        n_bins = _default_bins(n)
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
            cols[k + "_lo"], cols[k + "_hi"] = _interval(est, boot, ci, scale)
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
    busy cores, ~13 s of it the point estimates). Intervals are therefore

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


# --------------------------------------------------------------------------------------------
# Saltelli / Sobol through a model
# --------------------------------------------------------------------------------------------


def saltelli_design(
    n: int, d: int, seed: int = 0, skip: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Saltelli (2010) radial design on the unit hypercube.

    A scrambled, seeded Sobol sequence of dimension ``2 d`` gives ``n`` base points; ``A`` is its
    first ``d`` columns, ``B`` the last ``d``, and ``AB[i]`` is ``A`` with column ``i`` taken from
    ``B``. Points are shifted to the centre of their ``2**-30`` dyadic cell so every coordinate
    lies strictly inside (0, 1) (safe to feed to quantile functions).

    Parameters
    ----------
    n : int
        Base sample size; must be a power of two (Sobol balance properties).
    d : int
        Number of drivers.
    seed : int
        Scrambling seed.
    skip : int
        Points of the sequence to skip (``fast_forward``); scrambling makes skipping
        unnecessary, but it is available to draw disjoint designs from one seed.

    Returns
    -------
    A, B : ndarray, shape (n, d)
    AB : ndarray, shape (d, n, d)
    """
    from scipy.stats import qmc

    if not isinstance(n, int | np.integer) or n < 2 or (n & (n - 1)) != 0:
        raise ValueError(f"n must be a power of two >= 2 (Sobol design); got n={n}")
    if d < 1:
        raise ValueError(f"d must be >= 1; got d={d}")
    if skip < 0:
        raise ValueError(f"skip must be >= 0; got skip={skip}")
    sampler = qmc.Sobol(d=2 * d, scramble=True, seed=seed, bits=_SOBOL_BITS)
    if skip:
        sampler.fast_forward(skip)
    base = sampler.random(int(n)) + 2.0 ** -(_SOBOL_BITS + 1)
    A = np.ascontiguousarray(base[:, :d])
    B = np.ascontiguousarray(base[:, d:])
    AB = np.repeat(A[None, :, :], d, axis=0)
    idx = np.arange(d)
    AB[idx, :, idx] = B.T
    return A, B, AB


def stack_design(A: np.ndarray, B: np.ndarray, AB: np.ndarray) -> np.ndarray:
    """Stack a Saltelli design into one matrix for a single model call.

    Parameters
    ----------
    A, B : ndarray, shape (n, d)
    AB : ndarray, shape (d, n, d)

    Returns
    -------
    ndarray, shape (n * (d + 2), d)
        Rows ``[A; B; AB[0]; ...; AB[d-1]]``.
    """
    n, d = A.shape
    if B.shape != (n, d) or AB.shape != (d, n, d):
        raise ValueError(
            f"inconsistent design shapes: A {A.shape}, B {B.shape}, AB {AB.shape}; "
            f"expected B ({n}, {d}) and AB ({d}, {n}, {d})"
        )
    return np.concatenate([A, B, AB.reshape(d * n, d)], axis=0)


def unstack_outputs(y, n: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split model outputs on a stacked design back into ``(yA, yB, yAB)``.

    Parameters
    ----------
    y : array-like, shape (n * (d + 2),)
    n, d : int

    Returns
    -------
    yA, yB : ndarray, shape (n,)
    yAB : ndarray, shape (d, n)
    """
    y = np.asarray(y, dtype=float)
    if y.shape != (n * (d + 2),):
        raise ValueError(
            f"expected {n * (d + 2)} outputs (n={n} x (d+2)={d + 2}); got shape {y.shape}"
        )
    return y[:n], y[n : 2 * n], y[2 * n :].reshape(d, n)


def _sobol_estimates(
    yA: np.ndarray, yB: np.ndarray, yAB: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Saltelli (2010) S1 and Jansen (1999) ST; inputs (..., n), (..., n), (..., d, n).

    All outputs are first centred on the pooled mean of ``yA`` and ``yB`` (Sobol & Levitan
    1999; as SALib and ``scipy.stats.sobol_indices`` do). Uncentred, ``mean(yB * (yAB - yA))``
    picks up ``mean(y) * mean(yAB - yA)``, zero in expectation but with noise proportional to
    ``mean(y)``: adding 1e4 to the Ishigami function moved S1 of x3 by 0.09 at n = 2**14. Each
    bootstrap replicate is centred on its own pooled mean, so every index is invariant to
    adding a constant to ``y``.
    """
    f0 = 0.5 * (yA.mean(axis=-1) + yB.mean(axis=-1))[..., None]
    yA = yA - f0
    yB = yB - f0
    yAB = yAB - f0[..., None]
    var = np.concatenate([yA, yB], axis=-1).var(axis=-1)[..., None]
    s1 = np.mean(yB[..., None, :] * (yAB - yA[..., None, :]), axis=-1) / var
    st = 0.5 * np.mean((yA[..., None, :] - yAB) ** 2, axis=-1) / var
    return s1, st


def sobol_indices(
    yA, yB, yAB, n_boot: int = 200, seed: int = 0, ci: float = 0.9, names=None
) -> pd.DataFrame:
    """First-order and total Sobol indices from Saltelli-design outputs.

    ``S1_i = mean(yB * (yAB_i - yA)) / V`` (Saltelli et al. 2010, eq. (b) of table 2) and
    ``ST_i = mean((yA - yAB_i)**2) / (2 V)`` (Jansen 1999), with ``V`` the variance of the pooled
    ``yA``, ``yB``. Intervals come from resampling the ``n`` base rows (jointly for ``yA``,
    ``yB`` and every ``yAB_i``), recentred on the estimate as in :func:`given_data_indices`.
    The bootstrap treats the scrambled Sobol points as iid, so intervals are conservative.
    Outputs are centred on the pooled mean of ``yA`` and ``yB`` first, so the indices do not
    change when a constant is added to ``y``.

    The point estimates equal ``scipy.stats.sobol_indices`` given the same outputs (tested);
    we keep this estimator for its vectorised bootstrap (scipy's ``bootstrap()`` runs a BCa
    interval about 30x slower at n = 2**12, d = 3) and the interval shared with the given-data
    indices.

    Parameters
    ----------
    yA, yB : array-like, shape (n,)
    yAB : array-like, shape (d, n)
    n_boot : int
    seed : int
    ci : float
    names : sequence of str, optional
        Driver names, length d; default ``0..d-1``.

    Returns
    -------
    DataFrame, shape (d, 6)
        Columns ``S1``, ``S1_lo``, ``S1_hi``, ``ST``, ``ST_lo``, ``ST_hi``.
    """
    yA = np.asarray(yA, dtype=float)
    yB = np.asarray(yB, dtype=float)
    yAB = np.asarray(yAB, dtype=float)
    _check_ci(ci, n_boot)
    if yA.ndim != 1 or yB.shape != yA.shape or yAB.ndim != 2 or yAB.shape[1] != len(yA):
        raise ValueError(
            f"shapes must be yA (n,), yB (n,), yAB (d, n); got {yA.shape}, {yB.shape}, {yAB.shape}"
        )
    for label, arr in (("yA", yA), ("yB", yB), ("yAB", yAB)):
        n_bad = int(np.count_nonzero(~np.isfinite(arr)))
        if n_bad:
            raise ValueError(f"{label} contains {n_bad} NaN/inf model outputs")
    d, n = yAB.shape
    index = pd.Index(list(range(d)) if names is None else list(names), name="driver")
    if len(index) != d:
        raise ValueError(f"got {len(index)} names for {d} drivers")
    s1, st = _sobol_estimates(yA, yB, yAB)
    cols = {"S1": s1, "ST": st}
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        b1 = np.empty((n_boot, d))
        bt = np.empty((n_boot, d))
        per = max(1, int(2e7 // max(1, n * (d + 2))))  # replicates per vectorised batch
        for a in range(0, n_boot, per):
            k = min(per, n_boot - a)
            idx = rng.integers(0, n, (k, n))
            b1[a : a + k], bt[a : a + k] = _sobol_estimates(
                yA[idx], yB[idx], np.moveaxis(yAB[:, idx], 0, 1)
            )
        cols["S1_lo"], cols["S1_hi"] = _interval(s1, b1, ci, 1.0)
        cols["ST_lo"], cols["ST_hi"] = _interval(st, bt, ci, 1.0)
    order = [c for c in ("S1", "S1_lo", "S1_hi", "ST", "ST_lo", "ST_hi") if c in cols]
    return pd.DataFrame({c: cols[c] for c in order}, index=index)


def sobol(
    model: Callable[[np.ndarray], np.ndarray],
    names: Sequence[str],
    n: int,
    seed: int = 0,
    n_boot: int = 200,
    ci: float = 0.9,
) -> pd.DataFrame:
    """Sobol first-order and total indices of ``model`` on a Saltelli design.

    Builds :func:`saltelli_design` for ``d = len(names)`` drivers, stacks it, calls ``model``
    **once** on the ``(n (d + 2), d)`` matrix of uniforms, and returns :func:`sobol_indices`.

    The design assumes **independent inputs**: ``model`` is expected to map each uniform column
    through that driver's own quantile function, independently of the others, so any
    correlation (copula) between drivers in the engine is ignored and the indices describe the
    model under independence. The given-data indices (:func:`first_order` and friends) instead
    work on the correlated Monte Carlo sample, where a driver's first-order index includes
    variance it merely shares with drivers it is correlated with. When the two disagree, the
    difference is the correlation's doing.

    Parameters
    ----------
    model : callable
        ``u (rows, d) in (0, 1) -> y (rows,)``.
    names : sequence of str, length d
    n : int
        Base sample size, a power of two; the model sees ``n (d + 2)`` rows.
    seed : int
        Scrambling and bootstrap seed.
    n_boot : int
    ci : float

    Returns
    -------
    DataFrame, shape (d, 6)
        Indexed by ``names``; columns ``S1``, ``S1_lo``, ``S1_hi``, ``ST``, ``ST_lo``, ``ST_hi``.
    """
    names = list(names)
    d = len(names)
    A, B, AB = saltelli_design(n, d, seed=seed)
    u = stack_design(A, B, AB)
    y = np.asarray(model(u), dtype=float)
    if y.shape != (len(u),):
        raise ValueError(f"model returned shape {y.shape}; expected ({len(u)},) for {len(u)} rows")
    yA, yB, yAB = unstack_outputs(y, n, d)
    return sobol_indices(yA, yB, yAB, n_boot=n_boot, seed=seed, ci=ci, names=names)


# --------------------------------------------------------------------------------------------
# tail views
# --------------------------------------------------------------------------------------------


def _check_side(side: str) -> None:
    if side not in ("low", "high"):
        raise ValueError(f"side must be 'low' (downside = small y) or 'high'; got {side!r}")


def _ks_two_sample(x: np.ndarray, in_tail: np.ndarray) -> float:
    """Two-sample KS distance between ``x[in_tail]`` and ``x[~in_tail]``; inputs shape (n,)."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    t = np.cumsum(in_tail[order])
    i = np.arange(1, len(x) + 1)
    n_t = t[-1]
    n_r = len(x) - n_t
    last_of_tie = np.append(xs[1:] != xs[:-1], True)  # evaluate CDFs after each distinct value
    diff = t[last_of_tie] / n_t - (i[last_of_tie] - t[last_of_tie]) / n_r
    return float(np.abs(diff).max())


def _tail_mask(y: np.ndarray, frac: float, side: str) -> np.ndarray:
    """Boolean mask of the worst ``ceil(frac * n)`` paths (lowest for side='low'); shape (n,)."""
    k = int(np.ceil(frac * len(y)))
    k = min(max(k, 1), len(y) - 1)
    key = y if side == "low" else -y
    mask = np.zeros(len(y), dtype=bool)
    mask[np.argpartition(key, k - 1)[:k]] = True
    return mask


def tail_sensitivity(X, y, tail: float = 0.05, side: str = "low") -> pd.DataFrame:
    """Which drivers look different on the worst paths (regional sensitivity analysis).

    Splits the paths into the worst ``tail`` fraction of ``y`` (exactly ``ceil(tail * n)``
    paths; the lowest for ``side="low"``, the highest for ``"high"``) and the rest, and compares
    each driver's distribution in the two groups with the two-sample Kolmogorov-Smirnov
    distance. Large ``ks`` means the driver's value largely decides whether a path ends in the
    tail. The p-value is the asymptotic one (as ``scipy.stats.ks_2samp(method="asymp")``);
    with large samples nearly everything is "significant", so rank by ``ks``.

    Unordered categorical drivers get NaN ``ks`` / ``p_value`` (a CDF needs an order); their
    medians are of the category codes.

    Parameters
    ----------
    X : DataFrame, shape (n, d)
    y : array-like, shape (n,)
    tail : float
        Fraction of paths in the tail, in (0, 1).
    side : {"low", "high"}

    Returns
    -------
    DataFrame, shape (d, 4)
        Indexed by driver, sorted by ``ks`` descending; columns ``ks``, ``p_value``,
        ``median_tail``, ``median_rest``.
    """
    from scipy.stats import kstwo

    names, Xt, unordered, yv = _validate(X, y)
    _check_side(side)
    if not 0.0 < tail < 1.0:
        raise ValueError(f"tail must be in (0, 1); got {tail}")
    mask = _tail_mask(yv, tail, side)
    n_t = int(mask.sum())
    n_r = len(yv) - n_t
    en = n_t * n_r / (n_t + n_r)
    rows = []
    for j in range(len(names)):
        x = Xt[j]
        if unordered[j]:
            ks = p = np.nan
        else:
            ks = _ks_two_sample(x, mask)
            p = float(np.clip(kstwo.sf(ks, np.round(en)), 0.0, 1.0))
        rows.append((ks, p, float(np.median(x[mask])), float(np.median(x[~mask]))))
    df = pd.DataFrame(
        rows,
        index=pd.Index(names, name="driver"),
        columns=["ks", "p_value", "median_tail", "median_rest"],
    )
    return df.sort_values("ks", ascending=False, na_position="last", kind="stable")


def _expected_shortfall(v: np.ndarray, alpha: float, side: str) -> float:
    """Mean of the worst ``ceil(alpha * len(v))`` values of ``v`` (lowest for side='low')."""
    if len(v) == 0:
        return np.nan
    k = min(max(int(np.ceil(alpha * len(v))), 1), len(v))
    w = v if side == "low" else -v
    part = np.partition(w, k - 1)[:k]
    es = part.mean()
    return float(es if side == "low" else -es)


def tornado(
    X,
    y,
    low_q: float = 0.1,
    high_q: float = 0.9,
    width: float = 0.05,
    es_alpha: float = 0.05,
    side: str = "low",
) -> pd.DataFrame:
    """Tornado table by conditioning on the sample (no extra model runs).

    For each driver, the paths whose driver value lies within ``+/- width`` (in quantile space)
    of its ``low_q`` quantile form the "low" window, and likewise around ``high_q``. Reported per
    window: the median outcome and the expected shortfall (mean of the worst ``es_alpha``
    fraction of the outcome within the window; worst = lowest for ``side="low"``). ``swing`` is
    ``|median_high - median_low|``. Because other drivers keep their sampled values, a swing
    includes effects of drivers correlated with this one.

    The overall median and expected shortfall of ``y`` are stored in ``df.attrs["median"]`` and
    ``df.attrs["es"]`` (used as the baseline by :func:`reports.figures_sensitivity.plot_tornado`).
    Unordered categorical drivers get NaN rows (no quantiles) and sort last.

    Parameters
    ----------
    X : DataFrame, shape (n, d)
    y : array-like, shape (n,)
    low_q, high_q : float
        Window centres in quantile space, ``0 <= low_q < high_q <= 1``.
    width : float
        Half-width of each window in quantile space.
    es_alpha : float
        Tail fraction for the expected shortfall.
    side : {"low", "high"}

    Returns
    -------
    DataFrame, shape (d, 5)
        Indexed by driver, sorted by ``swing`` descending; columns ``median_low``,
        ``median_high``, ``swing``, ``es_low``, ``es_high``.
    """
    names, Xt, unordered, yv = _validate(X, y)
    _check_side(side)
    if not (0.0 <= low_q < high_q <= 1.0):
        raise ValueError(f"need 0 <= low_q < high_q <= 1; got low_q={low_q}, high_q={high_q}")
    if not 0.0 < width < 0.5:
        raise ValueError(f"width must be in (0, 0.5); got {width}")
    if not 0.0 < es_alpha <= 1.0:
        raise ValueError(f"es_alpha must be in (0, 1]; got {es_alpha}")
    qs = np.clip([low_q - width, low_q + width, high_q - width, high_q + width], 0.0, 1.0)
    rows = []
    for j in range(len(names)):
        if unordered[j]:
            rows.append((np.nan,) * 5)
            continue
        x = Xt[j]
        a, b, c, e = np.quantile(x, qs)
        lo = yv[(x >= a) & (x <= b)]
        hi = yv[(x >= c) & (x <= e)]
        m_lo, m_hi = float(np.median(lo)), float(np.median(hi))
        rows.append(
            (
                m_lo,
                m_hi,
                abs(m_hi - m_lo),
                _expected_shortfall(lo, es_alpha, side),
                _expected_shortfall(hi, es_alpha, side),
            )
        )
    df = pd.DataFrame(
        rows,
        index=pd.Index(names, name="driver"),
        columns=["median_low", "median_high", "swing", "es_low", "es_high"],
    )
    df = df.sort_values("swing", ascending=False, na_position="last", kind="stable")
    df.attrs["median"] = float(np.median(yv))
    df.attrs["es"] = _expected_shortfall(yv, es_alpha, side)
    return df
