"""A sample of driver draws and an outcome: one set of checks, bins and ranks for every tool.

Shared by the sensitivity indices (:mod:`reports.given_data`, :mod:`reports.tail_views`) and
scenario discovery (:mod:`reports.prim_peel`):

* :func:`driver_frame`, :func:`check_length`, :func:`category_codes`, :func:`numeric_values` --
  input checks whose errors name the field and the bad value, raised before any compute;
* :func:`validate_sample` -- the sensitivity tools' whole check: drivers as float rows, a finite,
  non-constant outcome;
* :func:`equal_count_bins` -- equal-count bins of a driver, cut at its sample quantiles;
* :func:`unit_ranks` -- average ranks scaled to (0, 1) (``scipy.stats.rankdata``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

__all__ = [
    "category_codes",
    "check_length",
    "default_bins",
    "digitize",
    "driver_frame",
    "equal_count_bins",
    "numeric_values",
    "quantile_cuts",
    "unit_ranks",
    "validate_sample",
]


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


def driver_frame(X) -> pd.DataFrame:
    """Driver draws as a DataFrame, shape (n, d); a 2-D array gets columns ``x0 .. x{d-1}``."""
    if isinstance(X, np.ndarray):
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n, d); got an array with shape {X.shape}")
        X = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    if not isinstance(X, pd.DataFrame):
        raise ValueError(f"X must be a pandas DataFrame or 2-D array; got {type(X).__name__}")
    if X.shape[1] == 0:
        raise ValueError("X has no columns (no drivers)")
    return X


def check_length(X: pd.DataFrame, y: np.ndarray, label: str) -> None:
    """``y`` (named ``label`` in errors) must be 1-D with one value per row of ``X``."""
    if y.ndim != 1:
        raise ValueError(f"{label} must be 1-D; got shape {y.shape}")
    if len(y) != len(X):
        raise ValueError(f"length mismatch: X has {len(X)} rows but {label} has {len(y)} values")


def category_codes(s: pd.Series, col) -> tuple[np.ndarray, list, bool]:
    """Integer codes of a categorical driver (any dtype), shape (n,).

    ``category`` columns keep their categories' order; anything else is coded by its sorted
    distinct values (:func:`pandas.factorize`).

    Returns
    -------
    codes : ndarray, shape (n,), int64, values in ``[0, len(labels))``
    labels : list
        Category label of each code.
    ordered : bool
        True only for an ordered ``category`` column.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy().astype(np.int64)
        labels, ordered = list(s.cat.categories), bool(s.cat.ordered)
    else:
        codes, uniq = pd.factorize(s, sort=True)
        codes = codes.astype(np.int64)
        labels, ordered = list(uniq), False
    if np.any(codes < 0):
        raise ValueError(f"driver {col!r} contains missing values")
    return codes, labels, ordered


def numeric_values(s: pd.Series, col) -> np.ndarray:
    """A numeric or bool driver as float64, shape (n,); NaN/inf are an error naming ``col``."""
    v = s.to_numpy(dtype=float)
    n_bad = int(np.count_nonzero(~np.isfinite(v)))
    if n_bad:
        raise ValueError(f"driver {col!r} contains {n_bad} NaN/inf values")
    return v


def validate_sample(X, y) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Check and convert the inputs of a sensitivity index.

    Parameters
    ----------
    X : DataFrame, shape (n, d), or ndarray, shape (n, d)
        Driver draws. Numeric and bool columns are used as numbers; ``category`` and ``object``
        columns are coded with :func:`category_codes` (ordered categoricals keep their order).
    y : array-like, shape (n,)
        Outcome; finite and not constant, at least 4 values.

    Returns
    -------
    names : list of str, length d
    Xt : ndarray, shape (d, n), float64
        Drivers as rows (contiguous per driver).
    unordered : ndarray, shape (d,), bool
        True for unordered categorical drivers (rank-based summaries are undefined for them).
    y : ndarray, shape (n,), float64
    """
    X = driver_frame(X)
    y = np.asarray(y.to_numpy() if isinstance(y, pd.Series) else y, dtype=float)
    check_length(X, y, "y")
    n = len(X)
    if n < 4:
        raise ValueError(f"need at least 4 rows; got {n}")
    n_bad = int(np.count_nonzero(~np.isfinite(y)))
    if n_bad:
        raise ValueError(f"y contains {n_bad} NaN/inf values; drop or impute those paths first")
    if np.all(y == y[0]):
        raise ValueError("y is constant; sensitivity indices are undefined")

    Xt = np.empty((X.shape[1], n), dtype=float)
    unordered = np.zeros(X.shape[1], dtype=bool)
    for j, col in enumerate(X.columns):
        s = X[col]
        numeric = pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype)
        if isinstance(s.dtype, pd.CategoricalDtype) or not numeric:
            codes, _, ordered = category_codes(s, col)
            Xt[j] = codes
            unordered[j] = not ordered
        else:
            Xt[j] = numeric_values(s, col)
    return [str(c) for c in X.columns], Xt, unordered, y


# --------------------------------------------------------------------------------------------
# bins and ranks
# --------------------------------------------------------------------------------------------


def quantile_cuts(x: np.ndarray, k: int, xs: np.ndarray | None = None) -> np.ndarray:
    """Distinct interior cut points giving ``k`` equal-count slices of ``x`` (shape (n,)).

    ``xs``: ``np.sort(x)`` when the caller already has it.
    """
    s = np.sort(x) if xs is None else xs
    pos = (np.arange(1, k) * len(s)) // k
    return np.unique(s[pos])


def digitize(x: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Bin index ``#{c in cuts : c <= x}`` for each value; shape (n,).

    int16 (small for the bootstrap's gathers), int32 from 32,767 cuts on (an exact PAWN grid of
    a large sample). For a handful of cuts a chunked compare-and-add is about twice as fast as a
    binary search.
    """
    if len(cuts) > 64:
        dtype = np.int16 if len(cuts) <= np.iinfo(np.int16).max else np.int32
        return np.searchsorted(cuts, x, side="right").astype(dtype)
    out = np.empty(len(x), dtype=np.int16)
    step = 1 << 16
    for a in range(0, len(x), step):
        xc = x[a : a + step]
        acc = np.zeros(len(xc), dtype=np.int16)
        for c in cuts:
            acc += xc >= c
        out[a : a + step] = acc
    return out


def equal_count_bins(x: np.ndarray, k: int, xs: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Equal-count bins of one driver ``x`` (shape (n,)).

    Bins are defined by value (cut points at the ``j/k`` sample quantiles), so tied values always
    share a bin; a driver with at most ``k`` distinct values therefore gets one bin per value.
    ``xs``: ``np.sort(x)`` when the caller already has it (saves the sort).

    Returns
    -------
    bins : ndarray, shape (n,), int16, values in ``[0, n_cells)``
    n_cells : int
    """
    cuts = quantile_cuts(x, k, xs)
    return digitize(x, cuts), len(cuts) + 1


def default_bins(n: int) -> int:
    """Default number of conditioning bins for ``n`` paths: ``sqrt(n)`` clipped to [2, 50]."""
    return int(min(50, max(2, np.sqrt(n))))


def unit_ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks scaled to (0, 1): ``(rank - 0.5) / n``, ties sharing their mean rank.

    ``x``: shape (n,); returns float64, shape (n,).
    """
    return (rankdata(x) - 0.5) / len(x)
