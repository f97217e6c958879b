"""Closed-form continuous families: Normal, LogNormal, Uniform, Triangular, Logistic, Weibull.

All parameters broadcast; ``icdf(u)``/``cdf(x)`` broadcast with ``batch_shape``. Units of ``x``
are whatever the parameters are in (e.g. years, yen); probabilities are plain fractions.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import expit, gammaln, logit, ndtr, ndtri

from . import constraints
from .base import Distribution, DistributionError, as_param


class _Simple(Distribution):
    """Helper: store ``_params`` from keyword arguments as float arrays and validate."""

    def __init__(self, **params):
        for name in self._params:
            setattr(self, name, as_param(params[name]))
        self._validate()


class Normal(_Simple):
    """Normal(loc, scale): mean ``loc``, standard deviation ``scale > 0``."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    _params = ("loc", "scale")

    def __init__(self, loc=0.0, scale=1.0):
        super().__init__(loc=loc, scale=scale)

    def icdf(self, u):
        return self.loc + self.scale * ndtri(u)

    def cdf(self, x):
        return ndtr((x - self.loc) / self.scale)

    def mean(self):
        return jnp.broadcast_to(self.loc, self.batch_shape)

    def variance(self):
        return jnp.broadcast_to(self.scale**2, self.batch_shape)


class LogNormal(_Simple):
    """LogNormal(mu, sigma): ``log X ~ Normal(mu, sigma)`` (log-space parameters, sigma > 0)."""

    arg_constraints = {"mu": constraints.real, "sigma": constraints.positive}
    support = constraints.positive
    _params = ("mu", "sigma")

    def __init__(self, mu=0.0, sigma=1.0):
        super().__init__(mu=mu, sigma=sigma)

    def icdf(self, u):
        return jnp.exp(self.mu + self.sigma * ndtri(u))

    def cdf(self, x):
        safe = jnp.where(x > 0, x, 1.0)
        return jnp.where(x > 0, ndtr((jnp.log(safe) - self.mu) / self.sigma), 0.0)

    def mean(self):
        return jnp.broadcast_to(jnp.exp(self.mu + 0.5 * self.sigma**2), self.batch_shape)

    def variance(self):
        s2 = self.sigma**2
        return jnp.broadcast_to(jnp.expm1(s2) * jnp.exp(2 * self.mu + s2), self.batch_shape)


class Uniform(_Simple):
    """Uniform(low, high) on ``[low, high]``, ``low < high``."""

    arg_constraints = {"low": constraints.real, "high": constraints.real}
    support = constraints.dependent("[low, high]")
    _params = ("low", "high")

    def __init__(self, low=0.0, high=1.0):
        super().__init__(low=low, high=high)

    def _validate_extra(self):
        if np.any(np.asarray(self.low) >= np.asarray(self.high)):
            raise DistributionError(
                f"Uniform: need low < high, got low={self.low}, high={self.high}"
            )

    def icdf(self, u):
        return self.low + (self.high - self.low) * u

    def cdf(self, x):
        return jnp.clip((x - self.low) / (self.high - self.low), 0.0, 1.0)

    def mean(self):
        return jnp.broadcast_to(0.5 * (self.low + self.high), self.batch_shape)

    def variance(self):
        return jnp.broadcast_to((self.high - self.low) ** 2 / 12.0, self.batch_shape)


class Triangular(_Simple):
    """Triangular(low, mode, high) with ``low <= mode <= high`` and ``low < high``."""

    arg_constraints = {"low": constraints.real, "mode": constraints.real, "high": constraints.real}
    support = constraints.dependent("[low, high]")
    _params = ("low", "mode", "high")

    def __init__(self, low, mode, high):
        super().__init__(low=low, mode=mode, high=high)

    def _validate_extra(self):
        lo, m, hi = (np.asarray(v) for v in (self.low, self.mode, self.high))
        if np.any(lo >= hi):
            raise DistributionError(f"Triangular: need low < high, got low={lo}, high={hi}")
        if np.any((m < lo) | (m > hi)):
            raise DistributionError(f"Triangular: mode={m} is outside [low, high] = [{lo}, {hi}]")

    def icdf(self, u):
        a, c, b = self.low, self.mode, self.high
        fc = (c - a) / (b - a)
        left = a + jnp.sqrt(jnp.maximum(u * (b - a) * (c - a), 0.0))
        right = b - jnp.sqrt(jnp.maximum((1.0 - u) * (b - a) * (b - c), 0.0))
        return jnp.where(u < fc, left, right)

    def cdf(self, x):
        a, c, b = self.low, self.mode, self.high
        left = (x - a) ** 2 / ((b - a) * jnp.where(c > a, c - a, 1.0))
        right = 1.0 - (b - x) ** 2 / ((b - a) * jnp.where(b > c, b - c, 1.0))
        out = jnp.where(x <= c, left, right)
        return jnp.where(x <= a, 0.0, jnp.where(x >= b, 1.0, out))

    def mean(self):
        return jnp.broadcast_to((self.low + self.mode + self.high) / 3.0, self.batch_shape)

    def variance(self):
        a, c, b = self.low, self.mode, self.high
        v = (a * a + b * b + c * c - a * b - a * c - b * c) / 18.0
        return jnp.broadcast_to(v, self.batch_shape)


class Logistic(_Simple):
    """Logistic(loc, scale): ``cdf = expit((x - loc) / scale)``, scale > 0."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    _params = ("loc", "scale")

    def __init__(self, loc=0.0, scale=1.0):
        super().__init__(loc=loc, scale=scale)

    def icdf(self, u):
        return self.loc + self.scale * logit(u)

    def cdf(self, x):
        return expit((x - self.loc) / self.scale)

    def mean(self):
        return jnp.broadcast_to(self.loc, self.batch_shape)

    def variance(self):
        return jnp.broadcast_to((jnp.pi * self.scale) ** 2 / 3.0, self.batch_shape)


class Weibull(_Simple):
    """Weibull(shape k > 0, scale > 0): ``cdf = 1 - exp(-(x / scale)^k)`` for x >= 0."""

    arg_constraints = {"shape": constraints.positive, "scale": constraints.positive}
    support = constraints.nonnegative
    _params = ("shape", "scale")

    def __init__(self, shape, scale=1.0):
        super().__init__(shape=shape, scale=scale)

    def icdf(self, u):
        return self.scale * jnp.power(-jnp.log1p(-u), 1.0 / self.shape)

    def cdf(self, x):
        z = jnp.maximum(x, 0.0) / self.scale
        return -jnp.expm1(-jnp.power(z, self.shape))

    def mean(self):
        m = self.scale * jnp.exp(gammaln(1.0 + 1.0 / self.shape))
        return jnp.broadcast_to(m, self.batch_shape)

    def variance(self):
        g1 = jnp.exp(gammaln(1.0 + 1.0 / self.shape))
        g2 = jnp.exp(gammaln(1.0 + 2.0 / self.shape))
        return jnp.broadcast_to(self.scale**2 * (g2 - g1 * g1), self.batch_shape)
