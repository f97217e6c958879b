"""Empirical, Mixture, Truncated and Metalog against independent references."""

import jax
import numpy as np
import pytest
import scipy.optimize as so
import scipy.stats as st

import distributions as D

_sample = jax.jit(lambda d, k: d.sample(k, (100_000,)))
U = np.array([0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99, 0.999], dtype=np.float32)


def test_empirical_from_samples_is_numpy_quantile():
    s = np.random.default_rng(1).lognormal(size=501)
    d = D.Empirical.from_samples(s)
    np.testing.assert_allclose(np.asarray(d.icdf(U)), np.quantile(s, U.astype(float)), rtol=1e-5)


def test_empirical_from_quantiles_matches_rv_histogram():
    table = {0.1: 1.0, 0.5: 2.0, 0.9: 5.0}
    d = D.Empirical.from_quantiles(table)
    # extended linearly to p=0 and p=1: knots (0, 0.75), (0.1, 1), (0.5, 2), (0.9, 5), (1, 5.75)
    edges = np.array([0.75, 1.0, 2.0, 5.0, 5.75])
    mass = np.array([0.1, 0.4, 0.4, 0.1])
    ref = st.rv_histogram((mass / np.diff(edges), edges), density=True)
    np.testing.assert_allclose(np.asarray(d.icdf(U)), ref.ppf(U.astype(float)), rtol=1e-5)
    np.testing.assert_allclose(float(d.mean()), ref.mean(), rtol=1e-5)
    np.testing.assert_allclose(float(d.variance()), ref.var(), rtol=1e-4)
    for p, x in table.items():
        assert float(d.icdf(np.float32(p))) == pytest.approx(x, rel=1e-6)
    x = np.asarray(d.sample(jax.random.key(2), (200_000,)), np.float64)
    assert st.kstest(x, ref.cdf).pvalue > 1e-3


def _mix_parts():
    comps = [D.Normal(0.0, 1.0), D.LogNormal(1.5, 0.4)]
    refs = [st.norm(0, 1), st.lognorm(0.4, scale=np.exp(1.5))]
    return D.Mixture(comps, [0.3, 0.7]), refs, np.array([0.3, 0.7])


def test_mixture_cdf_is_weighted_cdfs_and_icdf_inverts():
    d, refs, w = _mix_parts()
    x = np.linspace(-3, 12, 31).astype(np.float32)
    expect = sum(wi * r.cdf(x.astype(float)) for wi, r in zip(w, refs))
    np.testing.assert_allclose(np.asarray(d.cdf(x)), expect, atol=2e-6)
    q = np.asarray(d.icdf(U), np.float64)
    back = sum(wi * r.cdf(q) for wi, r in zip(w, refs))
    np.testing.assert_allclose(back, U, rtol=1e-4, atol=2e-6)
    samples = np.asarray(jax.jit(lambda k: d.sample(k, (100_000,)))(jax.random.key(5)), float)
    assert st.kstest(samples, lambda t: sum(wi * r.cdf(t) for wi, r in zip(w, refs))).pvalue > 1e-3
    m = sum(wi * r.mean() for wi, r in zip(w, refs))
    m2 = sum(wi * (r.var() + r.mean() ** 2) for wi, r in zip(w, refs))
    np.testing.assert_allclose(float(d.mean()), m, rtol=1e-5)
    np.testing.assert_allclose(float(d.variance()), m2 - m * m, rtol=1e-4)


@pytest.mark.parametrize(("lo", "hi"), [(-1.0, 2.0), (0.5, None), (None, -0.3)])
def test_truncation_matches_truncnorm(lo, hi):
    loc, scale = 1.0, 2.0
    d = D.Truncated(D.Normal(loc, scale), lo, hi)
    a = -np.inf if lo is None else (lo - loc) / scale
    b = np.inf if hi is None else (hi - loc) / scale
    ref = st.truncnorm(a, b, loc=loc, scale=scale)
    np.testing.assert_allclose(
        np.asarray(d.icdf(U)), ref.ppf(U.astype(float)), rtol=2e-4, atol=1e-5
    )
    np.testing.assert_allclose(float(d.mean()), ref.mean(), rtol=1e-4)
    np.testing.assert_allclose(float(d.variance()), ref.var(), rtol=1e-3)
    # truncation moves the mean the way truncnorm says, and is not clipping (no atoms at bounds)
    assert (float(d.mean()) - loc) * (ref.mean() - loc) > 0
    x = np.asarray(_sample(d, jax.random.key(9)), np.float64)
    assert st.kstest(x, ref.cdf).pvalue > 1e-3
    for bound in (lo, hi):
        if bound is not None:
            assert np.mean(np.abs(x - bound) < 1e-6) < 1e-4


