"""Probability distributions for the jp2040 Monte Carlo engine (JAX, inverse-CDF sampling).

Every family exposes ``icdf``, ``cdf``, ``sample``, ``mean``, ``variance`` and ``batch_shape``, is
a JAX pytree, and samples by ``icdf(uniform)`` so it composes with the copulas in
:mod:`distributions.copula` and the key conventions in :mod:`distributions.keys`. Config specs
are turned into distributions by :func:`distributions.spec.from_spec`.
"""

from .base import Distribution, DistributionError
from .continuous import Logistic, LogNormal, Normal, Triangular, Uniform, Weibull
from .discrete import Bernoulli, Categorical, PointMass, Poisson
from .empirical import Empirical
from .metalog import Metalog
from .mixture import Mixture, Truncated
from .special import PERT, Beta, Gamma, StudentT

__all__ = [
    "PERT",
    "Bernoulli",
    "Beta",
    "Categorical",
    "Distribution",
    "DistributionError",
    "Empirical",
    "Gamma",
    "LogNormal",
    "Logistic",
    "Metalog",
    "Mixture",
    "Normal",
    "PointMass",
    "Poisson",
    "StudentT",
    "Triangular",
    "Truncated",
    "Uniform",
    "Weibull",
]
