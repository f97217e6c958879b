"""The quantile MCSE convention of the project, ArviZ's ``mcse(method="quantile")``: half the
distance between the order statistics at the 15.9% and 84.1% points of the rank distribution
Beta(ess p + 1, ess (1 - p) + 1) of the sample ``p`` quantile.

A leaf (NumPy and SciPy only, nothing of ours), so that the engine (``engine.mcse``: summary.csv,
calibration) and the reports (``reports.summaries``: VaR from kept draws and tail buffers) share
one definition; tests pin it to ``arviz_stats``' public ``mcse``.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

ONE_SIGMA = (0.1586553, 0.8413447)  # the rank's one-sigma points


def rank_interval(p: float, ess) -> np.ndarray:
    """(2, *ess.shape) probabilities at the one-sigma points of the rank distribution of the
    sample ``p`` quantile with effective sample size ``ess``."""
    ess = np.asarray(ess, np.float64)
    with np.errstate(invalid="ignore"):
        return stats.beta.ppf(
            np.reshape(ONE_SIGMA, (2,) + (1,) * ess.ndim), ess * p + 1, ess * (1 - p) + 1
        )


def quantile_mcse_ranks(n: int, p: float, ess) -> tuple[np.ndarray, np.ndarray]:
    """Ascending 0-based ranks (per element of ``ess``) of the two order statistics of ``n``
    sorted draws whose half distance is the MCSE of the ``p`` quantile."""
    pos = rank_interval(p, ess) * n - 1
    lo = np.floor(np.nan_to_num(np.maximum(pos[0], 0), nan=0.0)).astype(np.int64)
    hi = np.ceil(np.nan_to_num(np.minimum(pos[1], n - 1), nan=n - 1.0)).astype(np.int64)
    return lo, hi
