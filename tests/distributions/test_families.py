"""Each family against scipy.stats: quantiles, cdf round trip, KS on samples, moments."""

import jax
import numpy as np
import pytest
import scipy.stats as st

import distributions as D

CONTINUOUS = [
    ("normal-a", lambda: D.Normal(1.0, 2.0), st.norm(1, 2), 1e-5),
    ("normal-b", lambda: D.Normal(-3.0, 0.1), st.norm(-3, 0.1), 1e-5),
    ("lognormal-a", lambda: D.LogNormal(0.5, 0.3), st.lognorm(0.3, scale=np.exp(0.5)), 1e-5),
    ("lognormal-b", lambda: D.LogNormal(2.0, 1.0), st.lognorm(1.0, scale=np.exp(2.0)), 1e-5),
    ("beta-a", lambda: D.Beta(2.0, 5.0), st.beta(2, 5), 1e-4),
    ("beta-b", lambda: D.Beta(0.3, 3.0), st.beta(0.3, 3), 1e-4),
    ("gamma-a", lambda: D.Gamma(2.0, 3.0), st.gamma(2, scale=1 / 3), 1e-4),
    ("gamma-b", lambda: D.Gamma(0.5, 1.0), st.gamma(0.5), 1e-4),
    # wide-parameter accuracy of the iterative inverses is covered by test_inverse_accuracy_grid
    ("uniform-a", lambda: D.Uniform(-1.0, 3.0), st.uniform(-1, 4), 1e-5),
    ("uniform-b", lambda: D.Uniform(10.0, 11.0), st.uniform(10, 1), 1e-5),
    ("triangular-a", lambda: D.Triangular(0.0, 1.0, 4.0), st.triang(0.25, 0, 4), 1e-5),
    ("triangular-b", lambda: D.Triangular(0.0, 0.0, 1.0), st.triang(0.0, 0, 1), 1e-5),
    ("pert-a", lambda: D.PERT(0.0, 2.0, 10.0), st.beta(1.8, 4.2, 0, 10), 1e-4),
    ("pert-b", lambda: D.PERT(1.0, 5.0, 6.0, lamb=2.0), st.beta(2.6, 1.4, 1, 5), 1e-4),
    ("weibull-a", lambda: D.Weibull(1.5, 2.0), st.weibull_min(1.5, scale=2), 1e-5),
    ("weibull-b", lambda: D.Weibull(0.7, 10.0), st.weibull_min(0.7, scale=10), 1e-5),
    ("logistic-a", lambda: D.Logistic(1.0, 2.0), st.logistic(1, 2), 1e-5),
    ("logistic-b", lambda: D.Logistic(-5.0, 0.5), st.logistic(-5, 0.5), 1e-5),
    ("studentt-a", lambda: D.StudentT(3.0, 1.0, 2.0), st.t(3, 1, 2), 1e-4),
    ("studentt-b", lambda: D.StudentT(2.5, -1.0, 0.5), st.t(2.5, -1, 0.5), 1e-4),
]
IDS = [c[0] for c in CONTINUOUS]
N = 200_000
# jitted with the distribution as a pytree argument: one compilation per family, not per test
_icdf = jax.jit(lambda d, u: d.icdf(u))
_cdf = jax.jit(lambda d, x: d.cdf(x))
_sample = jax.jit(lambda d, k: d.sample(k, (N,)))
U = np.array(
    [1e-5, 1e-3, 0.01, 0.05, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.95, 0.99, 0.999, 1 - 1e-5],
    dtype=np.float32,
)


def _evaluate(d, u, x, key):
    q = d.icdf(u)
    return q, d.cdf(q), d.cdf(x), d.sample(key, (N,)), d.mean(), d.variance()


# one compilation per family (parameters are traced pytree leaves), shared by its parameter sets
_evaluate_jit = jax.jit(_evaluate)


