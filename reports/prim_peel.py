"""PRIM's boxes and the two moves on them: peeling and pasting (Friedman & Fisher 1999).

Used by :func:`reports.discovery.prim`, which chooses a box on the peeling trajectory and
describes it. Here:

* :func:`prepare` -- the drivers and the cases of interest in array form (checks shared with the
  sensitivity indices, :mod:`reports.driver_sample`);
* :class:`Box` -- inclusive numeric bounds and allowed categories, with the paths that break each
  restriction;
* :func:`peel` -- the peeling trajectory, by density gain per point removed (the EMA Workbench's
  ``LENIENT1``; Kwakkel 2017);
* :func:`paste` -- relax a box's bounds while its density does not fall.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports.driver_sample import category_codes, check_length, driver_frame, numeric_values

__all__ = ["Box", "PrimData", "full_box", "paste", "peel", "prepare"]


# --------------------------------------------------------------------------------------------
# data preparation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrimData:
    """Validated inputs in array form.

    Attributes
    ----------
    names : list of str
        All driver names in column order.
    num_idx, cat_idx : list of int
        Column positions of numeric and categorical drivers.
    xn : ndarray, shape (p, n), float64
        Numeric drivers as rows.
    codes : ndarray, shape (q, n), int64
        Category codes of the categorical drivers.
    labels : list of list
        Category labels per categorical driver, indexed by code.
    y : ndarray, shape (n,), bool
    """

    names: list[str]
    num_idx: list[int]
    cat_idx: list[int]
    xn: np.ndarray
    codes: np.ndarray
    labels: list[list]
    y: np.ndarray


def _two_valued(s: pd.Series) -> bool:
    """True for a numeric column (shape (n,)) with exactly two distinct finite values (a switch)."""
    v = s.to_numpy()
    if v.dtype.kind not in "iuf":  # nullable extension types: NA -> NaN
        v = s.to_numpy(dtype=float, na_value=np.nan)
    if len(v) == 0:
        return False
    lo, hi = v.min(), v.max()
    if not lo != hi:
        return False
    head = v[:4096]  # a continuous driver fails here without a full pass
    return bool(np.all((head == lo) | (head == hi)) and np.all((v == lo) | (v == hi)))


def prepare(X, y_bool, categorical) -> PrimData:
    """Check ``X`` (DataFrame or 2-D array, shape (n, d)) and ``y_bool`` (shape (n,)).

    ``category``, ``object``, string and ``bool`` columns, numeric columns with exactly two
    distinct values and those named in ``categorical`` are categorical; the rest numeric.
    """
    X = driver_frame(X)
    if isinstance(y_bool, pd.Series) and isinstance(y_bool.dtype, pd.BooleanDtype):
        if y_bool.isna().any():
            raise ValueError("y_bool contains missing values")
        y_arr = y_bool.to_numpy(dtype=bool)
    else:
        y_arr = np.asarray(y_bool.to_numpy() if isinstance(y_bool, pd.Series) else y_bool)
    if y_arr.dtype != bool:
        raise ValueError(
            f"y_bool must be a boolean array (cases of interest); got dtype {y_arr.dtype}. "
            "Build one with e.g. y < threshold."
        )
    check_length(X, y_arr, "y_bool")
    n = len(X)
    n_pos = int(y_arr.sum())
    if n_pos == 0:
        raise ValueError("no cases of interest: y_bool is all False")
    if n_pos == n:
        raise ValueError("every path is a case of interest: y_bool is all True")
    categorical = set(categorical or ())
    missing = categorical - set(X.columns)
    if missing:
        raise ValueError(f"categorical names not in X: {sorted(map(str, missing))}")

    num_idx, cat_idx, xn, codes, labels = [], [], [], [], []
    for j, col in enumerate(X.columns):
        s = X[col]
        is_cat = (
            col in categorical
            or isinstance(s.dtype, pd.CategoricalDtype)
            or pd.api.types.is_bool_dtype(s.dtype)
            or not pd.api.types.is_numeric_dtype(s.dtype)
            or _two_valued(s)
        )
        if is_cat:
            c, lab, _ = category_codes(s, col)
            cat_idx.append(j)
            codes.append(c)
            labels.append(lab)
        else:
            num_idx.append(j)
            xn.append(numeric_values(s, col))
    return PrimData(
        names=[str(c) for c in X.columns],
        num_idx=num_idx,
        cat_idx=cat_idx,
        xn=np.array(xn, dtype=float).reshape(len(num_idx), n),
        codes=np.array(codes, dtype=np.int64).reshape(len(cat_idx), n),
        labels=labels,
        y=y_arr.astype(bool),
    )


# --------------------------------------------------------------------------------------------
# boxes
# --------------------------------------------------------------------------------------------


@dataclass
class Box:
    """A box: inclusive numeric bounds and allowed categories.

    Attributes
    ----------
    lower, upper : ndarray, shape (p,)
        ``-inf`` / ``inf`` where unrestricted; otherwise the extreme data value kept.
    allowed : list of frozenset
        Allowed category codes per categorical driver.
    """

    lower: np.ndarray
    upper: np.ndarray
    allowed: list[frozenset]

    def copy(self) -> Box:
        return Box(self.lower.copy(), self.upper.copy(), list(self.allowed))

    def restricted(self, data: PrimData) -> list[tuple[str, int]]:
        """Restricted drivers as ``("num"|"cat", local index)`` in original column order."""
        out = []
        for j in range(len(data.num_idx)):
            if np.isfinite(self.lower[j]) or np.isfinite(self.upper[j]):
                out.append((data.num_idx[j], "num", j))
        for j in range(len(data.cat_idx)):
            if len(self.allowed[j]) < len(data.labels[j]):
                out.append((data.cat_idx[j], "cat", j))
        return [(kind, j) for _, kind, j in sorted(out)]

    def violations(self, data: PrimData) -> tuple[list[tuple[str, int]], np.ndarray]:
        """Per-restriction violation masks.

        Returns
        -------
        restricted : list of (kind, j)
        viol : ndarray, shape (r, n), bool
            ``viol[k, i]``: path ``i`` breaks restriction ``k``.
        """
        res = self.restricted(data)
        viol = np.zeros((len(res), len(data.y)), dtype=bool)
        for k, (kind, j) in enumerate(res):
            if kind == "num":
                x = data.xn[j]
                viol[k] = (x < self.lower[j]) | (x > self.upper[j])
            else:
                viol[k] = ~np.isin(data.codes[j], np.fromiter(self.allowed[j], dtype=np.int64))
        return res, viol


def full_box(data: PrimData) -> Box:
    p = len(data.num_idx)
    return Box(
        lower=np.full(p, -np.inf),
        upper=np.full(p, np.inf),
        allowed=[frozenset(range(len(lab))) for lab in data.labels],
    )


# --------------------------------------------------------------------------------------------
# peeling
# --------------------------------------------------------------------------------------------


def _first_valid(
    inbox: np.ndarray, row_o: np.ndarray, start: int, stop: int, k: int, w: int, up: bool
) -> int:
    """Stored position of the ``k``-th in-box point scanning from ``start`` up (or ``stop`` down).

    Scans windows of ``w`` positions (doubling) so the cost is ``O(k / in-box fraction)``.
    Returns -1 if fewer than ``k`` in-box points exist in ``[start, stop)``.
    """
    while True:
        if up:
            lo, hi = start, min(stop, start + w)
            valid = inbox[row_o[lo:hi]]
        else:
            lo, hi = max(start, stop - w), stop
            valid = inbox[row_o[lo:hi]][::-1]
        cs = np.cumsum(valid)
        if len(cs) and cs[-1] >= k:
            i = int(np.searchsorted(cs, k))
            return lo + i if up else hi - 1 - i
        if hi - lo >= stop - start:
            return -1
        w *= 2


def _gain(N: int, P: int, r: int, r_pos: int) -> float:
    """Density gain per point removed when a peel takes ``r`` of ``N`` points (``r_pos`` of ``P``
    cases): ``((P - r_pos) / (N - r) - P / N) / r``."""
    return ((P - r_pos) / (N - r) - P / N) / r


def peel(
    data: PrimData, alpha: float, min_mass: float
) -> tuple[list[Box], list[tuple[int, int, int]]]:
    """Run the peeling trajectory.

    Each numeric column is argsorted once into ``(p, n_stored)`` arrays of row ids, values and
    labels. For driver ``j`` the points in the box all lie in the stored slice
    ``[lo_ptr[j], hi_ptr[j])``; points peeled by other drivers stay in place and are skipped via
    the in-box mask. A candidate peel only scans from one end of the slice until it has found
    ``alpha`` of the box, so a step costs ``O(p alpha N / f)`` with ``f >= 1/2`` the in-box
    share of the slice; the stored arrays are compressed whenever the box has halved.

    A candidate removing ``r`` of the ``N`` points in the box, ``r_pos`` of its ``P`` cases,
    scores ``(density_new - density_old) / r`` with ``density_new = (P - r_pos) / (N - r)``;
    the highest score wins (ties: the one keeping more points).

    Returns
    -------
    boxes : list of Box
        One per step; step 0 is the full box.
    counts : list of (n_in_box, n_cases_in_box, n_restricted)
    """
    y = data.y
    n = len(y)
    p = len(data.num_idx)
    min_n = max(1, int(np.ceil(min_mass * n)))
    itype = np.int32 if n < 2**31 else np.int64
    order = np.empty((p, n), dtype=itype)
    xs = np.empty((p, n))
    ys = np.empty((p, n), dtype=bool)
    for j in range(p):
        order[j] = np.argsort(data.xn[j])
        xs[j] = np.sort(data.xn[j])  # equals x[order]; the SIMD sort beats a random gather
        ys[j] = y.take(order[j])
    lo_ptr = np.zeros(p, dtype=np.int64)
    hi_ptr = np.full(p, n, dtype=np.int64)
    inbox = np.ones(n, dtype=bool)
    box = full_box(data)
    N, P = n, int(y.sum())
    boxes = [box.copy()]
    counts = [(N, P, 0)]
    ncat = [np.bincount(c, minlength=len(lab)) for c, lab in zip(data.codes, data.labels)]
    pcat = [
        np.bincount(c, weights=y, minlength=len(lab)) for c, lab in zip(data.codes, data.labels)
    ]

    while True:
        k = max(1, int(np.ceil(alpha * N)))
        cands = []  # (gain per point removed, remaining, action)
        for j in range(p):
            a, b = int(lo_ptr[j]), int(hi_ptr[j])
            w = int(np.ceil(1.25 * k * (b - a) / N)) + 32
            # low side: drop every in-box point <= the k-th smallest in-box value (segment a:e);
            # high side: every in-box point >= the k-th largest (segment e:b)
            for up in (True, False):
                pos = _first_valid(inbox, order[j], a, b, k, w, up=up)
                if up:
                    s0, s1 = a, min(int(np.searchsorted(xs[j], xs[j, pos], side="right")), b)
                else:
                    s0, s1 = max(int(np.searchsorted(xs[j], xs[j, pos], side="left")), a), b
                v = inbox[order[j, s0:s1]]
                r = int(v.sum())
                if r < N and N - r >= min_n:
                    removed_pos = int((v & ys[j, s0:s1]).sum())
                    side = "lo" if up else "hi"
                    cands.append((_gain(N, P, r, removed_pos), N - r, (side, j, s0, s1)))
        for j in range(len(data.codes)):
            present = np.flatnonzero(ncat[j] > 0)
            if len(present) < 2:
                continue
            for g in present:
                r = int(ncat[j][g])
                if N - r >= min_n:
                    cands.append(
                        (_gain(N, P, r, int(round(pcat[j][g]))), N - r, ("cat", j, int(g), 0))
                    )
        # the first candidate with the largest (gain, remaining): ties keep the earlier one
        best = max(cands, key=lambda c: c[:2]) if cands else None
        if best is None:
            break

        kind, j, a, e = best[2]
        if kind == "cat":
            rows = np.flatnonzero(inbox & (data.codes[j] == a))
            box.allowed[j] = box.allowed[j] - {a}
        else:
            seg = order[j, a:e]
            rows = seg[inbox[seg]]
        inbox[rows] = False
        if kind == "lo":
            lo_ptr[j] = e
            box.lower[j] = xs[j, _first_valid(inbox, order[j], e, int(hi_ptr[j]), 1, 64, True)]
        elif kind == "hi":
            hi_ptr[j] = a
            box.upper[j] = xs[j, _first_valid(inbox, order[j], int(lo_ptr[j]), a, 1, 64, False)]
        N -= len(rows)
        P -= int(y[rows].sum())
        for c in range(len(data.codes)):
            cr = data.codes[c][rows]
            ncat[c] = ncat[c] - np.bincount(cr, minlength=len(ncat[c]))
            pcat[c] = pcat[c] - np.bincount(cr, weights=y[rows], minlength=len(pcat[c]))
        if p and 2 * N < order.shape[1]:  # compress once the box has halved
            keep = inbox[order]
            order = order[keep].reshape(p, N)
            xs = xs[keep].reshape(p, N)
            ys = ys[keep].reshape(p, N)
            lo_ptr[:] = 0
            hi_ptr[:] = N
        boxes.append(box.copy())
        counts.append((N, P, len(box.restricted(data))))
    return boxes, counts


# --------------------------------------------------------------------------------------------
# pasting
# --------------------------------------------------------------------------------------------


def paste(data: PrimData, box: Box, alpha: float, max_iter: int = 1000) -> Box:
    """Relax the box's bounds while that does not lower its density.

    Each round considers, for every restricted side of a numeric driver, moving the bound
    outward to take in the next ``alpha * N`` points that satisfy all the other restrictions
    (or dropping the bound when fewer remain), and for every categorical driver, re-admitting
    one removed category. The candidate giving the highest density (ties: more points) is
    applied if its density is at least the current one; otherwise pasting stops.
    """
    y = data.y
    box = box.copy()
    for _ in range(max_iter):
        res, viol = box.violations(data)
        if not res:
            break
        nviol = viol.sum(0)
        inside = nviol == 0
        N, P = int(inside.sum()), int(y[inside].sum())
        m = max(1, int(np.ceil(alpha * N)))
        best = None  # (density, added, action)
        for k, (kind, j) in enumerate(res):
            only_k = viol[k] & (nviol == 1)
            if kind == "num":
                x = data.xn[j]
                for side in ("lo", "hi"):
                    pool = only_k & ((x < box.lower[j]) if side == "lo" else (x > box.upper[j]))
                    vals = x[pool]
                    if len(vals) == 0:
                        continue
                    if len(vals) <= m:
                        bound = -np.inf if side == "lo" else np.inf
                    else:
                        srt = np.sort(vals)
                        bound = srt[len(vals) - m] if side == "lo" else srt[m - 1]
                    take = (vals >= bound) if side == "lo" else (vals <= bound)
                    a, a_pos = int(take.sum()), int(y[pool][take].sum())
                    cand = ((P + a_pos) / (N + a), a, ("num", j, side, bound))
                    best = cand if best is None or cand[:2] > best[:2] else best
            else:
                codes = data.codes[j]
                removed = set(range(len(data.labels[j]))) - box.allowed[j]
                for g in sorted(removed):
                    pool = only_k & (codes == g)
                    a = int(pool.sum())
                    if a == 0:
                        continue
                    cand = ((P + int(y[pool].sum())) / (N + a), a, ("cat", j, g, None))
                    best = cand if best is None or cand[:2] > best[:2] else best
        if best is None or best[0] < P / N:
            break
        kind, j, side, bound = best[2]
        if kind == "num":
            if side == "lo":
                box.lower[j] = bound
            else:
                box.upper[j] = bound
        else:
            box.allowed[j] = box.allowed[j] | {side}
    return box
