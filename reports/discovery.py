"""Scenario discovery: which combinations of drivers produce the cases of interest.

:func:`prim` implements the Patient Rule Induction Method (Friedman & Fisher 1999) in the form
used for scenario discovery (Bryant & Lempert 2010; EMA Workbench, sdtoolkit): starting from the
box holding every path, repeatedly *peel* off a thin slice (``alpha`` of the points in the box)
from the low or high end of one driver -- or one category of a categorical or two-valued
driver -- choosing the slice with the largest density gain per point removed (the EMA
Workbench's default ``LENIENT1`` objective; Kwakkel 2017), until the box would hold less than
``min_mass`` of all paths. The sequence of boxes trades *coverage* (share of all cases of interest
inside the box) against *density* (share of the box that is cases of interest); a box is then
chosen on that trajectory and optionally *pasted* (bounds relaxed again where that does not
dilute the box).

The result is a :class:`PrimResult` with the trajectory, every box, per-restriction quasi-p-values
and a plain-English description.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["PrimResult", "prim"]


# --------------------------------------------------------------------------------------------
# data preparation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Data:
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


def _prepare(X: pd.DataFrame, y_bool, categorical) -> _Data:
    """Validate ``X`` (DataFrame, shape (n, d)) and ``y_bool`` (shape (n,)) into :class:`_Data`."""
    if not isinstance(X, pd.DataFrame):
        raise ValueError(f"X must be a pandas DataFrame; got {type(X).__name__}")
    if X.shape[1] == 0:
        raise ValueError("X has no columns (no drivers)")
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
    if y_arr.ndim != 1:
        raise ValueError(f"y_bool must be 1-D; got shape {y_arr.shape}")
    n = len(X)
    if len(y_arr) != n:
        raise ValueError(f"length mismatch: X has {n} rows but y_bool has {len(y_arr)} values")
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
            if isinstance(s.dtype, pd.CategoricalDtype):
                c = s.cat.codes.to_numpy().astype(np.int64)
                lab = list(s.cat.categories)
            else:
                c, uniq = pd.factorize(s, sort=True)
                c = c.astype(np.int64)
                lab = list(uniq)
            if np.any(c < 0):
                raise ValueError(f"driver {col!r} contains missing values")
            cat_idx.append(j)
            codes.append(c)
            labels.append(lab)
        else:
            v = s.to_numpy(dtype=float)
            n_bad = int(np.count_nonzero(~np.isfinite(v)))
            if n_bad:
                raise ValueError(f"driver {col!r} contains {n_bad} NaN/inf values")
            num_idx.append(j)
            xn.append(v)
    return _Data(
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
class _Box:
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

    def copy(self) -> _Box:
        return _Box(self.lower.copy(), self.upper.copy(), list(self.allowed))

    def restricted(self, data: _Data) -> list[tuple[str, int]]:
        """Restricted drivers as ``("num"|"cat", local index)`` in original column order."""
        out = []
        for j in range(len(data.num_idx)):
            if np.isfinite(self.lower[j]) or np.isfinite(self.upper[j]):
                out.append((data.num_idx[j], "num", j))
        for j in range(len(data.cat_idx)):
            if len(self.allowed[j]) < len(data.labels[j]):
                out.append((data.cat_idx[j], "cat", j))
        return [(kind, j) for _, kind, j in sorted(out)]

    def violations(self, data: _Data) -> tuple[list[tuple[str, int]], np.ndarray]:
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


def _full_box(data: _Data) -> _Box:
    p = len(data.num_idx)
    return _Box(
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


def _peel(
    data: _Data, alpha: float, min_mass: float
) -> tuple[list[_Box], list[tuple[int, int, int]]]:
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
    boxes : list of _Box
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
    box = _full_box(data)
    N, P = n, int(y.sum())
    boxes = [box.copy()]
    counts = [(N, P, 0)]
    ncat = [np.bincount(c, minlength=len(lab)) for c, lab in zip(data.codes, data.labels)]
    pcat = [
        np.bincount(c, weights=y, minlength=len(lab)) for c, lab in zip(data.codes, data.labels)
    ]

    while True:
        k = max(1, int(np.ceil(alpha * N)))
        best = None  # (gain per point removed, remaining, action)
        for j in range(p):
            a, b = int(lo_ptr[j]), int(hi_ptr[j])
            w = int(np.ceil(1.25 * k * (b - a) / N)) + 32
            # low side: drop every in-box point <= the k-th smallest in-box value
            pos = _first_valid(inbox, order[j], a, b, k, w, up=True)
            e = min(int(np.searchsorted(xs[j], xs[j, pos], side="right")), b)
            v = inbox[order[j, a:e]]
            r = int(v.sum())
            if r < N and N - r >= min_n:
                removed_pos = int((v & ys[j, a:e]).sum())
                cand = (_gain(N, P, r, removed_pos), N - r, ("lo", j, a, e))
                best = cand if best is None or cand[:2] > best[:2] else best
            # high side: drop every in-box point >= the k-th largest in-box value
            pos = _first_valid(inbox, order[j], a, b, k, w, up=False)
            e = max(int(np.searchsorted(xs[j], xs[j, pos], side="left")), a)
            v = inbox[order[j, e:b]]
            r = int(v.sum())
            if r < N and N - r >= min_n:
                removed_pos = int((v & ys[j, e:b]).sum())
                cand = (_gain(N, P, r, removed_pos), N - r, ("hi", j, e, b))
                best = cand if best is None or cand[:2] > best[:2] else best
        for j in range(len(data.codes)):
            present = np.flatnonzero(ncat[j] > 0)
            if len(present) < 2:
                continue
            for g in present:
                r = int(ncat[j][g])
                if N - r >= min_n:
                    cand = (_gain(N, P, r, int(round(pcat[j][g]))), N - r, ("cat", j, int(g), 0))
                    best = cand if best is None or cand[:2] > best[:2] else best
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


def _paste(data: _Data, box: _Box, alpha: float, max_iter: int = 1000) -> _Box:
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


# --------------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------------


def _fmt(v: float) -> str:
    """Compact number for descriptions: 3 significant digits, one decimal for large values."""
    return f"{v:.1f}" if abs(v) >= 1000 else f"{v:.3g}"


@dataclass
class PrimResult:
    """Outcome of :func:`prim`.

    Attributes
    ----------
    trajectory : DataFrame, shape (n_steps + 1, 4)
        Indexed by ``step`` (0 = the full box); columns ``coverage`` (share of all cases of
        interest inside the box), ``density`` (share of the box that is cases of interest),
        ``mass`` (share of all paths inside the box) and ``n_restricted`` (drivers restricted).
    boxes : list of dict
        Per step, ``{driver: (lower, upper)}`` for restricted numeric drivers (``-inf`` / ``inf``
        for an open side; bounds are inclusive and equal to the extreme data values kept) and
        ``{driver: [categories kept]}`` for restricted categorical drivers.
    chosen_step : int
        The step :meth:`box` and :meth:`describe` use by default: the step maximising the
        harmonic mean of coverage and density (the F1 score of the box as a classifier of
        cases of interest), or, when ``threshold`` was given, the step with the highest
        coverage among those with density >= threshold (highest density if none reaches it).
    pasting : bool
        Whether the chosen box was pasted. If so, ``box()`` / ``describe()`` / ``stats()`` with
        ``step=None`` describe the *pasted* chosen box; an explicit ``step`` always gives the
        box exactly as peeled.
    """

    trajectory: pd.DataFrame
    boxes: list[dict]
    chosen_step: int
    pasting: bool
    _data: _Data = field(repr=False)
    _boxes: list[_Box] = field(repr=False)
    _pasted: _Box | None = field(repr=False, default=None)

    def _get(self, step: int | None) -> _Box:
        if step is None:
            return self._pasted if self._pasted is not None else self._boxes[self.chosen_step]
        if not 0 <= step < len(self._boxes):
            raise ValueError(f"step must be in [0, {len(self._boxes) - 1}]; got {step}")
        return self._boxes[step]

    def stats(self, step: int | None = None) -> dict[str, float]:
        """Coverage, density and mass of a box (default: the chosen, pasted box).

        Returns
        -------
        dict
            ``{"coverage": float, "density": float, "mass": float, "n": int}``.
        """
        _, viol = self._get(step).violations(self._data)
        inside = ~viol.any(0)
        y = self._data.y
        n_in, pos = int(inside.sum()), int(y[inside].sum())
        return {
            "coverage": pos / int(y.sum()),
            "density": pos / n_in if n_in else np.nan,
            "mass": n_in / len(y),
            "n": n_in,
        }

    def box(self, step: int | None = None) -> pd.DataFrame:
        """Restrictions of one box with quasi-p-values.

        ``qp`` tests each restriction the way the EMA Workbench / sdtoolkit do: with ``N`` paths
        and ``P`` cases in the box, and density ``p0`` in the box with that one driver's
        restriction removed, ``qp = P[Binomial(N, p0) >= P]`` (one-sided, ``binom.sf``). A small
        ``qp`` says the restriction genuinely concentrates cases of interest; it is "quasi"
        because the box was chosen on the same data.

        Parameters
        ----------
        step : int, optional
            Peeling step; default the chosen (and pasted, if enabled) box.

        Returns
        -------
        DataFrame, shape (n_restricted, 4)
            Indexed by driver; columns ``lower``, ``upper`` (NaN for categorical drivers,
            ``-inf``/``inf`` for an open side), ``categories`` (list of categories kept, or
            None for numeric drivers) and ``qp``.
        """
        from scipy.stats import binom

        data = self._data
        b = self._get(step)
        res, viol = b.violations(data)
        nviol = viol.sum(0)
        inside = nviol == 0
        y = data.y
        N, P = int(inside.sum()), int(y[inside].sum())
        rows, index = [], []
        for k, (kind, j) in enumerate(res):
            without = inside | (viol[k] & (nviol == 1))
            p0 = y[without].sum() / without.sum()
            qp = float(binom.sf(P - 1, N, p0))
            if kind == "num":
                index.append(data.names[data.num_idx[j]])
                rows.append((b.lower[j], b.upper[j], None, qp))
            else:
                index.append(data.names[data.cat_idx[j]])
                kept = [data.labels[j][g] for g in sorted(b.allowed[j])]
                rows.append((np.nan, np.nan, kept, qp))
        return pd.DataFrame(
            rows,
            index=pd.Index(index, name="driver", dtype=object),
            columns=["lower", "upper", "categories", "qp"],
        )

    def describe(self, names: dict | None = None, step: int | None = None) -> str:
        """One-sentence plain-English description of a box.

        Parameters
        ----------
        names : dict, optional
            Display names ``{column: label}``; unlisted columns keep their own name.
        step : int, optional
            Peeling step; default the chosen (and pasted, if enabled) box.

        Returns
        -------
        str
            E.g. ``"paths with agi_year >= 2036.2 and delay <= 3.1 make up 80% of the cases of
            interest (coverage) and 85% of the box is cases of interest (density); the box holds
            6.2% of all paths (mass)."``
        """
        names = names or {}
        tab = self.box(step)
        parts = []
        for drv, row in tab.iterrows():
            label = str(names.get(drv, drv))
            if row["categories"] is not None:
                cats = row["categories"]
                if len(cats) == 1:
                    parts.append(f"{label} = {cats[0]!r}")
                else:
                    parts.append(f"{label} in {{{', '.join(repr(c) for c in cats)}}}")
            elif np.isfinite(row["lower"]) and np.isfinite(row["upper"]):
                parts.append(f"{_fmt(row['lower'])} <= {label} <= {_fmt(row['upper'])}")
            elif np.isfinite(row["lower"]):
                parts.append(f"{label} >= {_fmt(row['lower'])}")
            else:
                parts.append(f"{label} <= {_fmt(row['upper'])}")
        st = self.stats(step)
        who = "paths with " + " and ".join(parts) if parts else "all paths (no restriction)"
        return (
            f"{who} make up {st['coverage']:.0%} of the cases of interest (coverage) and "
            f"{st['density']:.0%} of the box is cases of interest (density); "
            f"the box holds {st['mass']:.1%} of all paths (mass)."
        )


def _box_dict(data: _Data, b: _Box) -> dict:
    out = {}
    for kind, j in b.restricted(data):
        if kind == "num":
            out[data.names[data.num_idx[j]]] = (float(b.lower[j]), float(b.upper[j]))
        else:
            out[data.names[data.cat_idx[j]]] = [data.labels[j][g] for g in sorted(b.allowed[j])]
    return out


def prim(
    X: pd.DataFrame,
    y_bool,
    alpha: float = 0.05,
    min_mass: float = 0.05,
    threshold: float | None = None,
    pasting: bool = True,
    categorical=None,
) -> PrimResult:
    """Patient rule induction (PRIM) for scenario discovery.

    Peeling: at each step, for every numeric driver, the candidates are removing the points at
    or below the ``alpha``-quantile or at or above the ``(1 - alpha)``-quantile of the points
    still in the box (about ``alpha`` of them; tied values are removed together, so a point
    mass can go at once); for every categorical driver, removing one of its categories still
    present. The candidate with the largest density gain *per point removed*,
    ``(density_new - density_old) / (N_old - N_new)``, wins (ties: the one keeping more points).
    This is the EMA Workbench's default objective (``LENIENT1``, Kwakkel 2017): scoring by the
    new density alone (Friedman & Fisher 1999's box mean) lets a peel that drops most of the
    box for a small density gain -- one value of a switch, a point mass -- beat a thin slice
    with a larger gain per point. Peeling stops when every candidate would leave less than
    ``min_mass`` of all paths.

    Box selection: ``chosen_step`` is the step with the highest F1 score (harmonic mean of
    coverage and density) on the peeling trajectory, or with ``threshold``, the highest
    coverage among steps with density >= ``threshold`` (the densest step if none reaches it);
    with ``pasting`` that box is then pasted (bounds relaxed while density does not fall).

    Each numeric column is argsorted once; candidate densities come from the sorted in-box
    labels, so a step costs ``O(p N)`` with the box size ``N`` shrinking by ``alpha`` per step.

    Parameters
    ----------
    X : DataFrame, shape (n, d)
        Drivers. Numeric columns are peeled by quantile; ``category``, ``object``, string and
        ``bool`` columns, numeric columns with exactly two distinct values (0/1 switches), and
        any listed in ``categorical``, are peeled one category at a time.
    y_bool : array-like of bool, shape (n,)
        True for the cases of interest (e.g. ``y < threshold_loss``).
    alpha : float
        Peeling (and pasting) fraction, in (0, 0.5).
    min_mass : float
        Smallest box, as a fraction of all paths, in (0, 1).
    threshold : float, optional
        Density target used to choose the reported step (see :class:`PrimResult`).
    pasting : bool
        Paste the chosen box after peeling.
    categorical : iterable of str, optional
        Extra columns to treat as categorical.

    Returns
    -------
    PrimResult
    """
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5); got {alpha}")
    if not 0.0 < min_mass < 1.0:
        raise ValueError(f"min_mass must be in (0, 1); got {min_mass}")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1]; got {threshold}")
    data = _prepare(X, y_bool, categorical)
    boxes, counts = _peel(data, alpha, min_mass)
    n, n_pos = len(data.y), int(data.y.sum())
    arr = np.array(counts, dtype=float)
    traj = pd.DataFrame(
        {
            "coverage": arr[:, 1] / n_pos,
            "density": arr[:, 1] / arr[:, 0],
            "mass": arr[:, 0] / n,
            "n_restricted": arr[:, 2].astype(int),
        },
        index=pd.RangeIndex(len(counts), name="step"),
    )
    cov, den = traj["coverage"].to_numpy(), traj["density"].to_numpy()
    if threshold is None:
        hm = np.where(cov + den > 0, 2 * cov * den / np.maximum(cov + den, 1e-300), 0.0)
        chosen = int(np.argmax(hm))
    else:
        ok = np.flatnonzero(den >= threshold)
        chosen = int(ok[np.argmax(cov[ok])]) if len(ok) else int(np.argmax(den))
    pasted = _paste(data, boxes[chosen], alpha) if pasting else None
    return PrimResult(
        trajectory=traj,
        boxes=[_box_dict(data, b) for b in boxes],
        chosen_step=chosen,
        pasting=pasting,
        _data=data,
        _boxes=boxes,
        _pasted=pasted,
    )
