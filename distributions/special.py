"""Families whose inverse CDF needs iteration: Beta, PERT, Gamma, StudentT.

The inverses (:mod:`._special`) run a fixed number of safeguarded Halley steps on
``jax.scipy.special.betainc`` / ``gammainc``, accurate to ~1e-6 relative in float32 for moderate
parameters (shape parameters up to a few hundred; beyond that JAX's float32 ``gammainc`` itself
limits accuracy to ~1e-5).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betainc, gammainc

from . import _special, constraints
from .base import DistributionError
from .continuous import _Simple


class Beta(_Simple):
    """Beta(a, b) on [0, 1]; a, b > 0."""

    arg_constraints = {"a": constraints.positive, "b": constraints.positive}
    support = constraints.unit_interval
    _params = ("a", "b")

    def __init__(self, a, b):
        super().__init__(a=a, b=b)

    def icdf(self, u):
        return _special.betaincinv(self.a, self.b, u)

    def cdf(self, x):
        return betainc(self.a, self.b, jnp.clip(x, 0.0, 1.0))

    def mean(self):
        return jnp.broadcast_to(self.a / (self.a + self.b), self.batch_shape)

    def variance(self):
        s = self.a + self.b
        return jnp.broadcast_to(self.a * self.b / (s * s * (s + 1.0)), self.batch_shape)


class PERT(_Simple):
    """Modified PERT(low, mode, high, lamb=4): ``low + (high - low) * Beta(alpha, beta)`` with
    ``alpha = 1 + lamb (mode - low) / (high - low)``, ``beta = 1 + lamb (high - mode) / (high - low)``.
    Mean ``(low + lamb * mode + high) / (lamb + 2)``.
    """

    arg_constraints = {
        "low": constraints.real,
        "mode": constraints.real,
        "high": constraints.real,
        "lamb": constraints.positive,
    }
    support = constraints.dependent("[low, high]")
    _params = ("low", "mode", "high", "lamb")

    def __init__(self, low, mode, high, lamb=4.0):
        super().__init__(low=low, mode=mode, high=high, lamb=lamb)

    def _validate_extra(self):
        lo, m, hi = (np.asarray(v) for v in (self.low, self.mode, self.high))
        if np.any(lo >= hi):
            raise DistributionError(f"PERT: need low < high, got low={lo}, high={hi}")
        if np.any((m < lo) | (m > hi)):
            raise DistributionError(f"PERT: mode={m} is outside [low, high] = [{lo}, {hi}]")

    @property
    def alpha(self):
        return 1.0 + self.lamb * (self.mode - self.low) / (self.high - self.low)

    @property
    def beta(self):
        return 1.0 + self.lamb * (self.high - self.mode) / (self.high - self.low)

    def icdf(self, u):
        return self.low + (self.high - self.low) * _special.betaincinv(self.alpha, self.beta, u)

    def cdf(self, x):
        z = jnp.clip((x - self.low) / (self.high - self.low), 0.0, 1.0)
        return betainc(self.alpha, self.beta, z)

    def mean(self):
        m = (self.low + self.lamb * self.mode + self.high) / (self.lamb + 2.0)
        return jnp.broadcast_to(m, self.batch_shape)

    def variance(self):
        a, b = self.alpha, self.beta
        s = a + b
        v = (self.high - self.low) ** 2 * a * b / (s * s * (s + 1.0))
        return jnp.broadcast_to(v, self.batch_shape)


class Gamma(_Simple):
    """Gamma(shape, rate): density ``rate^k x^(k-1) e^(-rate x) / Gamma(k)``; mean shape/rate."""

    arg_constraints = {"shape": constraints.positive, "rate": constraints.positive}
    support = constraints.positive
    _params = ("shape", "rate")

    def __init__(self, shape, rate=1.0):
        super().__init__(shape=shape, rate=rate)

    def icdf(self, u):
        return _special.gammaincinv(self.shape, u) / self.rate

    def cdf(self, x):
        return gammainc(self.shape, jnp.maximum(x, 0.0) * self.rate)

    def mean(self):
        return jnp.broadcast_to(self.shape / self.rate, self.batch_shape)

    def variance(self):
        return jnp.broadcast_to(self.shape / self.rate**2, self.batch_shape)


class StudentT(_Simple):
    """StudentT(df, loc=0, scale=1): ``loc + scale * T_df``.

    ``mean()`` is ``loc`` for df > 1 and nan otherwise; ``variance()`` is
    ``scale^2 df / (df - 2)`` for df > 2, ``inf`` for 1 < df <= 2 and nan for df <= 1.
    """

    arg_constraints = {
        "df": constraints.positive,
        "loc": constraints.real,
        "scale": constraints.positive,
    }
    support = constraints.real
    _params = ("df", "loc", "scale")

    def __init__(self, df, loc=0.0, scale=1.0):
        super().__init__(df=df, loc=loc, scale=scale)

    def icdf(self, u):
        return self.loc + self.scale * _special.student_t_icdf(self.df, u)

    def cdf(self, x):
        return _special.student_t_cdf(self.df, (x - self.loc) / self.scale)

    def mean(self):
        return jnp.broadcast_to(jnp.where(self.df > 1, self.loc, jnp.nan), self.batch_shape)

    def variance(self):
        df = self.df
        v = jnp.where(df > 2, self.scale**2 * df / jnp.where(df > 2, df - 2.0, 1.0), jnp.inf)
        return jnp.broadcast_to(jnp.where(df > 1, v, jnp.nan), self.batch_shape)