@pytest.mark.parametrize(("name", "make", "ref", "rtol"), CONTINUOUS, ids=IDS)
def test_continuous_family_against_scipy(name, make, ref, rtol):
    d = make()
    x = ref.ppf(np.linspace(0.02, 0.98, 25)).astype(np.float32)
    q, back, cdf_x, draws, mean, var = _evaluate_jit(d, U, x, jax.random.key(7))
    # quantile function vs scipy ppf (float32 accuracy; rtol 1e-4 for iterative inverses)
    spread = ref.ppf(0.99) - ref.ppf(0.01)
    expect = ref.ppf(U.astype(np.float64))
    np.testing.assert_allclose(np.asarray(q, np.float64), expect, rtol=rtol, atol=1e-6 * spread)
    # cdf inverts icdf, and cdf matches scipy
    np.testing.assert_allclose(np.asarray(back), U, rtol=2e-4, atol=3e-6)
    np.testing.assert_allclose(np.asarray(cdf_x), ref.cdf(x.astype(np.float64)), atol=3e-6)
    # KS test of 200k inverse-transform draws against scipy's cdf
    draws = np.asarray(draws, np.float64)
    assert draws.shape == (N,) and np.isfinite(draws).all()
    assert st.kstest(draws, ref.cdf).pvalue > 1e-3
    # analytic moments
    m, v = ref.stats()
    np.testing.assert_allclose(float(mean), m, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(float(var), v, rtol=2e-4)


def test_student_t_moments_undefined():
    assert np.isnan(D.StudentT(1.0).mean())
    assert np.isinf(D.StudentT(1.5).variance())
    assert np.isnan(D.StudentT(0.8).variance())


DISCRETE = [
    ("bernoulli-a", lambda: D.Bernoulli(0.3), st.bernoulli(0.3)),
    ("bernoulli-b", lambda: D.Bernoulli(0.9), st.bernoulli(0.9)),
    (
        "categorical-a",
        lambda: D.Categorical([0.2, 0.5, 0.3]),
        st.rv_discrete(values=([0, 1, 2], [0.2, 0.5, 0.3])),
    ),
    (
        "categorical-b",
        lambda: D.Categorical([0.05, 0.05, 0.6, 0.3]),
        st.rv_discrete(values=([0, 1, 2, 3], [0.05, 0.05, 0.6, 0.3])),
    ),
    ("poisson-a", lambda: D.Poisson(3.5), st.poisson(3.5)),
    ("poisson-b", lambda: D.Poisson(40.0), st.poisson(40)),
    ("poisson-c", lambda: D.Poisson(0.2), st.poisson(0.2)),
]


@pytest.mark.parametrize(("name", "make", "ref"), DISCRETE, ids=[c[0] for c in DISCRETE])
def test_discrete_icdf_exact_and_frequencies(name, make, ref):
    d = make()
    u = np.random.default_rng(0).uniform(size=2000).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(_icdf(d, u)), ref.ppf(u.astype(np.float64)))
    n = N
    x = np.asarray(_sample(d, jax.random.key(3)))
    ks = np.arange(int(ref.ppf(1 - 1e-6)) + 1)
    freq = np.array([(x == k).mean() for k in ks])
    pmf = ref.pmf(ks)
    assert np.all(np.abs(freq - pmf) <= 5 * np.sqrt(pmf * (1 - pmf) / n) + 2e-5), (freq, pmf)
    np.testing.assert_allclose(np.asarray(d.cdf(ks.astype(np.float32))), ref.cdf(ks), atol=2e-6)
    np.testing.assert_allclose(float(d.mean()), ref.mean(), rtol=1e-5)
    np.testing.assert_allclose(float(d.variance()), ref.var(), rtol=1e-5)


def test_point_mass():
    d = D.PointMass(2.5)
    x = d.sample(jax.random.key(0), (5,))
    np.testing.assert_array_equal(np.asarray(x), 2.5)
    assert float(d.cdf(2.4)) == 0.0 and float(d.cdf(2.5)) == 1.0
    assert float(d.variance()) == 0.0


def test_batched_params_broadcast_with_u():
    d = D.Normal(np.array([0.0, 10.0]), 1.0)
    assert d.batch_shape == (2,)
    x = d.sample(jax.random.key(0), (3,))
    assert x.shape == (3, 2)
    q = D.Gamma(np.array([[1.0], [4.0]]), 2.0).icdf(np.array([0.1, 0.5, 0.9], np.float32))
    np.testing.assert_allclose(
        np.asarray(q), st.gamma([[1.0], [4.0]], scale=0.5).ppf([0.1, 0.5, 0.9]), rtol=1e-4
    )


@pytest.mark.parametrize(
    ("fn", "ref"),
    [
        (lambda a, b, u: D.Beta(a, b).icdf(u), lambda a, b, u: st.beta(a, b).ppf(u)),
        (lambda a, b, u: D.Gamma(a, b).icdf(u), lambda a, b, u: st.gamma(a, scale=1 / b).ppf(u)),
    ],
    ids=["beta", "gamma"],
)
def test_inverse_accuracy_grid(fn, ref):
    """Iterative inverses stay float32-accurate over a wide parameter grid (one vectorised call)."""
    a, b, u = np.meshgrid([0.3, 0.5, 2.0, 9.0, 60.0], [0.5, 1.0, 5.0], U, indexing="ij")
    a, b, u = (v.ravel().astype(np.float32) for v in (a, b, u))
    ours = np.asarray(jax.jit(fn)(a, b, u), np.float64)
    expect = ref(a.astype(float), b.astype(float), u.astype(float))
    err = np.abs(ours - expect) / np.maximum(np.abs(expect), 1e-30)
    assert np.quantile(err, 1.0) < 2e-4, (
        err.max(),
        a[err.argmax()],
        b[err.argmax()],
        u[err.argmax()],
    )
