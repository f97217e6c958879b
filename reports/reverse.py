"""Reverse stress test: given a bad outcome, which driver values get there, and how likely is it?

:func:`reverse_stress` takes the per-path driver draws (the prior sample: rows are paths, columns
drivers), one outcome per path and a threshold, and returns a :class:`ReverseStress` with

* **the probability** ``P(outcome >= threshold)`` (side ``high``) or ``P(outcome <= threshold)``
  (side ``low``) and its MCSE ``sqrt(p (1 - p) / n_eff)``. ``n_eff`` is ArviZ's ESS of the
  exceedance indicator over the chains (first ``DIAG_MAX_DRAWS`` draws of each chain, scaled to
  all paths, as in :mod:`reports.downside`), capped at the path count, so the MCSE is never below
  the binomial ``sqrt(p (1 - p) / n)``; without chain labels it is the binomial one.
* **each driver's conditional distribution against its prior**: median, p05 and p95 over all
  paths (prior) and over the exceeding paths (conditional); ``shift``, the mean prior-CDF rank
  of the driver among the exceeding paths minus 0.5 (in prior-quantile units: 0 = not moved,
  +0.5 = always at the top of its range, -0.5 = always at the bottom); and the two-sample
  Kolmogorov-Smirnov statistic between the exceeding and the other paths
  (``scipy.stats.ks_2samp``; it is proportional to the distance between the conditional and the
  prior CDF, ``D(cond, prior) = (1 - p) D(cond, rest)``, and its p-value is valid because the two
  samples are disjoint). Rows are sorted by the KS statistic, largest first. A driver *moved*
  when its KS p-value is below ``alpha / n_drivers`` (Bonferroni, ``alpha`` 0.05).
* **the most likely driver combination that gets there**: the exceeding path with the highest
  prior density in the copula's normal-score space, i.e. the exceeding path that minimises
  ``sum z_j**2`` with ``z_j = Phi^-1(u_j)`` and ``u_j`` the prior-CDF rank of driver j (a FORM-style
  most probable point, evaluated on the sample). The sum runs over the drivers that moved
  (over all drivers when none did): drivers that do not matter would otherwise choose the path
  by their own noise (with ~200 drivers the sum is a chi-square with ~200 degrees of freedom).
  Caveats: correlated drivers enter through their marginal ranks, not through the copula's
  correlation (two correlated drivers that are both high count as two surprises); and when
  things outside the drivers also move the outcome, the most probable point is the *least
  extreme* exceeding combination, near the threshold's boundary, not the typical one; the
  conditional medians are given beside it for that reason.

Ranks are the empirical prior CDF ``(average rank - 0.5) / n`` of each driver over all paths
(ties, e.g. 0/1 switches, share their average rank), unless ``uniforms`` supplies the prior CDF
values directly.

:meth:`ReverseStress.to_frame` gives one CSV table (``reverse.csv``), one row per line, column
``section`` says which kind:

* ``probability``: ``name`` = outcome; ``threshold``, ``side``, ``probability``, ``mcse``,
  ``n_eff``, ``n_paths``, ``n_exceed``.
* ``most_likely``: ``name`` = the path's label (e.g. ``chain=2 draw=113``); ``outcome_value``
  (the outcome on that path), ``n_drivers_used`` (drivers in its distance),
  ``sum_z2`` (its squared normal-score distance).
* ``driver`` (one per driver, sorted by ``ks``): ``name`` = driver; ``prior_p05``,
  ``prior_median``, ``prior_p95``, ``cond_p05``, ``cond_median``, ``cond_p95``, ``shift``, ``ks``,
  ``ks_pvalue``, ``moved``, ``most_likely_value`` (the driver on the most likely path),
  ``most_likely_u`` (its prior quantile) and ``in_most_likely`` (whether it entered the distance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from reports.summaries import DIAG_MAX_DRAWS, relative_ess

__all__ = ["SIDES", "ReverseStress", "ReverseStressError", "reverse_stress"]

SIDES = ("high", "low")
ALPHA = 0.05  # family-wise level of the "moved" test (Bonferroni over the drivers)
DRIVER_COLUMNS = [
    "prior_p05",
    "prior_median",
    "prior_p95",
    "cond_p05",
    "cond_median",
    "cond_p95",
    "shift",
    "ks",
    "ks_pvalue",
    "moved",
    "most_likely_value",
    "most_likely_u",
    "in_most_likely",
]
FRAME_COLUMNS = [
    "section",
    "name",
    "threshold",
    "side",
    "probability",
    "mcse",
    "n_eff",
    "n_paths",
    "n_exceed",
    "outcome_value",
    "n_drivers_used",
    "sum_z2",
    *DRIVER_COLUMNS,
]


class ReverseStressError(ValueError):
    """The reverse stress test cannot run on these inputs; the message says which and why."""


@dataclass(frozen=True)
class ReverseStress:
    """Result of :func:`reverse_stress`.

    Attributes:
        outcome: the outcome's name; threshold, side: the condition (``>=`` for high, ``<=`` low).
        n_paths, n_exceed: paths in the sample and paths beyond the threshold.
        probability, mcse, n_eff: ``n_exceed / n_paths``, its Monte Carlo standard error and the
            effective sample size behind it.
        drivers: one row per driver (index: driver name), columns ``DRIVER_COLUMNS``, sorted by
            ``ks`` (largest first).
        most_likely, most_likely_label: the index value of the most likely exceeding path and
            it as text (e.g. ``chain=2 draw=113``).
        most_likely_outcome: the outcome on that path.
        most_likely_drivers: the drivers its distance ran over; sum_z2: that distance.
    """

    outcome: str
    threshold: float
    side: str
    n_paths: int
    n_exceed: int
    probability: float
    mcse: float
    n_eff: float
    drivers: pd.DataFrame
    most_likely: object
    most_likely_label: str
    most_likely_outcome: float
    most_likely_drivers: tuple[str, ...]
    sum_z2: float

    @property
    def condition(self) -> str:
        return f"{self.outcome} {'>=' if self.side == 'high' else '<='} {self.threshold:g}"

    def to_frame(self) -> pd.DataFrame:
        """The tidy CSV table described in the module docstring (columns ``FRAME_COLUMNS``)."""
        head = {
            "section": "probability",
            "name": self.outcome,
            "threshold": self.threshold,
            "side": self.side,
            "probability": self.probability,
            "mcse": self.mcse,
            "n_eff": self.n_eff,
            "n_paths": self.n_paths,
            "n_exceed": self.n_exceed,
        }
        point = {
            "section": "most_likely",
            "name": self.most_likely_label,
            "outcome_value": self.most_likely_outcome,
            "n_drivers_used": len(self.most_likely_drivers),
            "sum_z2": self.sum_z2,
        }
        rows = self.drivers.reset_index(names="name").assign(section="driver")
        out = pd.concat([pd.DataFrame([head, point]), rows], ignore_index=True)
        out = out.reindex(columns=FRAME_COLUMNS)
        return out.astype({c: "Int64" for c in ("n_paths", "n_exceed", "n_drivers_used")})

    def table(self, top: int = 8) -> str:
        """A short text table: the probability, the ``top`` drivers that moved most and the most
        likely combination."""
        lines = [
            f"P({self.condition}) = {self.probability:.4g} +/- {self.mcse:.2g} (MCSE), "
            f"{self.n_exceed} of {self.n_paths} paths"
        ]
        d = self.drivers.head(top)
        width = max([len("driver"), *(len(n) for n in d.index)])
        lines.append(
            f"{'driver':{width}s}  {'prior median [p05, p95]':>30s}  "
            f"{'given it median [p05, p95]':>30s}  {'shift':>6s}  {'KS':>5s}"
        )
        for name, r in d.iterrows():
            prior = f"{r.prior_median:.4g} [{r.prior_p05:.4g}, {r.prior_p95:.4g}]"
            cond = f"{r.cond_median:.4g} [{r.cond_p05:.4g}, {r.cond_p95:.4g}]"
            lines.append(
                f"{name:{width}s}  {prior:>30s}  {cond:>30s}  {r['shift']:+6.2f}  {r.ks:5.2f}"
            )
        used = self.drivers.loc[list(self.most_likely_drivers)]
        lines.append(
            f"most likely combination (path {self.most_likely_label}, outcome "
            f"{self.most_likely_outcome:.4g}; distance over {len(used)} driver(s) that moved):"
        )
        for name, r in used.head(top).iterrows():
            lines.append(
                f"  {name:{width}s} = {r.most_likely_value:.4g} (prior quantile "
                f"{r.most_likely_u:.2f}; median of exceeding paths {r.cond_median:.4g})"
            )
        if len(used) > top:
            lines.append(f"  ... and {len(used) - top} more in reverse.csv")
        return "\n".join(lines)


def reverse_stress(
    drivers: pd.DataFrame,
    outcome: pd.Series,
    threshold: float,
    side: str,
    *,
    uniforms: pd.DataFrame | None = None,
    chains=None,
    alpha: float = ALPHA,
) -> ReverseStress:
    """Reverse stress test of ``outcome`` beyond ``threshold`` (see the module docstring).

    Args:
        drivers: (n_paths, n_drivers) driver values, one row per path (a prior sample).
        outcome: (n_paths,) the outcome per path, same index as ``drivers``; its name names it.
        threshold: the outcome's threshold, in its units; side: ``"high"`` (``>= threshold`` is
            bad) or ``"low"`` (``<= threshold``).
        uniforms: optional (n_paths, n_drivers) prior CDF values in (0, 1) of the same drivers,
            replacing the empirical ranks.
        chains: optional chain label per path; by default the ``chain`` level of ``drivers``'s
            index when there is one. Used for the ESS of the exceedance indicator.
        alpha: family-wise level of the test that says a driver moved.
    Raises:
        ReverseStressError: unknown side, NaN or misaligned inputs, the threshold reached by no
            path (or by every path).
    """
    name = str(outcome.name) if outcome.name is not None else "outcome"
    x, y, u = _check_inputs(drivers, outcome, threshold, side, uniforms, name)
    hit = y >= threshold if side == "high" else y <= threshold
    n, k = x.shape
    m = int(hit.sum())
    if m == 0:
        seen = f"max seen {y.max():.6g}" if side == "high" else f"min seen {y.min():.6g}"
        op = ">=" if side == "high" else "<="
        raise ReverseStressError(
            f"{name} never reaches {op} {threshold:g} in {n} paths ({seen}); "
            f"choose a less extreme threshold or more paths"
        )
    if m == n:
        seen = f"min seen {y.min():.6g}" if side == "high" else f"max seen {y.max():.6g}"
        raise ReverseStressError(
            f"every one of the {n} paths has {name} beyond {threshold:g} ({seen}); "
            "nothing to compare against: choose a more extreme threshold"
        )
    p = m / n
    n_eff = _indicator_ess(hit, _chain_labels(drivers, chains, n))
    mcse = float(np.sqrt(p * (1 - p) / n_eff))

    rows = []
    u_hit = np.empty((m, k))
    for j in range(k):
        xj = x[:, j].astype(np.float64)
        uj = u[:, j] if u is not None else (stats.rankdata(xj) - 0.5) / n
        u_hit[:, j] = uj[hit]
        prior = np.quantile(xj, [0.05, 0.5, 0.95])
        cond = np.quantile(xj[hit], [0.05, 0.5, 0.95])
        if np.ptp(xj) == 0:  # a point mass cannot move
            ks, pval = 0.0, 1.0
        else:
            res = stats.ks_2samp(xj[hit], xj[~hit], method="asymp")
            ks, pval = float(res.statistic), float(res.pvalue)
        rows.append((*prior, *cond, float(uj[hit].mean() - 0.5), ks, pval))
    table = pd.DataFrame(
        rows, index=pd.Index(drivers.columns, name="driver"), columns=DRIVER_COLUMNS[:9]
    )
    table["moved"] = table["ks_pvalue"] < alpha / k

    used = table["moved"].to_numpy()
    if not used.any():
        used = np.ones(k, bool)
    z = stats.norm.ppf(np.clip(u_hit[:, used], 1e-12, 1 - 1e-12))
    dist = np.sum(z**2, axis=1)
    best = int(np.argmin(dist))
    row = np.flatnonzero(hit)[best]
    table["most_likely_value"] = x[row].astype(np.float64)
    table["most_likely_u"] = u_hit[best]
    table["in_most_likely"] = used
    order = np.lexsort((-table["shift"].abs().to_numpy(), -table["ks"].to_numpy()))
    table = table.iloc[order]
    return ReverseStress(
        outcome=name,
        threshold=float(threshold),
        side=side,
        n_paths=n,
        n_exceed=m,
        probability=p,
        mcse=mcse,
        n_eff=float(n_eff),
        drivers=table,
        most_likely=drivers.index[row],
        most_likely_label=_label(drivers.index, row),
        most_likely_outcome=float(y[row]),
        most_likely_drivers=tuple(table.index[table["in_most_likely"]]),
        sum_z2=float(dist[best]),
    )


def _check_inputs(drivers, outcome, threshold, side, uniforms, name):
    if side not in SIDES:
        raise ReverseStressError(f"side: unknown side {side!r} (valid: {', '.join(SIDES)})")
    if not isinstance(drivers, pd.DataFrame) or drivers.shape[1] == 0:
        raise ReverseStressError("drivers: expected a DataFrame with at least one driver column")
    if not isinstance(outcome, pd.Series):
        raise ReverseStressError(f"outcome: expected a pandas Series, got {type(outcome).__name__}")
    if len(outcome) != len(drivers) or not outcome.index.equals(drivers.index):
        raise ReverseStressError(
            f"outcome {name}: its {len(outcome)} rows do not match the drivers' {len(drivers)} "
            "rows (same index expected)"
        )
    if isinstance(threshold, bool) or not np.isfinite(threshold):
        raise ReverseStressError(f"threshold: expected a finite number, got {threshold!r}")
    x = drivers.to_numpy()  # native dtype (float32 from the engine); columns cast one at a time
    if not np.issubdtype(x.dtype, np.floating):
        try:
            x = x.astype(np.float64)
        except (TypeError, ValueError):
            raise ReverseStressError("drivers: every column must be numeric") from None
    y = outcome.to_numpy(np.float64)
    if np.isnan(y).any():
        raise ReverseStressError(f"outcome {name}: {int(np.isnan(y).sum())} NaN value(s)")
    bad = np.isnan(x).sum(axis=0)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise ReverseStressError(f"driver {drivers.columns[j]}: {int(bad[j])} NaN value(s)")
    u = None
    if uniforms is not None:
        if list(uniforms.columns) != list(drivers.columns) or len(uniforms) != len(drivers):
            raise ReverseStressError("uniforms: must have the drivers' columns and rows")
        u = uniforms.to_numpy(np.float64)
        if not np.all((u > 0) & (u < 1)):
            raise ReverseStressError("uniforms: every value must lie in (0, 1) (no NaN)")
    return x, y, u


def _chain_labels(drivers: pd.DataFrame, chains, n: int):
    if chains is not None:
        labels = np.asarray(chains)
        if labels.shape != (n,):
            raise ReverseStressError(
                f"chains: expected one label per path ({n}), got {labels.shape}"
            )
        return labels
    if isinstance(drivers.index, pd.MultiIndex) and "chain" in drivers.index.names:
        return drivers.index.get_level_values("chain").to_numpy()
    return None


def _indicator_ess(hit: np.ndarray, chains) -> float:
    """ESS of the exceedance indicator from ArviZ over the chains, at most the path count; the
    path count itself without chain labels or with chains of unequal length."""
    n = hit.size
    if chains is None:
        return float(n)
    labels, counts = np.unique(chains, return_counts=True)
    if len(labels) < 2 or (counts != counts[0]).any() or counts[0] < 4:
        return float(n)
    order = np.argsort(chains, kind="stable")
    per_chain = hit[order].reshape(len(labels), counts[0]).astype(np.float64)
    sub = per_chain[None, :, :DIAG_MAX_DRAWS]  # (1 cell, chain, draw)
    ess = float(relative_ess(sub, "mean")[0]) * n
    return float(min(ess, n)) if np.isfinite(ess) and ess > 0 else float(n)


def _label(index: pd.Index, row: int) -> str:
    """``chain=2 draw=113`` for a (chain, draw) MultiIndex; the index value otherwise."""
    value = index[row]
    if isinstance(index, pd.MultiIndex):
        names = [n if n is not None else f"level{i}" for i, n in enumerate(index.names)]
        return " ".join(f"{n}={v}" for n, v in zip(names, value, strict=True))
    return str(value)