def test_metalog_three_symmetric_terms_is_logistic():
    ref = st.logistic(3.0, 1.5)
    m = D.Metalog.fit({p: ref.ppf(p) for p in (0.1, 0.5, 0.9)})
    np.testing.assert_allclose(
        np.asarray(m.icdf(U)), ref.ppf(U.astype(float)), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(float(m.mean()), 3.0, rtol=1e-4)
    np.testing.assert_allclose(float(m.variance()), ref.var(), rtol=1e-3)


def test_metalog_lower_bound_is_log_logistic():
    ref = st.fisk(1 / 0.4, scale=np.exp(1.0))  # log X ~ Logistic(1, 0.4)
    m = D.Metalog.fit({p: ref.ppf(p) for p in (0.05, 0.5, 0.95)}, bounds=(0.0, None))
    np.testing.assert_allclose(np.asarray(m.icdf(U)), ref.ppf(U.astype(float)), rtol=1e-5)
    x = np.asarray(m.sample(jax.random.key(4), (200_000,)), np.float64)
    assert st.kstest(x, ref.cdf).pvalue > 1e-3
    xs = ref.ppf([0.1, 0.5, 0.9]).astype(np.float32)
    np.testing.assert_allclose(np.asarray(m.cdf(xs)), [0.1, 0.5, 0.9], atol=2e-6)


@pytest.mark.parametrize("bounds", [(None, None), (2020.0, None), (None, 2100.0), (2020.0, 2100.0)])
@pytest.mark.parametrize("n", [3, 4, 5, 7])
def test_metalog_recovers_quantiles(bounds, n):
    ps = np.linspace(0.05, 0.95, n)
    xs = 2034 + 6 * st.skewnorm(3).ppf(ps)
    m = D.Metalog.fit(dict(zip(ps, xs)), bounds=bounds)
    got = np.asarray(m.icdf(ps.astype(np.float32)))
    tol = 2e-3 if n > 5 else 1e-6  # > 5 quantiles is a least-squares fit
    np.testing.assert_allclose(got, xs, rtol=tol)


_HARD_MIXTURES = {
    "separated modes": (
        [D.Normal(0.0, 1.0), D.Normal(20.0, 1.0)],
        [st.norm(0, 1), st.norm(20, 1)],
        [0.5, 0.5],
    ),
    "uniform + narrow normal": (
        [D.Uniform(0.0, 1.0), D.Normal(3.0, 0.1)],
        [st.uniform(0, 1), st.norm(3, 0.1)],
        [0.6, 0.4],
    ),
    "heavy tail": (
        [D.LogNormal(0.0, 2.0), D.Normal(0.0, 1.0)],
        [st.lognorm(2.0), st.norm(0, 1)],
        [0.2, 0.8],
    ),
    "three parts": (
        [D.Normal(0.0, 1.0), D.Normal(0.5, 5.0), D.LogNormal(1.0, 0.3)],
        [st.norm(0, 1), st.norm(0.5, 5), st.lognorm(0.3, scale=np.e)],
        [0.2, 0.3, 0.5],
    ),
}


@pytest.mark.parametrize("name", sorted(_HARD_MIXTURES))
def test_mixture_icdf_inverts_scipy_mixture_cdf(name):
    """The node table + Illinois quantile function against a float64 root of scipy's mixture CDF,
    from the smallest float32 uniform to the largest, including u inside a gap between modes."""
    comps, refs, w = _HARD_MIXTURES[name]
    d = D.Mixture(comps, w)

    def cdf(x):
        return sum(wi * r.cdf(x) for wi, r in zip(w, refs))

    def pdf(x):
        return sum(wi * r.pdf(x) for wi, r in zip(w, refs))

    rng = np.random.default_rng(3)
    extremes = [1.2e-38, 1e-20, 1e-7, 1e-4, 0.5, 1 - 1e-4, 1 - 2**-24]
    u = np.concatenate([rng.uniform(size=400), extremes]).astype(np.float32)
    x = np.asarray(jax.jit(d.icdf)(u), np.float64)
    u64 = u.astype(np.float64)
    xs = x[np.argsort(u)]
    assert np.all(np.diff(xs) >= -1e-6 * np.abs(xs[1:])), "quantile function not monotone"
    np.testing.assert_allclose(cdf(x), u64, rtol=0, atol=1e-6)  # float32 CDF resolution
    inner = (u64 > 1e-4) & (u64 < 1 - 1e-4) & (np.arange(u64.size) % 4 == 0)  # brentq is slow
    ref = np.array(
        [so.brentq(lambda t, p=p: cdf(t) - p, -1e3, 1e4, xtol=1e-12) for p in u64[inner]]
    )
    tol = 2e-5 * np.abs(ref) + 1e-6 / np.maximum(pdf(ref), 1e-12)  # x error where F is flat is free
    assert np.all(np.abs(x[inner] - ref) <= tol + 1e-6)


def test_mixture_with_point_mass_returns_the_atom_exactly():
    ln = st.lognorm(1.1, scale=np.exp(0.5))
    d = D.Mixture([D.PointMass(0.0), D.LogNormal(0.5, 1.1)], [0.55, 0.45])
    u = np.float32([1e-30, 0.1, 0.3, 0.5499, 0.55, 0.5501, 0.7, 0.99, 0.999999])
    x = np.asarray(d.icdf(u), np.float64)
    np.testing.assert_array_equal(x[:5], 0.0)
    # above the atom: the lognormal part, to float32 CDF resolution
    back = 0.55 + 0.45 * ln.cdf(x[5:])
    np.testing.assert_allclose(back, u[5:].astype(np.float64), rtol=0, atol=3e-7)
    assert np.all(x[5:] > 0)
    draws = np.asarray(d.sample(jax.random.key(8), (100_000,)))
    assert abs(np.mean(draws == 0.0) - 0.55) < 0.005
