"""Parameter and support constraints (numpyro-like, deliberately small).

A constraint is a callable object: ``constraint(x)`` returns a boolean numpy array (same shape as
``x``) that is True where ``x`` satisfies it. Constraints are only evaluated on concrete (non-traced)
values, at construction time.
"""

from __future__ import annotations

import numpy as np


class Constraint:
    """Base constraint. ``name`` is used in error messages."""

    name = "constraint"

    def __call__(self, x) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class _Real(Constraint):
    name = "real (finite)"

    def __call__(self, x):
        return np.isfinite(x)


class _GreaterThan(Constraint):
    def __init__(self, lower: float, strict: bool = True):
        self.lower = lower
        self.strict = strict
        self.name = f"{'>' if strict else '>='} {lower:g}"

    def __call__(self, x):
        x = np.asarray(x)
        return np.isfinite(x) & ((x > self.lower) if self.strict else (x >= self.lower))


class _Interval(Constraint):
    def __init__(self, lower: float, upper: float, closed: bool = True):
        self.lower, self.upper, self.closed = lower, upper, closed
        lb, rb = ("[", "]") if closed else ("(", ")")
        self.name = f"in {lb}{lower:g}, {upper:g}{rb}"

    def __call__(self, x):
        x = np.asarray(x)
        if self.closed:
            return (x >= self.lower) & (x <= self.upper)
        return (x > self.lower) & (x < self.upper)


class _Simplex(Constraint):
    name = "a probability vector (last axis non-negative, summing to 1 within 1e-5)"

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float64)
        ok = np.all((x >= 0) & np.isfinite(x), axis=-1) & (np.abs(x.sum(-1) - 1.0) < 1e-5)
        return np.broadcast_to(ok[..., None], x.shape)


class _Dependent(Constraint):
    """Placeholder for supports that depend on parameters (e.g. ``[low, high]``)."""

    def __init__(self, description: str):
        self.name = description

    def __call__(self, x):
        return np.ones(np.shape(x), dtype=bool)


real = _Real()
positive = _GreaterThan(0.0)
nonnegative = _GreaterThan(0.0, strict=False)
unit_interval = _Interval(0.0, 1.0)
open_unit_interval = _Interval(0.0, 1.0, closed=False)
simplex = _Simplex()
nonnegative_integer = _GreaterThan(0.0, strict=False)


def interval(lower: float, upper: float) -> Constraint:
    """Closed interval ``[lower, upper]``."""
    return _Interval(lower, upper)


def dependent(description: str) -> Constraint:
    """A support that depends on the parameters; only used for documentation."""
    return _Dependent(description)
