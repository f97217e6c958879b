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
and a plain-English description. Peeling and pasting themselves are in :mod:`reports.prim_peel`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reports.prim_peel import Box, PrimData, paste, peel, prepare

__all__ = ["PrimResult", "prim"]


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
    _data: PrimData = field(repr=False)
    _boxes: list[Box] = field(repr=False)
    _pasted: Box | None = field(repr=False, default=None)

    def _get(self, step: int | None) -> Box:
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


def _box_dict(data: PrimData, b: Box) -> dict:
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
        Drivers (a 2-D array gets columns ``x0 .. x{d-1}``). Numeric columns are peeled by quantile; ``category``, ``object``, string and
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
    data = prepare(X, y_bool, categorical)
    boxes, counts = peel(data, alpha, min_mass)
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
    pasted = paste(data, boxes[chosen], alpha) if pasting else None
    return PrimResult(
        trajectory=traj,
        boxes=[_box_dict(data, b) for b in boxes],
        chosen_step=chosen,
        pasting=pasting,
        _data=data,
        _boxes=boxes,
        _pasted=pasted,
    )
