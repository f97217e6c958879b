"""Keelin metalog distribution (unbounded, semi-bounded via log, bounded via logit).

Quantile function with k <= 5 terms, ``L = log(y / (1 - y))``, ``c = y - 0.5``::

    M(y) = a1 + a2 L + a3 c L + a4 c + a5 c^2 (+ a6 c^2 L for k = 6, unused here)

and ``x = M`` (unbounded), ``x = low + exp(M)`` (lower bound), ``x = high - exp(-M)`` (upper
bound), ``x = (low + high e^M) / (1 + e^M)`` (both). Reference: T. Keelin, "The Metalog
Distributions", Decision Analysis 13(4), 2016.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from . import constraints
from .base import Distribution, DistributionError, as_param
from .empirical import check_quantile_table
from .mixture import quantile_moments

_MAX_TERMS = 5
# dense feasibility grid in y: logit-spaced from 1e-6 to 1 - 1e-6
_GRID = 1.0 / (1.0 + np.exp(-np.linspace(-13.8, 13.8, 4001)))


def _basis(y, k, xp=np):
    """Design matrix (..., k) of the metalog terms at probabilities ``y``."""
    L = xp.log(y) - xp.log1p(-y)
    c = y - 0.5
    cols = [xp.ones_like(y), L, c * L, c, c * c][:k]
    return xp.stack(cols, axis=-1)


def _basis_deriv(y, k):
    """d(basis)/dy, numpy float64, shape (..., k)."""
    L = np.log(y) - np.log1p(-y)
    c = y - 0.5
    dL = 1.0 / (y * (1.0 - y))
    cols = [np.zeros_like(y), dL, L + c * dL, np.ones_like(y), 2.0 * c][:k]
    return np.stack(cols, axis=-1)


class Metalog(Distribution):
    """Metalog with coefficients ``a`` (shape ``(k,)``, 2 <= k <= 5) and optional bounds.

    Build with :meth:`fit`. ``icdf`` is closed form; ``cdf`` bisects ``icdf`` in ``y`` (60 steps,
    jittable). ``mean``/``variance`` by quadrature of ``icdf`` (log-bounded forms can have very
    heavy tails; the quadrature then under-reports, it does not detect infinite moments).
    batch_shape ``()``; bounds are static python floats or None.
    """

    arg_constraints = {}
    support = constraints.dependent("(low, high) per bounds")
    _params = ("a",)
    _static = ("low", "high")

    def __init__(self, a, low=None, high=None):
        self.a = as_param(a)
        self.low = None if low is None else float(low)
        self.high = None if high is None else float(high)
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise DistributionError(f"Metalog: need low < high, got bounds ({low}, {high})")

    @classmethod
    def fit(cls, quantiles: Mapping, bounds=(None, None), who: str = "Metalog") -> Metalog:
        """Fit to a ``{p: x}`` table with >= 3 entries; ``bounds = (low|None, high|None)``.

        Uses ``k = min(n, 5)`` terms: exact interpolation for n <= 5, least squares beyond.
        Raises :class:`DistributionError` (naming the quantiles) when the fitted quantile function
        is not strictly increasing on a dense grid of p in [1e-6, 1 - 1e-6].
        """
        p, x = check_quantile_table(quantiles, who)
        if p.size < 3:
            raise DistributionError(f"{who}: needs at least 3 quantiles, got {p.size}")
        if np.any((p <= 0) | (p >= 1)):
            raise DistributionError(f"{who}: probabilities must be strictly inside (0, 1): {p}")
        low, high = (None, None) if bounds is None else tuple(bounds)
        low = None if low is None else float(low)
        high = None if high is None else float(high)
        if low is not None and high is not None and low >= high:
            raise DistributionError(f"{who}: bounds need low < high, got [{low}, {high}]")
        if (low is not None and np.any(x <= low)) or (high is not None and np.any(x >= high)):
            raise DistributionError(
                f"{who}: quantiles {x.tolist()} must lie strictly inside bounds [{low}, {high}]"
            )
        z = cls._to_unbounded(x, low, high)
        k = min(p.size, _MAX_TERMS)
        A = _basis(p, k)
        a, *_ = np.linalg.lstsq(A, z, rcond=None)
        slope = _basis_deriv(_GRID, k) @ a
        if not np.all(slope > 0):
            bad = _GRID[slope <= 0]
            table = ", ".join(f"{pp:g}: {xx:g}" for pp, xx in zip(p, x))
            raise DistributionError(
                f"{who}: infeasible metalog for quantiles {{{table}}}: the fitted quantile "
                f"function is not increasing for p in [{bad.min():.3g}, {bad.max():.3g}] "
                "(the spacing of the quantiles is too skewed for a metalog; add quantiles, use "
                "bounds, or choose another family)"
            )
        return cls(a, low, high)

    @staticmethod
    def _to_unbounded(x, low, high):
        if low is not None and high is not None:
            return np.log((x - low) / (high - x))
        if low is not None:
            return np.log(x - low)
        if high is not None:
            return -np.log(high - x)
        return x

    @property
    def batch_shape(self):
        return ()

    def icdf(self, u):
        u = jnp.asarray(u, dtype=self.a.dtype)
        m = _basis(u, self.a.shape[-1], xp=jnp) @ self.a
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            return lo + (hi - lo) * jax.nn.sigmoid(m)
        if lo is not None:
            return lo + jnp.exp(m)
        if hi is not None:
            return hi - jnp.exp(-m)
        return m

    def cdf(self, x, n_iter: int = 60):
        x = jnp.asarray(x, dtype=self.a.dtype)
        lo = jnp.zeros_like(x)
        hi = jnp.ones_like(x)

        def body(_, s):
            lo, hi = s
            mid = 0.5 * (lo + hi)
            below = self.icdf(mid) < x
            return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

        lo, hi = jax.lax.fori_loop(0, n_iter, body, (lo, hi))
        return 0.5 * (lo + hi)

    def mean(self):
        return quantile_moments(self)[0]

    def variance(self):
        return quantile_moments(self)[1]
