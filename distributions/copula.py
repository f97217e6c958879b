"""Gaussian and Student-t copulas over named drivers.

Both map independent uniforms to dependent uniforms (normal scores -> Cholesky factor -> back to
uniforms), so any marginal with an ``icdf`` can be attached. The Cholesky factor is computed once
in numpy (float64) at construction.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr, ndtri

from . import _special
from .base import DistributionError, float_dtype, uniform_open


class CorrelationError(DistributionError):
    """Invalid correlation specification."""


def _pfx(path: str) -> str:
    return f"{path}: " if path else ""


def build_matrix(names: Sequence[str], correlation, path: str = "") -> np.ndarray:
    """Full ``(d, d)`` float64 matrix from a matrix, ``{"a,b": rho}`` / ``{(a, b): rho}``, or a
    list of ``{pair: [a, b], rho: r}``. Unlisted pairs are 0; the diagonal is 1 for pairwise forms.
    """
    names = list(names)
    d = len(names)
    index = {n: i for i, n in enumerate(names)}
    pre = _pfx(path)

    def idx(name) -> int:
        name = str(name).strip()
        if name not in index:
            raise CorrelationError(f"{pre}unknown driver '{name}' in correlation (valid: {names})")
        return index[name]

    pairs: list[tuple[object, object, float]] = []
    if isinstance(correlation, Mapping):
        for key, rho in correlation.items():
            if isinstance(key, str):
                parts = key.split(",")
                if len(parts) != 2:
                    raise CorrelationError(f"{pre}correlation key '{key}' must look like 'a,b'")
                a, b = parts
            else:
                a, b = key
            pairs.append((a, b, rho))
    elif (
        isinstance(correlation, Sequence)
        and len(correlation) > 0
        and isinstance(correlation[0], Mapping)
    ):
        for entry in correlation:
            if set(entry) - {"pair", "rho", "source", "ref", "why"} or "pair" not in entry:
                raise CorrelationError(f"{pre}correlation entry {entry} needs keys pair, rho")
            a, b = entry["pair"]
            pairs.append((a, b, entry["rho"]))
    else:
        m = np.asarray(correlation, dtype=np.float64)
        if m.shape != (d, d):
            raise CorrelationError(
                f"{pre}correlation matrix has shape {m.shape}, expected {(d, d)}"
            )
        return m
    m = np.eye(d)
    for a, b, rho in pairs:
        i, j = idx(a), idx(b)
        if i == j:
            raise CorrelationError(f"{pre}correlation pair ({a}, {b}) is a diagonal entry")
        m[i, j] = m[j, i] = float(rho)
    return m


def nearest_correlation(m: np.ndarray, n_iter: int = 200, tol: float = 1e-10) -> np.ndarray:
    """Higham (2002) alternating projections to the nearest correlation matrix, then a final
    eigenvalue floor at 1e-10 and rescale to unit diagonal (so the result is strictly PSD)."""
    y = m.copy()
    ds = np.zeros_like(m)
    for _ in range(n_iter):
        r = y - ds
        w, v = np.linalg.eigh(r)
        x = (v * np.maximum(w, 0.0)) @ v.T
        ds = x - r
        y_new = x.copy()
        np.fill_diagonal(y_new, 1.0)
        if np.linalg.norm(y_new - y) < tol:
            y = y_new
            break
        y = y_new
    w, v = np.linalg.eigh(y)
    y = (v * np.maximum(w, 1e-10)) @ v.T
    s = np.sqrt(np.diag(y))
    y = y / np.outer(s, s)
    return 0.5 * (y + y.T)


def validate_correlation(m: np.ndarray, names: Sequence[str], nearest_psd: bool, path: str = ""):
    """Check symmetry, unit diagonal, entries in [-1, 1] and PSD; repair PSD if asked."""
    pre = _pfx(path)
    names = list(names)
    if not np.isfinite(m).all():
        raise CorrelationError(f"{pre}correlation has non-finite entries")
    asym = np.argwhere(np.abs(m - m.T) > 1e-8)
    if asym.size:
        i, j = asym[0]
        raise CorrelationError(
            f"{pre}correlation is not symmetric: ({names[i]}, {names[j]}) = {m[i, j]:g} but "
            f"({names[j]}, {names[i]}) = {m[j, i]:g}"
        )
    diag = np.argwhere(np.abs(np.diag(m) - 1.0) > 1e-8).ravel()
    if diag.size:
        i = diag[0]
        raise CorrelationError(
            f"{pre}correlation diagonal must be 1: ({names[i]}, {names[i]}) = {m[i, i]:g}"
        )
    out = np.argwhere(np.abs(m) > 1.0)
    if out.size:
        i, j = out[0]
        raise CorrelationError(
            f"{pre}correlation ({names[i]}, {names[j]}) = {m[i, j]:g} is outside [-1, 1]"
        )
    w, v = np.linalg.eigh(m)
    if w.min() < -1e-10:
        if nearest_psd:
            fixed = nearest_correlation(m)
            delta = np.abs(fixed - m).max()
            warnings.warn(
                f"{pre}correlation is not positive semi-definite (min eigenvalue {w.min():.4g}); "
                f"replaced by the nearest correlation matrix (max entry change {delta:.3g})",
                stacklevel=3,
            )
            return fixed
        vec = v[:, 0]
        top = np.argsort(-np.abs(vec))[: min(3, len(names))]
        involved = ", ".join(names[i] for i in top)
        pairs = [f"({names[i]}, {names[j]}) = {m[i, j]:g}" for i in top for j in top if i < j]
        raise CorrelationError(
            f"{pre}correlation is not positive semi-definite: most negative eigenvalue "
            f"{w.min():.4g}, driven by {involved}; entries {', '.join(pairs)}. "
            "Set `nearest_psd: true` to repair it to the nearest valid correlation matrix"
        )
    return m


class GaussianCopula:
    """Gaussian copula over ``names`` (d drivers).

    ``correlation``: matrix (order = ``names``) or pairwise form (see :func:`build_matrix`).
    ``kind="spearman"`` converts each target rank correlation to the normal-score Pearson
    correlation ``2 sin(pi rho_s / 6)`` (exact for the Gaussian copula); ``"pearson"`` uses it as
    the normal-score correlation directly. ``n_uniforms`` = d independent uniforms per draw.
    """

    def __init__(
        self,
        names: Sequence[str],
        correlation,
        kind: str = "pearson",
        nearest_psd: bool = False,
        path: str = "",
    ):
        self.names = [str(n) for n in names]
        if len(set(self.names)) != len(self.names):
            raise CorrelationError(f"{_pfx(path)}duplicate driver names in {self.names}")
        if kind not in ("pearson", "spearman"):
            raise CorrelationError(
                f"{_pfx(path)}unknown correlation kind '{kind}' (valid: pearson, spearman)"
            )
        m = build_matrix(self.names, correlation, path)
        m = validate_correlation(m, self.names, nearest_psd, path)
        if kind == "spearman":
            m = 2.0 * np.sin(np.pi * m / 6.0)
            np.fill_diagonal(m, 1.0)
            m = validate_correlation(m, self.names, nearest_psd, path)
        self.kind = kind
        self.matrix = m  # normal-score correlation, float64 (d, d)
        w, v = np.linalg.eigh(m)
        if w.min() > 1e-12:
            chol = np.linalg.cholesky(m)
        else:  # PSD but singular: symmetric square root works as a factor too
            chol = (v * np.sqrt(np.maximum(w, 0.0))) @ v.T
        self._chol = chol
        self.d = len(self.names)
        self.n_uniforms = self.d

    @property
    def cholesky(self):
        """Lower-triangular factor (d, d) as a JAX array in the default float dtype."""
        return jnp.asarray(self._chol, dtype=float_dtype())

    def _scores(self, u):
        z = ndtri(u[..., : self.d])
        return z @ self.cholesky.T

    def transform(self, u):
        """Independent uniforms ``(..., n_uniforms)`` -> correlated uniforms ``(..., d)``."""
        u = jnp.asarray(u, dtype=float_dtype())
        return self._to_uniform(self._scores(u), u)

    def _to_uniform(self, z, u):
        return _clip_open(ndtr(z))

    def sample_uniforms(self, key, shape=()):
        """Correlated uniforms of shape ``(*shape, d)``."""
        u = uniform_open(key, tuple(shape) + (self.n_uniforms,))
        return self.transform(u)

    def sample(self, key, shape, marginals: Mapping):
        """Dict name -> samples of shape ``shape`` (via each marginal's ``icdf``)."""
        missing = [n for n in self.names if n not in marginals]
        if missing:
            raise CorrelationError(f"copula.sample: no marginal for {missing}")
        v = self.sample_uniforms(key, shape)
        return {n: marginals[n].icdf(v[..., i]) for i, n in enumerate(self.names)}


class StudentTCopula(GaussianCopula):
    """Student-t copula with ``df`` degrees of freedom (stronger joint-tail dependence).

    ``transform`` takes ``n_uniforms = d + 1`` uniforms: the first d give normal scores, the last
    gives ``W ~ chi2(df)`` through its icdf; then ``t = z / sqrt(W / df)`` and ``u = T_df(t)``.
    ``kind="spearman"`` uses the same ``2 sin(pi rho / 6)`` map (approximate for the t copula).
    """

    def __init__(self, names, correlation, df, kind="pearson", nearest_psd=False, path=""):
        super().__init__(names, correlation, kind=kind, nearest_psd=nearest_psd, path=path)
        if not (isinstance(df, int | float) and math.isfinite(df) and df > 0):
            raise CorrelationError(f"{_pfx(path)}t copula df must be a positive number, got {df}")
        self.df = float(df)
        self.n_uniforms = self.d + 1

    def transform(self, u):
        u = jnp.asarray(u, dtype=float_dtype())
        if u.shape[-1] != self.n_uniforms:
            raise CorrelationError(
                f"StudentTCopula.transform: last axis must be d + 1 = {self.n_uniforms}"
            )
        z = self._scores(u)
        w = 2.0 * _special.gammaincinv(self.df / 2.0, u[..., self.d])
        t = z / jnp.sqrt(w / self.df)[..., None]
        return _clip_open(_special.student_t_cdf(self.df, t))


def _clip_open(u):
    """Keep correlated uniforms strictly inside (0, 1) after float rounding."""
    dt = u.dtype
    return jnp.clip(u, jnp.finfo(dt).tiny, 1.0 - jnp.finfo(dt).epsneg)


# Copulas are JAX pytrees: the factor (and t's df) are leaves, so a changed correlation is a new
# argument to a compiled program, not a new program. Unflattened copies carry no ``matrix``.
def _copula_flatten(c):
    leaves = (c._chol, c.df) if isinstance(c, StudentTCopula) else (c._chol,)
    return leaves, (type(c), tuple(c.names), c.kind, c.d, c.n_uniforms)


def _copula_unflatten(aux, leaves):
    cls, names, kind, d, n_uniforms = aux
    obj = object.__new__(cls)
    obj.names, obj.kind, obj.d, obj.n_uniforms, obj.matrix = list(names), kind, d, n_uniforms, None
    obj._chol = leaves[0]
    if cls is StudentTCopula:
        obj.df = leaves[1]
    return obj


for _cls in (GaussianCopula, StudentTCopula):
    jax.tree_util.register_pytree_node(_cls, _copula_flatten, _copula_unflatten)
