"""Base class for all distributions, the error type, and JAX pytree plumbing.

Conventions
-----------
* Parameters are stored as float arrays (the default JAX float dtype: float32 unless x64 is on).
  They broadcast against each other; their broadcast shape is ``batch_shape``.
* ``icdf(u)`` is the quantile function: ``u`` (any shape) broadcasts against ``batch_shape``.
* ``sample(key, shape)`` returns an array of shape ``shape + batch_shape`` obtained by inverse
  transform sampling ``icdf(U)`` with ``U ~ Uniform[tiny, 1)``, so every family plugs into copulas
  and common random numbers. No rejection samplers are used anywhere.
* Every distribution is a JAX pytree (parameters are leaves), so it can be passed through
  ``jit``/``vmap``. Parameter validation runs in the constructor only when the parameters are
  concrete (not tracers); failures raise :class:`DistributionError`.
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from . import constraints


class DistributionError(ValueError):
    """Invalid distribution parameters (raised before any sampling)."""


def float_dtype():
    """The default JAX float dtype (float32 unless ``jax_enable_x64`` is on)."""
    return jnp.result_type(float)


def is_concrete(*xs) -> bool:
    """True when none of ``xs`` (pytrees) contains a JAX tracer."""
    leaves = jax.tree_util.tree_leaves(xs)
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in leaves)


def as_param(x):
    """Convert a python number / array-like to a float JAX array (tracers pass through)."""
    if isinstance(x, jax.core.Tracer):
        return x.astype(float_dtype()) if not jnp.issubdtype(x.dtype, jnp.floating) else x
    return jnp.asarray(x, dtype=float_dtype())


def uniform_open(key, shape, dtype=None):
    """Uniforms in the open interval (0, 1): ``jax.random.uniform`` on ``[tiny, 1)``.

    ``jax.random.uniform`` is half-open, so the upper end 1 is never produced; the lower end is the
    smallest normal float, so ``icdf`` never sees exactly 0.
    """
    dtype = dtype or float_dtype()
    tiny = jnp.finfo(dtype).tiny
    return jax.random.uniform(key, shape, dtype=dtype, minval=tiny, maxval=1.0)


class Distribution:
    """Abstract base class.

    Subclasses set ``_params`` (names of array parameters, the pytree leaves), optionally
    ``_static`` (hashable non-array attributes stored in the pytree aux data), ``arg_constraints``
    (name -> :mod:`constraints` object), ``support`` and ``is_discrete``; and implement ``icdf``,
    ``cdf``, ``mean`` and ``variance``.
    """

    arg_constraints: ClassVar[dict] = {}
    support: ClassVar[constraints.Constraint] = constraints.real
    is_discrete: ClassVar[bool] = False
    _params: ClassVar[tuple[str, ...]] = ()
    _static: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        jax.tree_util.register_pytree_node(cls, cls._tree_flatten, cls._tree_unflatten)

    # ----------------------------------------------------------------- pytree
    def _tree_flatten(self):
        children = tuple(getattr(self, n) for n in self._params)
        aux = tuple(getattr(self, n) for n in self._static)
        return children, aux

    @classmethod
    def _tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        for n, v in zip(cls._params, children):
            setattr(obj, n, v)
        for n, v in zip(cls._static, aux):
            setattr(obj, n, v)
        return obj

    # ------------------------------------------------------------- validation
    def _validate(self) -> None:
        """Check ``arg_constraints`` on concrete parameters, then ``_validate_extra``."""
        values = {n: getattr(self, n) for n in self.arg_constraints}
        if not is_concrete(values):
            return
        for name, con in self.arg_constraints.items():
            v = np.asarray(values[name])
            ok = np.asarray(con(v))
            if not ok.all():
                bad = v[~ok] if v.ndim else v
                raise DistributionError(
                    f"{type(self).__name__}: parameter {name}={_fmt(bad)} must be {con.name}"
                )
        self._validate_extra()

    def _validate_extra(self) -> None:
        """Cross-parameter checks (e.g. ``low < high``); runs only on concrete parameters."""

    # -------------------------------------------------------------- interface
    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Broadcast shape of the parameters."""
        return tuple(jnp.broadcast_shapes(*(jnp.shape(getattr(self, n)) for n in self._params)))

    def icdf(self, u):
        """Quantile function. ``u``: probabilities in (0, 1), broadcasting with ``batch_shape``."""
        raise NotImplementedError

    def cdf(self, x):
        """``P(X <= x)``; ``x`` broadcasts with ``batch_shape``."""
        raise NotImplementedError

    def mean(self):
        """Mean, shape ``batch_shape``."""
        raise NotImplementedError

    def variance(self):
        """Variance, shape ``batch_shape``."""
        raise NotImplementedError

    def sample(self, key, shape=()):
        """Draws of shape ``shape + batch_shape`` by inverse transform: ``icdf(U(0,1))``."""
        shape = tuple(shape) + tuple(self.batch_shape)
        return self.icdf(uniform_open(key, shape))

    def __repr__(self) -> str:
        parts = []
        for n in self._params:
            v = getattr(self, n)
            try:
                parts.append(f"{n}={_fmt(np.asarray(v))}")
            except Exception:  # tracers, nested distributions
                parts.append(f"{n}={v!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


def _fmt(v) -> str:
    v = np.asarray(v)
    if v.ndim == 0:
        return f"{float(v):g}"
    flat = v.ravel()
    s = ", ".join(f"{float(x):g}" for x in flat[:6])
    return f"[{s}{', ...' if flat.size > 6 else ''}]"
