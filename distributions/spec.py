"""Build distributions from config specs (mappings or strings), with path-aware errors.

Forms (see :func:`from_spec`)::

    {dist: normal, loc: 0, scale: 1}                      # native parameters
    {dist: lognormal, p05: 5, p95: 10}                    # any two quantiles (2-parameter families)
    {dist: normal, quantiles: {0.1: 2030, 0.5: 2034}}
    {dist: metalog, median: 2034, ci90: [2029, 2045], bounds: [2025, null]}
    {dist: metalog | empirical, quantiles: {0.05: .., 0.5: .., 0.95: ..}}
    {dist: triangular | pert, low: .., mode: .., high: ..}     # pert: optional lamb
    {dist: mixture, components: [spec, ...], weights: [...]}
    {dist: truncated, base: spec, low: .., high: ..}
    {value: 3}  /  3  /  "5 to 10"                        # point mass / 90% interval sugar

``source``, ``ref`` and ``why`` keys are provenance metadata and are ignored. Every problem raises
:class:`SpecError` naming the config path and the offending value, before any sampling.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np

from .base import Distribution, DistributionError
from .continuous import Logistic, LogNormal, Normal, Triangular, Uniform, Weibull
from .discrete import Bernoulli, Categorical, PointMass, Poisson
from .empirical import Empirical, check_quantile_table
from .metalog import Metalog
from .mixture import Mixture, Truncated
from .special import PERT, Beta, Gamma, StudentT


class SpecError(DistributionError):
    """A distribution spec in a config is invalid. The message starts with the config path."""


META_KEYS = frozenset({"source", "ref", "why"})
QUANTILE_KEYS = frozenset({"quantiles", "median", "ci90"})

# family -> (class, required native keys, optional native keys)
NATIVE = {
    "normal": (Normal, ("loc", "scale"), ()),
    "lognormal": (LogNormal, ("mu", "sigma"), ()),
    "beta": (Beta, ("a", "b"), ()),
    "gamma": (Gamma, ("shape", "rate"), ()),
    "uniform": (Uniform, ("low", "high"), ()),
    "triangular": (Triangular, ("low", "mode", "high"), ()),
    "pert": (PERT, ("low", "mode", "high"), ("lamb",)),
    "weibull": (Weibull, ("shape", "scale"), ()),
    "logistic": (Logistic, ("loc", "scale"), ()),
    "studentt": (StudentT, ("df",), ("loc", "scale")),
    "bernoulli": (Bernoulli, ("p",), ()),
    "categorical": (Categorical, ("probs",), ()),
    "poisson": (Poisson, ("rate",), ()),
    "pointmass": (PointMass, ("value",), ()),
}
SPECIAL = ("empirical", "mixture", "truncated", "metalog")
VALID = tuple(sorted(list(NATIVE) + list(SPECIAL)))

# two-parameter families fitted from quantiles: g(x) = A + B h(p), linear in (A, B)
_ND = NormalDist()


def _log_pos(x, fam):
    if np.any(x <= 0):
        raise DistributionError(f"{fam} quantiles must be positive, got {x.tolist()}")
    return np.log(x)


TWO_PARAM = {
    "normal": (lambda x: x, lambda p: np.array([_ND.inv_cdf(q) for q in p])),
    "lognormal": (
        lambda x: _log_pos(x, "lognormal"),
        lambda p: np.array([_ND.inv_cdf(q) for q in p]),
    ),
    "logistic": (lambda x: x, lambda p: np.log(p) - np.log1p(-p)),
    "uniform": (lambda x: x, lambda p: p),
    "weibull": (lambda x: _log_pos(x, "weibull"), lambda p: np.log(-np.log1p(-p))),
}


def _two_param_from_ab(fam: str, a: float, b: float) -> Distribution:
    if fam == "normal":
        return Normal(a, b)
    if fam == "lognormal":
        return LogNormal(a, b)
    if fam == "logistic":
        return Logistic(a, b)
    if fam == "uniform":
        return Uniform(a, a + b)
    return Weibull(1.0 / b, math.exp(a))  # weibull: log x = log scale + (1/shape) h(p)


_NUM = r"[-+]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TO_RE = re.compile(rf"^\s*({_NUM})\s+to\s+({_NUM})\s*$")
_PKEY_RE = re.compile(r"^p(\d{2,})$")


def from_spec(spec, path: str = "") -> Distribution:
    """Build a :class:`Distribution` from a config value.

    ``spec``: a number (point mass), a string (``"5 to 10"`` = 90% interval, lognormal if both
    ends are positive else normal; or a number), or a mapping (forms in the module docstring).
    ``path``: config path used in error messages, e.g. ``"drivers.agi_year"``.
    Raises :class:`SpecError` with ``"<path>: <problem>"`` messages.
    """
    where = path or "<spec>"
    try:
        return _build(spec, where)
    except SpecError:
        raise
    except DistributionError as e:
        raise SpecError(f"{where}: {e} (spec: {_show(spec)})") from None


def _show(spec) -> str:
    s = repr(dict(spec)) if isinstance(spec, Mapping) else repr(spec)
    return s if len(s) < 200 else s[:197] + "..."


def _num(value, key: str, where: str) -> float:
    if isinstance(value, bool):
        raise SpecError(f"{where}: {key} must be a number, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.replace("_", ""))
        except ValueError:
            raise SpecError(f"{where}: {key} must be a number, got {value!r}") from None
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise SpecError(f"{where}: {key} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise SpecError(f"{where}: {key} must be finite, got {value!r}")
    return out


def _build(spec, where: str) -> Distribution:
    if isinstance(spec, bool) or spec is None:
        raise SpecError(f"{where}: expected a distribution spec, got {spec!r}")
    if isinstance(spec, int | float):
        return PointMass(_num(spec, "value", where))
    if isinstance(spec, str):
        return _from_string(spec, where)
    if not isinstance(spec, Mapping):
        raise SpecError(f"{where}: expected a mapping, number or string, got {_show(spec)}")
    body = {str(k): v for k, v in spec.items() if str(k) not in META_KEYS}
    if "dist" not in body:
        if set(body) == {"value"}:
            return PointMass(_num(body["value"], "value", where))
        raise SpecError(f"{where}: missing 'dist' (one of {', '.join(VALID)}) in {_show(spec)}")
    fam = str(body.pop("dist")).strip().lower().replace("-", "").replace("_", "")
    if fam not in VALID:
        close = difflib.get_close_matches(fam, VALID, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise SpecError(
            f"{where}: unknown distribution '{spec['dist']}' (valid: {', '.join(VALID)}){hint}"
        )
    table = _quantile_table(body, where)
    if fam == "mixture":
        return _mixture(body, where)
    if fam == "truncated":
        return _truncated(body, where)
    if fam == "metalog":
        return _metalog(body, table, where)
    if fam == "empirical":
        return _empirical(body, table, where)
    if table:
        return _two_param_fit(fam, body, table, where)
    return _native(fam, body, where)


def _from_string(s: str, where: str) -> Distribution:
    m = _TO_RE.match(s)
    if m:
        lo, hi = (_num(g, "interval end", where) for g in m.groups())
        if lo >= hi:
            raise SpecError(f"{where}: '{s}' needs low < high")
        fam = "lognormal" if lo > 0 else "normal"
        return _two_param_fit(fam, {}, {0.05: lo, 0.95: hi}, where)
    try:
        return PointMass(float(s.replace("_", "")))
    except ValueError:
        raise SpecError(
            f"{where}: cannot parse {s!r}: expected a number or 'LOW to HIGH' (90% interval)"
        ) from None


def _quantile_table(body: dict, where: str) -> dict[float, float]:
    """Pop quantile keys (quantiles / pNN / median / ci90) from ``body`` into ``{p: x}``."""
    table: dict[float, float] = {}

    def put(p: float, x, label: str):
        x = _num(x, label, where)
        if not 0.0 < p < 1.0:
            raise SpecError(f"{where}: probability {p:g} ({label}) is outside (0, 1)")
        if p in table and table[p] != x:
            raise SpecError(f"{where}: quantile p={p:g} given twice ({table[p]:g} and {x:g})")
        table[p] = x

    for key in list(body):
        m = _PKEY_RE.match(key)
        if m:
            digits = m.group(1)
            put(int(digits) / 10 ** len(digits), body.pop(key), key)
    if "median" in body:
        put(0.5, body.pop("median"), "median")
    if "ci90" in body:
        ci = body.pop("ci90")
        if not isinstance(ci, Sequence) or isinstance(ci, str) or len(ci) != 2:
            raise SpecError(f"{where}: ci90 must be [low, high], got {ci!r}")
        put(0.05, ci[0], "ci90[0]")
        put(0.95, ci[1], "ci90[1]")
    if "quantiles" in body:
        q = body.pop("quantiles")
        if not isinstance(q, Mapping):
            raise SpecError(f"{where}: quantiles must be a mapping {{p: x}}, got {q!r}")
        for p, x in q.items():
            put(_num(p, f"quantile probability {p!r}", where), x, f"quantiles[{p}]")
    if table:
        check_quantile_table(table, "quantiles")
    return table


def _check_keys(body: dict, allowed, where: str, fam: str):
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise SpecError(
            f"{where}: unknown key(s) {unknown} for {fam} (allowed: {sorted(set(allowed))}, "
            f"plus {sorted(META_KEYS)})"
        )


def _native(fam: str, body: dict, where: str) -> Distribution:
    cls, required, optional = NATIVE[fam]
    extra = ("p05", "p95", "quantiles") if fam in TWO_PARAM else ()
    _check_keys(body, required + optional + extra, where, fam)
    missing = [k for k in required if k not in body]
    if missing:
        raise SpecError(f"{where}: {fam} needs {list(required)}; missing {missing}")
    if fam == "categorical":
        probs = body["probs"]
        if not isinstance(probs, Sequence) or isinstance(probs, str):
            raise SpecError(f"{where}: categorical probs must be a list, got {probs!r}")
        return Categorical(np.array([_num(p, "probs", where) for p in probs]))
    kwargs = {k: _num(v, k, where) for k, v in body.items()}
    return cls(**kwargs)


def _two_param_fit(fam: str, body: dict, table: dict, where: str) -> Distribution:
    if fam not in TWO_PARAM:
        raise SpecError(
            f"{where}: {fam} cannot be given by quantiles (supported: "
            f"{', '.join(sorted(TWO_PARAM))}, metalog, empirical)"
        )
    fit = body.pop("fit", None)
    _check_keys(body, (), where, f"{fam} given by quantiles")
    if fit not in (None, "least_squares"):
        raise SpecError(f"{where}: fit must be 'least_squares', got {fit!r}")
    if len(table) < 2:
        raise SpecError(f"{where}: {fam} needs two quantiles, got {len(table)}: {table}")
    if len(table) > 2 and fit != "least_squares":
        raise SpecError(
            f"{where}: {fam} has 2 parameters but {len(table)} quantiles were given "
            f"({table}); use a three-parameter family (dist: metalog) or set fit: least_squares"
        )
    p, x = check_quantile_table(table, "quantiles")
    g, h = TWO_PARAM[fam]
    gx, hp = g(x), h(p)
    design = np.stack([np.ones_like(hp), hp], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, gx, rcond=None)
    if not b > 0:
        raise SpecError(f"{where}: quantiles {table} give a non-positive scale for {fam}")
    return _two_param_from_ab(fam, float(a), float(b))


def _bounds(body: dict, where: str):
    b = body.pop("bounds", None)
    if b is None:
        return (None, None)
    if not isinstance(b, Sequence) or isinstance(b, str) or len(b) != 2:
        raise SpecError(f"{where}: bounds must be [low, high] (null for open), got {b!r}")
    return tuple(None if v is None else _num(v, "bounds", where) for v in b)


def _metalog(body: dict, table: dict, where: str) -> Distribution:
    bounds = _bounds(body, where)
    _check_keys(
        body, ("quantiles", "median", "ci90", "p05", "p50", "p95", "bounds"), where, "metalog"
    )
    if len(table) < 3:
        raise SpecError(
            f"{where}: metalog needs at least 3 quantiles (e.g. median + ci90), got {table}"
        )
    return Metalog.fit(table, bounds=bounds, who="metalog")


def _empirical(body: dict, table: dict, where: str) -> Distribution:
    samples = body.pop("samples", None)
    _check_keys(body, ("quantiles", "samples"), where, "empirical")
    if samples is not None and table:
        raise SpecError(f"{where}: empirical takes either quantiles or samples, not both")
    if samples is not None:
        return Empirical.from_samples([_num(s, "samples", where) for s in samples])
    if len(table) < 2:
        raise SpecError(f"{where}: empirical needs 'quantiles' (>= 2) or 'samples'")
    return Empirical.from_quantiles(table)


def _mixture(body: dict, where: str) -> Distribution:
    _check_keys(body, ("components", "weights"), where, "mixture")
    comps, weights = body.get("components"), body.get("weights")
    if not isinstance(comps, Sequence) or isinstance(comps, str) or not comps:
        raise SpecError(f"{where}: mixture needs a non-empty list 'components'")
    if not isinstance(weights, Sequence) or isinstance(weights, str):
        raise SpecError(f"{where}: mixture needs a list 'weights', got {weights!r}")
    if len(weights) != len(comps):
        raise SpecError(f"{where}: {len(weights)} weights for {len(comps)} mixture components")
    w = np.array([_num(v, "weights", where) for v in weights])
    if np.any(w < 0) or abs(w.sum() - 1.0) > 1e-6:
        raise SpecError(f"{where}: mixture weights {w.tolist()} must be >= 0 and sum to 1")
    built = [from_spec(c, f"{where}.components[{i}]") for i, c in enumerate(comps)]
    return Mixture(built, w)


def _truncated(body: dict, where: str) -> Distribution:
    _check_keys(body, ("base", "low", "high"), where, "truncated")
    if "base" not in body:
        raise SpecError(f"{where}: truncated needs 'base'")
    low = None if body.get("low") is None else _num(body["low"], "low", where)
    high = None if body.get("high") is None else _num(body["high"], "high", where)
    if low is None and high is None:
        raise SpecError(f"{where}: truncated needs 'low' and/or 'high'")
    if low is not None and high is not None and low >= high:
        raise SpecError(f"{where}: truncated needs low < high, got low={low:g}, high={high:g}")
    return Truncated(from_spec(body["base"], f"{where}.base"), low, high)
