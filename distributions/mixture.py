"""Mixture and Truncated distributions (both sample through ``icdf``, so they work in copulas)."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import constraints
from .base import Distribution, DistributionError, as_param, is_concrete

# Gauss-Legendre nodes/weights on (0, 1) for quantile-function quadrature: E[g(X)] = int g(Q(u)) du
_GL_X, _GL_W = np.polynomial.legendre.leggauss(256)
_GL_U = 0.5 * (_GL_X + 1.0)
_GL_W = 0.5 * _GL_W


def quantile_moments(dist: Distribution):
    """Mean and variance of ``dist`` by 256-point Gauss-Legendre quadrature of ``icdf`` over (0, 1).

    Accurate (~1e-5 relative) for bounded or light-tailed quantile functions; meaningless for
    distributions without finite moments. Shapes: ``batch_shape`` each.
    """
    u = jnp.asarray(_GL_U, dtype=jnp.result_type(float)).reshape(
        (-1,) + (1,) * len(dist.batch_shape)
    )
    w = jnp.asarray(_GL_W, dtype=u.dtype).reshape(u.shape)
    q = dist.icdf(u)
    m = jnp.sum(w * q, axis=0)
    v = jnp.sum(w * (q - m) ** 2, axis=0)
    return m, v


class Mixture(Distribution):
    """Finite mixture ``sum_i w_i F_i`` of scalar components (batch_shape ``()``).

    ``components``: list of k distributions; ``weights``: shape ``(k,)``, non-negative, summing to 1
    (within 1e-5; they are renormalised). ``icdf(u)`` bisects the mixture CDF between
    ``min_i Q_i(u)`` and ``max_i Q_i(u)`` (which always bracket the answer) for a fixed ``n_iter``
    steps, so it is jittable; meant for continuous components (for discrete ones the result is
    within the bisection tolerance of the jump, not exactly on it).
    """

    arg_constraints = {}
    support = constraints.real
    _params = ("components", "weights")
    _static = ("n_iter",)

    def __init__(self, components: Sequence[Distribution], weights, n_iter: int = 48):
        self.components = tuple(components)
        if len(self.components) == 0:
            raise DistributionError("Mixture: needs at least one component")
        for c in self.components:
            if not isinstance(c, Distribution):
                raise DistributionError(f"Mixture: component {c!r} is not a Distribution")
        w = as_param(weights)
        if is_concrete(weights):
            wn = np.asarray(weights, dtype=np.float64)
            if wn.shape != (len(self.components),):
                raise DistributionError(
                    f"Mixture: {wn.size} weights for {len(self.components)} components"
                )
            if np.any(wn < 0) or abs(wn.sum() - 1.0) > 1e-5:
                raise DistributionError(
                    f"Mixture: weights {wn.tolist()} must be non-negative and sum to 1"
                )
            for c in self.components:
                if tuple(c.batch_shape) != ():
                    raise DistributionError("Mixture: components must be scalar (batch_shape ())")
        self.weights = w / jnp.sum(w)
        self.n_iter = int(n_iter)

    @property
    def batch_shape(self):
        return ()

    def cdf(self, x):
        x = jnp.asarray(x)
        return sum(w * c.cdf(x) for w, c in zip(self._w_list(), self.components))

    def _w_list(self):
        return [self.weights[i] for i in range(len(self.components))]

    def icdf(self, u):
        u = jnp.asarray(u, dtype=jnp.result_type(float))
        qs = [c.icdf(u) for c in self.components]
        lo = qs[0]
        hi = qs[0]
        for q in qs[1:]:
            lo = jnp.minimum(lo, q)
            hi = jnp.maximum(hi, q)

        def body(_, s):
            lo, hi = s
            mid = 0.5 * (lo + hi)
            below = self.cdf(mid) < u
            return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

        lo, hi = jax.lax.fori_loop(0, self.n_iter, body, (lo, hi))
        return 0.5 * (lo + hi)

    def mean(self):
        return sum(w * c.mean() for w, c in zip(self._w_list(), self.components))

    def variance(self):
        m = self.mean()
        second = sum(
            w * (c.variance() + c.mean() ** 2) for w, c in zip(self._w_list(), self.components)
        )
        return second - m * m


class Truncated(Distribution):
    """``base`` conditioned on ``low <= X <= high`` (``None`` = open end): true truncation.

    ``icdf(u) = base.icdf(F(low) + u (F(high) - F(low)))`` (no clipping); ``cdf`` rescales the
    base CDF. Mean/variance by quadrature (:func:`quantile_moments`). Intended for continuous bases.
    Shapes follow ``base.batch_shape`` broadcast with ``low``/``high``.
    """

    arg_constraints = {}
    support = constraints.dependent("[low, high]")
    _params = ("base", "low", "high")

    def __init__(self, base: Distribution, low=None, high=None):
        if not isinstance(base, Distribution):
            raise DistributionError(f"Truncated: base {base!r} is not a Distribution")
        self.base = base
        self.low = None if low is None else as_param(low)
        self.high = None if high is None else as_param(high)
        if is_concrete(base, self.low, self.high):
            if self.low is not None and self.high is not None:
                if np.any(np.asarray(self.low) >= np.asarray(self.high)):
                    raise DistributionError(
                        f"Truncated: need low < high, got low={low}, high={high}"
                    )
            mass = np.asarray(self._f_high() - self._f_low())
            if np.any(mass <= 0):
                raise DistributionError(
                    f"Truncated: [low, high] = [{low}, {high}] has zero probability under {base!r}"
                )

    def _f_low(self):
        return 0.0 if self.low is None else self.base.cdf(self.low)

    def _f_high(self):
        return 1.0 if self.high is None else self.base.cdf(self.high)

    @property
    def batch_shape(self):
        shapes = [self.base.batch_shape]
        shapes += [jnp.shape(v) for v in (self.low, self.high) if v is not None]
        return tuple(jnp.broadcast_shapes(*shapes))

    def icdf(self, u):
        fl, fh = self._f_low(), self._f_high()
        x = self.base.icdf(fl + u * (fh - fl))
        # guard float rounding at the ends (never moves a value by more than an ulp of the bound)
        if self.low is not None:
            x = jnp.maximum(x, self.low)
        if self.high is not None:
            x = jnp.minimum(x, self.high)
        return x

    def cdf(self, x):
        fl, fh = self._f_low(), self._f_high()
        return jnp.clip((self.base.cdf(x) - fl) / (fh - fl), 0.0, 1.0)

    def mean(self):
        return quantile_moments(self)[0]

    def variance(self):
        return quantile_moments(self)[1]
