"""Gaussian / Student-t copulas: rank correlation, marginals, tail dependence, validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

import distributions as D
from distributions.copula import CorrelationError, GaussianCopula, StudentTCopula

N = 200_000


@pytest.mark.parametrize(
    "corr",
    [
        {"a,b": 0.6, "a,c": -0.3},
        [{"pair": ["a", "b"], "rho": 0.6}, {"pair": ["a", "c"], "rho": -0.3}],
        {("a", "b"): 0.6, ("c", "a"): -0.3},
        [[1.0, 0.6, -0.3], [0.6, 1.0, 0.0], [-0.3, 0.0, 1.0]],
    ],
    ids=["str-pairs", "list-of-dicts", "tuple-pairs", "matrix"],
)
def test_gaussian_spearman_target_achieved(corr):
    cop = GaussianCopula(["a", "b", "c"], corr, kind="spearman")
    u = np.asarray(jax.jit(lambda k: cop.sample_uniforms(k, (N,)))(jax.random.key(11)))
    assert u.shape == (N, 3) and (u > 0).all() and (u < 1).all()
    rho = st.spearmanr(u).statistic
    assert abs(rho[0, 1] - 0.6) < 0.02
    assert abs(rho[0, 2] + 0.3) < 0.02
    # expected implied b-c rank correlation from the normal-score matrix
    implied = 6 / np.pi * np.arcsin(cop.matrix[1, 2] / 2)
    assert abs(rho[1, 2] - implied) < 0.02


def test_marginals_unchanged_by_copula():
    cop = GaussianCopula(["x", "y"], {"x,y": 0.8})
    margs = {"x": D.LogNormal(1.0, 0.5), "y": D.Gamma(2.0, 1.0)}
    out = jax.jit(lambda k: cop.sample(k, (N,), margs))(jax.random.key(3))
    assert st.kstest(np.asarray(out["x"], float), st.lognorm(0.5, scale=np.e).cdf).pvalue > 1e-3
    assert st.kstest(np.asarray(out["y"], float), st.gamma(2).cdf).pvalue > 1e-3
    assert st.spearmanr(out["x"], out["y"]).statistic > 0.75


def test_t_copula_has_more_joint_tail_coexceedance():
    names = ["a", "b"]
    g = GaussianCopula(names, {"a,b": 0.5})
    t = StudentTCopula(names, {"a,b": 0.5}, df=3)
    assert g.n_uniforms == 2 and t.n_uniforms == 3
    ug = np.asarray(g.sample_uniforms(jax.random.key(5), (N,)))
    ut = np.asarray(t.sample_uniforms(jax.random.key(5), (N,)))
    both_g = np.mean((ug < 0.01).all(axis=1))
    both_t = np.mean((ut < 0.01).all(axis=1))
    assert both_t > 1.5 * both_g
    # t marginals are still uniform
    assert st.kstest(ut[:, 0], "uniform").pvalue > 1e-3


def test_transform_shapes():
    t = StudentTCopula(["a", "b", "c"], np.eye(3), df=5)
    u = jax.ShapeDtypeStruct((4, 7, 4), jnp.float32)
    assert jax.eval_shape(t.transform, u).shape == (4, 7, 3)
    g = GaussianCopula(["a", "b", "c"], np.eye(3))
    assert jax.eval_shape(g.transform, jax.ShapeDtypeStruct((5, 3), jnp.float32)).shape == (5, 3)
    with pytest.raises(CorrelationError, match="d \\+ 1 = 4"):
        jax.eval_shape(t.transform, jax.ShapeDtypeStruct((5, 3), jnp.float32))


def test_unknown_name_lists_valid_names():
    with pytest.raises(
        CorrelationError, match=r"unknown driver 'z' in correlation \(valid: \['a', 'b'\]\)"
    ):
        GaussianCopula(["a", "b"], {"a,z": 0.2}, path="correlations")


def test_non_symmetric_names_entries():
    m = [[1.0, 0.5], [0.4, 1.0]]
    with pytest.raises(
        CorrelationError, match=r"not symmetric: \(a, b\) = 0\.5 but \(b, a\) = 0\.4"
    ):
        GaussianCopula(["a", "b"], m)


def test_non_unit_diagonal_names_entry():
    with pytest.raises(CorrelationError, match=r"diagonal must be 1: \(b, b\) = 0\.9"):
        GaussianCopula(["a", "b"], [[1.0, 0.2], [0.2, 0.9]])


def test_out_of_range_entry():
    with pytest.raises(CorrelationError, match=r"\(a, b\) = 1\.2 is outside \[-1, 1\]"):
        GaussianCopula(["a", "b"], {"a,b": 1.2})


BAD_PSD = {"a,b": 0.9, "a,c": 0.9, "b,c": -0.9}


def test_non_psd_names_eigenvalue_entries_and_fix():
    with pytest.raises(
        CorrelationError,
        match=r"correlations: correlation is not positive semi-definite: most negative eigenvalue "
        r"-0\.\d+.*\(a, b\) = 0\.9.*nearest_psd: true",
    ):
        GaussianCopula(["a", "b", "c"], BAD_PSD, path="correlations")


def test_nearest_psd_repair_warns_and_is_valid():
    with pytest.warns(UserWarning, match="not positive semi-definite.*nearest correlation"):
        cop = GaussianCopula(["a", "b", "c"], BAD_PSD, nearest_psd=True)
    m = cop.matrix
    np.testing.assert_allclose(np.diag(m), 1.0, atol=1e-12)
    np.testing.assert_allclose(m, m.T)
    assert np.linalg.eigvalsh(m).min() >= -1e-12
    assert m[0, 1] > 0.3 and m[1, 2] < 0  # still close in spirit to the request
    u = np.asarray(cop.sample_uniforms(jax.random.key(0), (1000,)))
    assert np.isfinite(u).all()
