"""The true tail of a headline outcome: its worst paths over *all* n paths, replayed.

The engine's tail buffers name the worst paths of the whole run by global index, and the engine
re-simulates them with their drivers and yearly trajectories (``jp2040.tails.true_tails`` does
both and fills a :class:`TrueTail`). Here, on those arrays: the tail KS distance of each driver
on the true tail (replayed tail drivers against the kept sample, which stands for all paths), PRIM
on the true tail, and a fan chart of the tail's trajectories next to that of the kept paths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure


@dataclass
class TrueTail:
    """The worst ``alpha`` of all ``n_paths`` paths of one outcome, replayed.

    indices: (m,) global path indices, worst first; values: (m,) the outcome on them;
    drivers: (m, d) their driver draws (columns ``driver_names``); yearly: (m, years) the
    outcome's yearly series ``yearly_var`` of group ``<group>_yearly`` (entity selected), or
    None when the outcome has none (a cumulative total of all domains, say).
    """

    alpha: float
    n_paths: int
    indices: np.ndarray
    values: np.ndarray
    drivers: np.ndarray
    driver_names: tuple
    yearly: np.ndarray | None = None
    yearly_var: str | None = None


def true_tail_ks(X: pd.DataFrame, tail: TrueTail) -> pd.Series:
    """Two-sample KS distance per driver of ``X`` (kept paths) between the replayed true tail
    and the kept sample; NaN for drivers the replay does not have."""
    from scipy.stats import ks_2samp

    names = list(tail.driver_names)
    out = {}
    for col in X.columns:
        if col not in names:
            out[col] = np.nan
            continue
        x_tail = tail.drivers[:, names.index(col)].astype(np.float64)
        out[col] = float(ks_2samp(x_tail, X[col].to_numpy(np.float64)).statistic)
    return pd.Series(out, name="true_tail_ks")


def tail_fan_chart(dt: xr.DataTree, outcome, tail: TrueTail) -> Figure | None:
    """Median and 5-95% band by year of the true tail's replayed trajectories, over those of
    the run's kept trajectories (``dt``'s ``<group>_yearly`` group); None when the outcome has
    no yearly series."""
    group = f"{outcome.group}_yearly"
    if tail.yearly is None or group not in dt.children:
        return None
    kept = dt[group].to_dataset().get(tail.yearly_var)
    if kept is None:
        return None
    if outcome.entity is not None:
        dim = next(d for d in kept.dims if d not in ("chain", "draw", "year"))
        kept = kept.sel({dim: outcome.entity})
    years = kept["year"].to_numpy()
    kept = kept.stack(path=("chain", "draw")).transpose("path", "year").to_numpy()
    fig = Figure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for data, color, label in (
        (kept, "C0", f"{kept.shape[0]} kept paths"),
        (tail.yearly, "C3", f"worst {tail.alpha:.2%} of all {tail.n_paths} paths (replayed)"),
    ):
        q05, q50, q95 = np.quantile(np.asarray(data, np.float64), [0.05, 0.5, 0.95], axis=0)
        ax.fill_between(years, q05, q95, color=color, alpha=0.2, linewidth=0)
        ax.plot(years, q50, color=color, label=f"{label}: median, 90% band")
    ax.set_xlabel("year")
    ax.set_ylabel(f"{tail.yearly_var} [{outcome.units}]")
    ax.set_title(f"The tail of {outcome.label}")
    ax.legend(loc="upper left", fontsize="small")
    return fig


def true_tail_prim(X: pd.DataFrame, y: np.ndarray, tail: TrueTail, outcome, columns):
    """PRIM on the true tail: the replayed worst ``tail.alpha`` of all paths (the cases) against
    the kept paths outside that tail (the background, standing for the other paths).

    Returns ``(PrimResult, stats)``: the chosen box's ``coverage`` (the share of the true tail
    inside it; exact, every tail path is a case) and its ``density`` and ``mass`` reweighted to
    all paths, ``alpha c / (alpha c + (1 - alpha) b)`` and ``alpha c + (1 - alpha) b``, with ``c``
    the coverage and ``b`` the share of the background inside the box. (The cases are
    oversampled against the background, so the PRIM object's own density is not the
    population's.)
    """
    from reports.discovery import prim

    names = list(tail.driver_names)
    cols = [c for c in columns if c in names]
    cases = pd.DataFrame({c: tail.drivers[:, names.index(c)].astype(np.float64) for c in cols})
    values = tail.values
    # the kept paths beyond the tail's least bad value are among the replayed cases already
    edge = values.min() if outcome.side == "high" else values.max()
    inside_tail = y >= edge if outcome.side == "high" else y <= edge
    background = X.loc[~inside_tail, cols].astype(np.float64)
    data = pd.concat([cases, background], ignore_index=True)
    bad = np.r_[np.ones(len(cases), bool), np.zeros(len(background), bool)]
    result = prim(data, bad)
    box = result.stats()
    c = box["coverage"]
    b = (box["n"] - c * len(cases)) / max(len(background), 1)
    a = tail.alpha
    stats = {
        "coverage": c,
        "density": a * c / (a * c + (1 - a) * b) if a * c + (1 - a) * b > 0 else np.nan,
        "mass": a * c + (1 - a) * b,
    }
    return result, stats
