"""The true tails of the headline outcomes: the worst paths of all n paths, re-simulated.

Combines the engine (its tail buffers and :meth:`engine.results.SimulationResult.replay`) with
the reports (``reports.tail_replay.TrueTail``, the arrays that ``reports.explain`` analyses).
"""

from __future__ import annotations

import math

import numpy as np

from engine.results import base_name
from reports.tail_replay import TrueTail

MAX_TAIL_PATHS = 2000  # replayed per outcome at most (the tail probability shrinks to fit)


def true_tail(result, outcome, alpha: float, max_paths: int = MAX_TAIL_PATHS) -> TrueTail | None:
    """Replay the worst ``min(alpha, the buffers' alpha)`` of all paths of ``outcome`` (at most
    ``max_paths``); None when the run has no tail buffer for it on its bad side."""
    t = result.raw.tails.get(outcome.group, {}).get(outcome.variable)
    if t is None or t["side"] != outcome.side:
        return None
    n = result.raw.n_paths
    m = min(math.ceil(min(alpha, result.raw.tail_layout.alpha) * n), max_paths)
    idx = result.tail_paths(outcome.group, outcome.variable, outcome.entity, n=m)
    if len(idx) < 2:
        return None
    replay = result.replay(idx)
    values = np.asarray(replay.scalars[outcome.group][outcome.variable], np.float64)
    yearly_var = base_name(outcome.variable)
    yearly = replay.trajectories.get(f"{outcome.group}_yearly", {}).get(yearly_var)
    if outcome.entity is not None:
        entities = list(result.scalars(outcome.group, outcome.variable).columns)
        col = entities.index(outcome.entity)
        values = values[:, col]
        yearly = None if yearly is None else yearly[..., col]
    return TrueTail(
        alpha=len(idx) / n,
        n_paths=n,
        indices=np.asarray(idx),
        values=values.reshape(len(idx)),
        drivers=np.asarray(replay.drivers),
        driver_names=tuple(replay.driver_names),
        yearly=None if yearly is None else np.asarray(yearly, np.float64),
        yearly_var=yearly_var if yearly is not None else None,
    )


def true_tails(result, outcomes, alpha: float) -> dict:
    """``{outcome label: TrueTail}`` for the outcomes that have a tail buffer on their bad side
    (nothing for a result without buffers)."""
    out = {}
    for outcome in outcomes:
        tt = true_tail(result, outcome, alpha)
        if tt is not None:
            out[outcome.label] = tt
    return out


def write_explanation_of(result, run_dir, dt, setting="auto", formats=("png",)) -> list:
    """``reports.explain.write_explanation`` for a run's result, with the true tails of its
    headline outcomes replayed when the explanation is on."""
    from reports.explain import SENSITIVITY_OUTCOMES, TAIL, explanation_enabled, write_explanation

    n = result.raw.n_paths
    outcomes = [o.resolved(dt) for o in SENSITIVITY_OUTCOMES]
    tails = true_tails(result, outcomes, TAIL) if explanation_enabled(n, setting) else {}
    return write_explanation(run_dir, dt, n, setting, formats, true_tails=tails)
