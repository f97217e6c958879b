"""Why the downside happens: sensitivity indices over a Monte Carlo sample (one import path).

The tools live in modules of one job each; this module re-exports their public names:

* :mod:`reports.given_data` -- indices from the sample the engine already drew, correlated
  drivers included: :func:`first_order`, :func:`spearman`, :func:`pawn` and
  :func:`given_data_indices` (all three with bootstrap intervals).
* :mod:`reports.sobol` -- Saltelli / Sobol indices through a model on an independent
  quasi-random design: :func:`saltelli_design`, :func:`stack_design`, :func:`unstack_outputs`,
  :func:`sobol_indices` and the one-call :func:`sobol`.
* :mod:`reports.tail_views` -- views aimed at the tail rather than the variance:
  :func:`tail_sensitivity` and :func:`tornado`.
* :mod:`reports.driver_sample` -- the input checks, equal-count bins and ranks they share with
  scenario discovery (:mod:`reports.discovery`).

All functions are pure: they take arrays / frames and return new pandas objects.
"""

from __future__ import annotations

from reports.given_data import first_order, given_data_indices, pawn, spearman
from reports.sobol import saltelli_design, sobol, sobol_indices, stack_design, unstack_outputs
from reports.tail_views import tail_sensitivity, tornado

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
