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


def _node_probabilities(dtype: np.dtype, n: int) -> np.ndarray:
    """``n`` probabilities, logit-spaced: a quarter in each tail (down to the smallest normal
    float, up to 1 - eps/2) and half over logit in [-10, 10] where the mass is."""
    fi = np.finfo(dtype)
    z_min, z_max = float(np.log(fi.tiny)), float(np.log((1 - fi.eps / 2) / (fi.eps / 2)))
    tail = n // 4
    z = np.concatenate(
        [
            np.linspace(z_min, -10.0, tail, endpoint=False),
            np.linspace(-10.0, 10.0, n - 2 * tail, endpoint=False),
            np.linspace(10.0, z_max, tail),
        ]
    )
    return np.clip(1.0 / (1.0 + np.exp(-z)), fi.tiny, 1.0 - fi.eps / 2)


class Mixture(Distribution):
    """Finite mixture ``sum_i w_i F_i`` of scalar components (batch_shape ``()``).

    ``components``: list of k distributions; ``weights``: shape ``(k,)``, non-negative, summing to 1
    (within 1e-5; they are renormalised).

    ``icdf(u)`` inverts the mixture CDF exactly enough for float32/float64 in a fixed number of
    steps, so it is jittable and fast:

    1. a node table: each component's quantiles at ``nodes_per_component`` probabilities (logit
       spaced from the smallest positive float to 1 - eps/2, so the nodes bracket every
       representable ``u``), sorted, with the mixture CDF ``F`` and its left limit ``F(x-)`` at
       each node (computed on every call: k x 256 evaluations, negligible against a batch);
    2. ``searchsorted`` finds the nodes with ``F(x_{j-1}) < u <= F(x_j)``. When
       ``F(x_j-) < u`` the answer is the node itself (an atom, e.g. a point-mass component);
    3. otherwise ``n_iter`` Illinois (modified regula falsi) steps inside ``[x_{j-1}, x_j)``.

    Each Illinois step costs one mixture CDF; 4 steps reach float32 precision (|F(x) - u| of a few
    1e-7) on the tested mixtures (separated modes, heavy tails, uniform and point-mass parts), 4-6x
    faster than bisection over the components' quantile bracket. A discrete component's atoms of
    mass below the node spacing may fall inside an interval, where the result is within that
    interval rather than on the atom.
    """

    arg_constraints = {}
    support = constraints.real
    _params = ("components", "weights")
    _static = ("n_iter", "nodes_per_component")

    def __init__(
        self,
        components: Sequence[Distribution],
        weights,
        n_iter: int = 4,
        nodes_per_component: int = 256,
    ):
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
        self.nodes_per_component = int(nodes_per_component)

    @property
    def batch_shape(self):
        return ()

    def cdf(self, x):
        x = jnp.asarray(x)
        return sum(w * c.cdf(x) for w, c in zip(self._w_list(), self.components))

    def _w_list(self):
        return [self.weights[i] for i in range(len(self.components))]

    def _nodes(self, dtype):
        """(x, F(x), F(x-)) at the sorted node table; each shape (k * nodes_per_component,)."""
        probs = jnp.asarray(_node_probabilities(np.dtype(dtype), self.nodes_per_component), dtype)
        x = jnp.sort(jnp.concatenate([c.icdf(probs).astype(dtype) for c in self.components]))
        f = jax.lax.cummax(self.cdf(x).astype(dtype))
        f_left = jnp.minimum(jax.lax.cummax(self.cdf(jnp.nextafter(x, -jnp.inf)).astype(dtype)), f)
        return x, f, f_left

    def icdf(self, u):
        dtype = jnp.result_type(float)
        fi = jnp.finfo(dtype)
        u = jnp.clip(jnp.asarray(u, dtype), fi.tiny, 1.0 - fi.eps / 2)
        x_n, f_n, fl_n = self._nodes(dtype)
        j = jnp.clip(jnp.searchsorted(f_n, u, side="left"), 1, x_n.shape[0] - 1)
        at_node = fl_n[j] < u  # u falls in the jump (or the last ulp) at node j: Q(u) = x_j
        lo, hi = x_n[j - 1], jnp.nextafter(x_n[j], -jnp.inf)
        f_lo, f_hi = f_n[j - 1] - u, fl_n[j] - u  # f_lo < 0 <= f_hi

        def secant(lo, hi, f_lo, f_hi):
            d = f_hi - f_lo
            x = lo - f_lo * (hi - lo) / jnp.where(d > 0, d, 1.0)
            return jnp.where((d > 0) & (x >= lo) & (x <= hi), x, 0.5 * (lo + hi))

        def illinois(_, s):
            lo, hi, f_lo, f_hi, last = s
            x = secant(lo, hi, f_lo, f_hi)
            fx = self.cdf(x) - u
            below = fx < 0
            new_lo, new_f_lo = jnp.where(below, x, lo), jnp.where(below, fx, f_lo)
            new_hi, new_f_hi = jnp.where(below, hi, x), jnp.where(below, f_hi, fx)
            # an end that survives twice in a row has its value halved (keeps convergence superlinear)
            new_f_hi = jnp.where(below & (last < 0), 0.5 * new_f_hi, new_f_hi)
            new_f_lo = jnp.where(~below & (last > 0), 0.5 * new_f_lo, new_f_lo)
            return new_lo, new_hi, new_f_lo, new_f_hi, jnp.where(below, -1, 1).astype(jnp.int8)

        start = (lo, hi, f_lo, f_hi, jnp.zeros(u.shape, jnp.int8))
        lo, hi, f_lo, f_hi, _ = jax.lax.fori_loop(0, self.n_iter, illinois, start)
        x = jnp.clip(secant(lo, hi, f_lo, f_hi), lo, hi)
        return jnp.where(at_node, x_n[j], x)

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
