"""Discrete families (Bernoulli, Categorical, Poisson) and PointMass.

``icdf(u)`` follows scipy's ``ppf`` convention: the smallest value ``k`` with ``cdf(k) >= u``.
Values are returned as floats (so they mix with continuous draws in arithmetic).
"""

from __future__ import annotations

import jax.numpy as jnp

from . import _special, constraints
from .base import Distribution, DistributionError, as_param
from .continuous import _Simple


class Bernoulli(_Simple):
    """Bernoulli(p): 1 with probability ``p`` in [0, 1], else 0."""

    arg_constraints = {"p": constraints.unit_interval}
    support = constraints.interval(0, 1)
    is_discrete = True
    _params = ("p",)

    def __init__(self, p):
        super().__init__(p=p)

    def icdf(self, u):
        return jnp.where(u > 1.0 - self.p, 1.0, 0.0)

    def cdf(self, x):
        return jnp.where(x < 0, 0.0, jnp.where(x < 1, 1.0 - self.p, 1.0))

    def mean(self):
        return jnp.broadcast_to(self.p, self.batch_shape)

    def variance(self):
        return jnp.broadcast_to(self.p * (1.0 - self.p), self.batch_shape)


class Categorical(Distribution):
    """Categorical(probs): values ``0..k-1``; ``probs`` has shape ``batch_shape + (k,)`` and must sum
    to 1 (within 1e-5) along the last axis.
    """

    arg_constraints = {"probs": constraints.simplex}
    support = constraints.dependent("{0, ..., k-1}")
    is_discrete = True
    _params = ("probs",)

    def __init__(self, probs):
        self.probs = as_param(probs)
        if jnp.ndim(self.probs) < 1:
            raise DistributionError("Categorical: probs must be a vector (last axis = categories)")
        self._validate()

    @property
    def batch_shape(self):
        return tuple(jnp.shape(self.probs)[:-1])

    @property
    def _cum(self):
        return jnp.cumsum(self.probs, axis=-1)

    def icdf(self, u):
        cum = self._cum[..., :-1]  # last cumulative prob is 1 by construction
        return jnp.sum(cum < jnp.asarray(u)[..., None], axis=-1).astype(self.probs.dtype)

    def cdf(self, x):
        x = jnp.asarray(x)
        k = jnp.arange(self.probs.shape[-1], dtype=self.probs.dtype)
        return jnp.sum(jnp.where(k <= x[..., None], self.probs, 0.0), axis=-1)

    def mean(self):
        k = jnp.arange(self.probs.shape[-1], dtype=self.probs.dtype)
        return jnp.sum(self.probs * k, axis=-1)

    def variance(self):
        k = jnp.arange(self.probs.shape[-1], dtype=self.probs.dtype)
        m = self.mean()
        return jnp.sum(self.probs * k * k, axis=-1) - m * m


class Poisson(_Simple):
    """Poisson(rate), rate > 0. ``icdf`` by integer bisection on ``gammaincc``: equals scipy's ``ppf``
    for rates up to ~50; for rates in the hundreds JAX's float32 ``gammaincc`` (~1e-3 error) can
    shift a quantile by 1.
    """

    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative_integer
    is_discrete = True
    _params = ("rate",)

    def __init__(self, rate):
        super().__init__(rate=rate)

    def icdf(self, u):
        return _special.poisson_icdf(self.rate, u)

    def cdf(self, x):
        return _special.poisson_cdf(self.rate, x)

    def mean(self):
        return jnp.broadcast_to(self.rate, self.batch_shape)

    def variance(self):
        return jnp.broadcast_to(self.rate, self.batch_shape)


class PointMass(_Simple):
    """PointMass(value): a constant (degenerate distribution)."""

    arg_constraints = {"value": constraints.real}
    support = constraints.dependent("{value}")
    is_discrete = True
    _params = ("value",)

    def __init__(self, value):
        super().__init__(value=value)

    def icdf(self, u):
        return jnp.broadcast_to(self.value, jnp.broadcast_shapes(jnp.shape(u), self.batch_shape))

    def cdf(self, x):
        return jnp.where(jnp.asarray(x) >= self.value, 1.0, 0.0)

    def mean(self):
        return self.value

    def variance(self):
        return jnp.zeros_like(self.value)
