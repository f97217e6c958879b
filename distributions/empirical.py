"""Empirical distribution with a piecewise-linear CDF through ``(x_i, p_i)`` knots."""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np

from . import constraints
from .base import Distribution, DistributionError, as_param, is_concrete


def check_quantile_table(quantiles: Mapping, who: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate a ``{p: x}`` table: p in (0, 1) (0 and 1 allowed as explicit ends), x finite and
    strictly increasing in p. Returns ``(p, x)`` float64 arrays sorted by p."""
    if not isinstance(quantiles, Mapping) or len(quantiles) == 0:
        raise DistributionError(f"{who}: quantiles must be a non-empty mapping {{p: x}}")
    try:
        items = sorted((float(p), float(x)) for p, x in quantiles.items())
    except (TypeError, ValueError) as e:
        raise DistributionError(f"{who}: quantiles must map numbers to numbers: {e}") from None
    p = np.array([i[0] for i in items])
    x = np.array([i[1] for i in items])
    bad = (p < 0) | (p > 1) | ~np.isfinite(p)
    if bad.any():
        raise DistributionError(f"{who}: probabilities {p[bad].tolist()} are outside (0, 1)")
    if not np.isfinite(x).all():
        raise DistributionError(f"{who}: quantile values must be finite, got {x.tolist()}")
    dx = np.diff(x)
    if (dx <= 0).any():
        i = int(np.argmax(dx <= 0))
        raise DistributionError(
            f"{who}: quantiles are not strictly increasing: p={p[i]:g} -> {x[i]:g} but "
            f"p={p[i + 1]:g} -> {x[i + 1]:g}"
        )
    return p, x


class Empirical(Distribution):
    """Piecewise-linear CDF through knots ``(xs[i], ps[i])`` with ``ps[0] = 0``, ``ps[-1] = 1``.

    ``xs``, ``ps``: 1-D arrays of shape ``(n,)`` (batch_shape ``()``). Build with
    :meth:`from_samples` or :meth:`from_quantiles`. ``icdf`` is linear interpolation of ``xs`` over
    ``ps`` (so the density is piecewise constant); mean and variance are exact for that density.
    """

    arg_constraints = {}
    support = constraints.dependent("[xs[0], xs[-1]]")
    _params = ("xs", "ps")

    def __init__(self, xs, ps):
        self.xs = as_param(xs)
        self.ps = as_param(ps)
        if is_concrete(xs, ps):
            x = np.asarray(xs, dtype=np.float64)
            p = np.asarray(ps, dtype=np.float64)
            if x.ndim != 1 or x.shape != p.shape or x.size < 2:
                raise DistributionError("Empirical: xs and ps must be 1-D of equal length >= 2")
            if abs(p[0]) > 1e-12 or abs(p[-1] - 1) > 1e-12 or np.any(np.diff(p) < 0):
                raise DistributionError("Empirical: ps must rise from 0 to 1")
            if np.any(np.diff(x) < 0):
                raise DistributionError("Empirical: xs must be non-decreasing")

    @classmethod
    def from_samples(cls, samples) -> Empirical:
        """Sorted samples at plotting positions ``p_i = i / (n - 1)`` (``i = 0..n-1``), so
        ``icdf(u)`` equals ``numpy.quantile(samples, u)`` (linear, "type 7"). Needs n >= 2."""
        s = np.sort(np.asarray(samples, dtype=np.float64).ravel())
        if s.size < 2 or not np.isfinite(s).all():
            raise DistributionError("Empirical.from_samples: need >= 2 finite samples")
        return cls(s, np.linspace(0.0, 1.0, s.size))

    @classmethod
    def from_quantiles(cls, quantiles: Mapping) -> Empirical:
        """Knots from a ``{p: x}`` table (>= 2 entries, x strictly increasing in p).

        If p = 0 or p = 1 is not given, the outermost segment is extended linearly to p = 0 / 1
        (bounded support, uniform tails with the slope of the nearest segment).
        """
        p, x = check_quantile_table(quantiles, "Empirical.from_quantiles")
        if p.size < 2:
            raise DistributionError("Empirical.from_quantiles: need at least 2 quantiles")
        if p[0] > 0:
            slope = (x[1] - x[0]) / (p[1] - p[0])
            x = np.concatenate([[x[0] - slope * p[0]], x])
            p = np.concatenate([[0.0], p])
        if p[-1] < 1:
            slope = (x[-1] - x[-2]) / (p[-1] - p[-2])
            x = np.concatenate([x, [x[-1] + slope * (1 - p[-1])]])
            p = np.concatenate([p, [1.0]])
        return cls(x, p)

    @property
    def batch_shape(self):
        return ()

    def icdf(self, u):
        return jnp.interp(u, self.ps, self.xs)

    def cdf(self, x):
        return jnp.interp(x, self.xs, self.ps, left=0.0, right=1.0)

    def mean(self):
        dp = jnp.diff(self.ps)
        return jnp.sum(dp * 0.5 * (self.xs[1:] + self.xs[:-1]))

    def variance(self):
        dp = jnp.diff(self.ps)
        a, b = self.xs[:-1], self.xs[1:]
        m = self.mean()
        # centre first to limit cancellation
        a, b = a - m, b - m
        return jnp.sum(dp * (a * a + a * b + b * b) / 3.0)
