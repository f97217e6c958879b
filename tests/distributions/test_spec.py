"""from_spec: every form round-trips its quantiles; every bad input raises a precise SpecError."""

import warnings

import numpy as np
import pytest
import scipy.stats as st

import distributions as D
from distributions.spec import SpecError, from_spec


def icdf_at(d, ps):
    return np.asarray(d.icdf(np.asarray(ps, dtype=np.float32)), np.float64)


def test_string_interval_is_lognormal_with_those_p05_p95():
    d = from_spec("5 to 10")
    assert isinstance(d, D.LogNormal)
    np.testing.assert_allclose(icdf_at(d, [0.05, 0.95]), [5, 10], rtol=2e-6)
    mu, sigma = float(d.mu), float(d.sigma)
    np.testing.assert_allclose(
        st.lognorm(sigma, scale=np.exp(mu)).ppf([0.05, 0.95]), [5, 10], rtol=1e-6
    )


def test_string_interval_crossing_zero_is_normal_and_number_is_point_mass():
    d = from_spec("-2 to 4")
    assert isinstance(d, D.Normal)
    np.testing.assert_allclose(icdf_at(d, [0.05, 0.95]), [-2, 4], rtol=2e-6, atol=2e-6)
    assert isinstance(from_spec(3.5), D.PointMass)
    assert float(from_spec({"value": 7}).mean()) == 7.0
    assert isinstance(from_spec("12"), D.PointMass)


@pytest.mark.parametrize("fam", ["normal", "lognormal", "logistic", "uniform", "weibull"])
def test_two_quantiles_recovered(fam):
    table = {0.1: 2030.0, 0.5: 2034.0}
    d = from_spec({"dist": fam, "quantiles": table, "source": "expert poll", "why": "test"})
    np.testing.assert_allclose(icdf_at(d, list(table)), list(table.values()), rtol=1e-6)
    d2 = from_spec({"dist": fam, "p05": 3.0, "p95": 9.0})
    np.testing.assert_allclose(icdf_at(d2, [0.05, 0.95]), [3, 9], rtol=2e-6)


def test_normal_from_two_quantiles_parameters():
    d = from_spec({"dist": "normal", "quantiles": {0.1: 2030, 0.5: 2034}})
    assert float(d.loc) == pytest.approx(2034)
    assert float(d.scale) == pytest.approx(4 / st.norm.ppf(0.9), rel=1e-6)


@pytest.mark.parametrize("bounds", [None, [2025, None], [2025, 2100]])
def test_metalog_median_ci90_recovered(bounds):
    spec = {"dist": "metalog", "median": 2034, "ci90": [2029, 2045]}
    if bounds is not None:
        spec["bounds"] = bounds
    d = from_spec(spec, "drivers.agi_year")
    np.testing.assert_allclose(icdf_at(d, [0.05, 0.5, 0.95]), [2029, 2034, 2045], rtol=1e-6)
    d2 = from_spec({"dist": "metalog", "p05": 2029, "p50": 2034, "p95": 2045})
    np.testing.assert_allclose(icdf_at(d2, [0.05, 0.5, 0.95]), [2029, 2034, 2045], rtol=1e-6)


def test_quantile_tables_metalog_and_empirical():
    table = {0.05: 1.0, 0.25: 2.0, 0.5: 2.6, 0.75: 3.5, 0.95: 6.0}
    for fam in ("metalog", "empirical"):
        d = from_spec({"dist": fam, "quantiles": table})
        np.testing.assert_allclose(icdf_at(d, list(table)), list(table.values()), rtol=1e-6)


def test_two_param_least_squares_when_asked():
    d = from_spec({"dist": "normal", "p05": 1.0, "p50": 2.2, "p95": 3.0, "fit": "least_squares"})
    assert isinstance(d, D.Normal)
    assert 1.9 < float(d.loc) < 2.3


def test_triangular_pert_native():
    t = from_spec({"dist": "triangular", "low": 0, "mode": 1, "high": 4})
    p = from_spec({"dist": "pert", "low": 0, "mode": 2, "high": 10, "lamb": 4, "ref": "x"})
    assert float(t.mean()) == pytest.approx(5 / 3)
    assert float(p.mean()) == pytest.approx((0 + 4 * 2 + 10) / 6)


def test_truncation_changes_mean_like_truncnorm():
    d = from_spec({"dist": "truncated", "base": {"dist": "normal", "loc": 1, "scale": 2}, "low": 0})
    expect = st.truncnorm(-0.5, np.inf, loc=1, scale=2).mean()
    assert float(d.mean()) == pytest.approx(expect, rel=1e-4)
    assert float(d.mean()) > 1.0


