"""The true tail of a headline outcome: its worst paths over *all* n paths, replayed.

The engine's tail buffers (``engine.tails``) name the worst paths of the whole run by global
index; :meth:`engine.results.SimulationResult.replay` re-simulates them with their drivers and
yearly trajectories. From them: the tail KS distance of each driver on the true tail (replayed
tail drivers against the kept sample, which stands for all paths) and a fan chart of the tail's
trajectories next to that of the kept paths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

MAX_TAIL_PATHS = 2000  # replayed per outcome at most (the tail probability shrinks to fit)


@dataclass
class TrueTail:
    """The worst ``alpha`` of all paths of one outcome: indices (worst first) and their replay."""

    alpha: float
    indices: np.ndarray
    replay: object  # engine.replay.Replay
    values: np.ndarray | None = None  # (m,) the outcome on the replayed paths


def true_tail(result, outcome, alpha: float, max_paths: int = MAX_TAIL_PATHS) -> TrueTail | None:
    """Replay the worst ``min(alpha, the buffers' alpha)`` of all paths of ``outcome`` (at most
    ``max_paths``); None when the run has no tail buffer for it on its bad side."""
    tails = result.raw.tails
    t = tails.get(outcome.group, {}).get(outcome.variable)
    if t is None or t["side"] != outcome.side:
        return None
    n = result.raw.n_paths
    m = min(math.ceil(min(alpha, result.raw.tail_layout.alpha) * n), max_paths)
    idx = result.tail_paths(outcome.group, outcome.variable, outcome.entity, n=m)
    if len(idx) < 2:
        return None
    replay = result.replay(idx)
    values = np.asarray(replay.scalars[outcome.group][outcome.variable], np.float64)
    if outcome.entity is not None:
        entities = list(result.scalars(outcome.group, outcome.variable).columns)
        values = values[:, entities.index(outcome.entity)]
    return TrueTail(len(idx) / n, idx, replay, values.reshape(len(idx)))


def true_tail_ks(X: pd.DataFrame, tail: TrueTail) -> pd.Series:
    """Two-sample KS distance per driver of ``X`` (kept paths) between the replayed true tail
    and the kept sample; NaN for drivers the replay does not have."""
    from scipy.stats import ks_2samp

    names = list(tail.replay.driver_names)
    out = {}
    for col in X.columns:
        if col not in names:
            out[col] = np.nan
            continue
        x_tail = tail.replay.drivers[:, names.index(col)].astype(np.float64)
        out[col] = float(ks_2samp(x_tail, X[col].to_numpy(np.float64)).statistic)
    return pd.Series(out, name="true_tail_ks")


def tail_fan_chart(result, outcome, tail: TrueTail) -> Figure | None:
    """Median and 5-95% band by year of the true tail's replayed trajectories, over those of
    the kept trajectories; None when the outcome has no yearly series (e.g. a cumulative
    total of all domains)."""
    from engine.results import base_name

    group = f"{outcome.group}_yearly"
    var = base_name(outcome.variable)
    kept = result.raw.trajectories.get(group, {}).get(var)
    replayed = tail.replay.trajectories.get(group, {}).get(var)
    if kept is None or replayed is None:
        return None
    kept = kept.reshape((-1,) + kept.shape[2:])
    if outcome.entity is not None:
        ids = list(result.entity_coords(group, var)[1])
        kept, replayed = (
            kept[..., ids.index(outcome.entity)],
            replayed[..., ids.index(outcome.entity)],
        )
    years = result.years
    fig = Figure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for data, color, label in (
        (kept, "C0", f"{kept.shape[0]} kept paths"),
        (replayed, "C3", f"worst {tail.alpha:.2%} of all {result.raw.n_paths} paths (replayed)"),
    ):
        q05, q50, q95 = np.quantile(np.asarray(data, np.float64), [0.05, 0.5, 0.95], axis=0)
        ax.fill_between(years, q05, q95, color=color, alpha=0.2, linewidth=0)
        ax.plot(years, q50, color=color, label=f"{label}: median, 90% band")
    ax.set_xlabel("year")
    ax.set_ylabel(f"{var} [{outcome.units}]")
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

    names = list(tail.replay.driver_names)
    cols = [c for c in columns if c in names]
    cases = pd.DataFrame(
        {c: tail.replay.drivers[:, names.index(c)].astype(np.float64) for c in cols}
    )
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
