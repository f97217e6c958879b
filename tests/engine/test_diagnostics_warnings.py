import warnings

import numpy as np

from engine.results import _diagnostics


def test_constant_output_gives_nan_rhat_without_warnings():
    """An output constant in every chain (zero before launch) has 0/0 in R-hat: NaN, silently."""
    kept = np.zeros((4, 100, 3))
    kept[..., 1] = np.random.default_rng(0).normal(size=(4, 100))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ess, rhat = _diagnostics(kept, 100)
    assert np.isnan(rhat[0]) and abs(rhat[1] - 1) < 0.05