def test_mixture_cdf_is_weighted_cdfs():
    spec = {"dist": "mixture", "components": ["5 to 10", {"dist": "normal", "loc": 0, "scale": 1}]}
    d = from_spec({**spec, "weights": [0.3, 0.7]})
    a, b = from_spec("5 to 10"), D.Normal(0.0, 1.0)
    x = np.linspace(-2, 12, 15).astype(np.float32)
    expect = 0.3 * np.asarray(a.cdf(x)) + 0.7 * np.asarray(b.cdf(x))
    np.testing.assert_allclose(np.asarray(d.cdf(x)), expect, atol=1e-6)


BAD = [
    (
        {"dist": "lognorml", "mu": 0, "sigma": 1},
        r"drivers\.x: unknown distribution 'lognorml' \(valid: .*lognormal",
    ),
    (
        {"dist": "normal", "loc": 0, "scle": 1},
        r"drivers\.x: unknown key\(s\) \['scle'\] for normal",
    ),
    ({"dist": "normal", "loc": 0, "scale": -1}, r"drivers\.x: .*scale=-1 must be > 0"),
    ({"dist": "lognormal", "mu": 0, "sigma": 0}, r"drivers\.x: .*sigma=0 must be > 0"),
    ({"dist": "uniform", "low": 2, "high": 1}, r"drivers\.x: .*need low < high"),
    (
        {"dist": "triangular", "low": 0, "mode": 5, "high": 3},
        r"drivers\.x: .*mode=5.* outside \[low, high\]",
    ),
    ({"dist": "pert", "low": 0, "mode": -1, "high": 3}, r"drivers\.x: .*mode=-1.* outside"),
    ({"dist": "bernoulli", "p": 1.5}, r"drivers\.x: .*p=1\.5 must be in \[0, 1\]"),
    (
        {"dist": "normal", "quantiles": {1.2: 3, 0.9: 2}},
        r"drivers\.x: probability 1\.2 .* outside \(0, 1\)",
    ),
    (
        {"dist": "normal", "quantiles": {0: 3, 0.9: 4}},
        r"drivers\.x: probability 0 .* outside \(0, 1\)",
    ),
    (
        {"dist": "normal", "quantiles": {0.1: 3, 0.9: 2}},
        r"drivers\.x: .*not strictly increasing: p=0\.1 -> 3 but p=0\.9 -> 2",
    ),
    (
        {"dist": "metalog", "quantiles": {0.1: 0, 0.5: 10, 0.9: 10.5}},
        r"drivers\.x: .*infeasible metalog for quantiles \{0\.1: 0, 0\.5: 10, 0\.9: 10\.5\}",
    ),
    (
        {"dist": "normal", "p05": 1, "p50": 2, "p95": 3},
        r"drivers\.x: normal has 2 parameters but 3 quantiles .*metalog.*least_squares",
    ),
    ({"dist": "metalog", "p05": 1, "p95": 3}, r"drivers\.x: metalog needs at least 3 quantiles"),
    (
        {"dist": "lognormal", "p05": -1, "p95": 3},
        r"drivers\.x: .*lognormal quantiles must be positive",
    ),
    (
        {"dist": "truncated", "base": {"dist": "normal", "loc": 0, "scale": -2}, "low": 0},
        r"drivers\.x\.base: .*scale=-2",
    ),
    (
        {"dist": "mixture", "components": ["1 to 2", "2 to 3"], "weights": [0.5, 0.6]},
        r"drivers\.x: mixture weights .* sum to 1",
    ),
    ({"loc": 0, "scale": 1}, r"drivers\.x: missing 'dist'"),
    ("five to ten", r"drivers\.x: cannot parse 'five to ten'"),
    ("10 to 5", r"drivers\.x: '10 to 5' needs low < high"),
    (
        {"dist": "gamma", "shape": "abc", "rate": 1},
        r"drivers\.x: shape must be a number, got 'abc'",
    ),
]


@pytest.mark.parametrize(("spec", "match"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_specs_raise_spec_error_naming_path_and_value(spec, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(SpecError, match=match):
            from_spec(spec, "drivers.x")


def test_spec_error_is_a_distribution_error_and_value_error():
    assert issubclass(SpecError, D.DistributionError)
    assert issubclass(SpecError, ValueError)
