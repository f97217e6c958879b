"""Key convention, determinism, jit/vmap and pytree behaviour."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import distributions as D
from distributions.keys import chain_draw_uniforms, driver_uniforms, root_key, stable_id


def draws(root, start: int, count: int, names):
    """Uniforms of paths ``start .. start + count - 1`` of chain 0 (the engine's keys)."""
    draw = jnp.arange(start, start + count, dtype=jnp.uint32)
    return np.asarray(chain_draw_uniforms(root, jnp.zeros_like(draw), draw, names))


def driver_key(path_key, name):
    """The documented key of a driver on a path (distributions/keys.py)."""
    return jax.random.fold_in(path_key, stable_id(name))


def path_key(root, chain, draw):
    return jax.random.fold_in(jax.random.fold_in(root, chain), draw)


def test_stable_id_is_crc32():
    import zlib

    assert stable_id("agi_year") == zlib.crc32(b"agi_year") & 0x7FFFFFFF
    assert stable_id("agi_year") == 940353412  # frozen: changing it would change every run


def test_driver_uniforms_independent_of_batch_size():
    root = root_key(42)
    names = ["agi_year", "gdp_growth", "fx"]
    big = draws(root, 0, 4096, names)
    sub = draws(root, 1000, 1000, names)
    assert big.shape == (4096, 3)
    np.testing.assert_array_equal(big[1000:2000], sub)
    assert (big > 0).all() and (big < 1).all()
    one = np.asarray(driver_uniforms(path_key(root, 0, 1234), names))
    np.testing.assert_array_equal(one, big[1234])


def test_adding_a_driver_does_not_change_others():
    a = draws(root_key(1), 0, 64, ["x", "y"])
    b = draws(root_key(1), 0, 64, ["new", "y", "x"])
    np.testing.assert_array_equal(a[:, 0], b[:, 2])
    np.testing.assert_array_equal(a[:, 1], b[:, 1])
    k = path_key(root_key(1), 0, 5)
    bits = np.asarray(jax.random.key_data(driver_key(k, "y")))
    assert float((int(bits[0]) >> 9) + 0.5) * 2.0**-23 == a[5, 1]


def test_driver_uniforms_are_uniform():
    u = draws(root_key(0), 0, 20000, ["a", "b"])
    import scipy.stats as st

    assert st.kstest(u[:, 0], "uniform").pvalue > 1e-3
    assert abs(np.corrcoef(u.T)[0, 1]) < 0.03


def test_same_key_bit_identical_and_different_key_differs():
    d = D.Gamma(2.0, 3.0)
    a = np.asarray(d.sample(jax.random.key(0), (1000,)))
    b = np.asarray(d.sample(jax.random.key(0), (1000,)))
    c = np.asarray(d.sample(jax.random.key(1), (1000,)))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    m = D.Mixture([D.Normal(0.0, 1.0), D.Normal(5.0, 1.0)], [0.3, 0.7])
    np.testing.assert_array_equal(
        np.asarray(m.sample(jax.random.key(2), (50,))),
        np.asarray(m.sample(jax.random.key(2), (50,))),
    )


def test_jit_and_vmap_over_parameters():
    locs = jnp.array([0.0, 1.0, 2.0])
    scales = jnp.array([1.0, 2.0, 3.0])
    f = jax.vmap(lambda loc, s: D.Normal(loc, s).icdf(0.975))
    np.testing.assert_allclose(np.asarray(f(locs, scales)), locs + scales * 1.959964, rtol=1e-5)
    g = jax.jit(jax.vmap(lambda a: D.Beta(a, 2.0).icdf(0.5)))
    import scipy.stats as st

    np.testing.assert_allclose(
        np.asarray(g(jnp.array([1.0, 3.0]))), st.beta([1, 3], 2).median(), rtol=1e-5
    )
    # distributions are pytrees: pass them through jit / vmap
    d = D.LogNormal(jnp.array([0.0, 1.0]), jnp.array([0.5, 0.25]))
    h = jax.jit(lambda dist, u: dist.icdf(u))
    np.testing.assert_allclose(np.asarray(h(d, 0.5)), np.exp([0.0, 1.0]), rtol=1e-6)
    v = jax.vmap(lambda dist: dist.mean())(d)
    np.testing.assert_allclose(
        np.asarray(v), np.exp(np.array([0.0, 1.0]) + 0.5 * np.array([0.5, 0.25]) ** 2), rtol=1e-6
    )
    leaves, tree = jax.tree_util.tree_flatten(D.Truncated(D.Normal(0.0, 1.0), low=0.0))
    assert len(leaves) == 3
    assert isinstance(jax.tree_util.tree_unflatten(tree, leaves), D.Truncated)


def test_eager_and_jit_agree():
    d = D.Weibull(1.5, 2.0)
    u = np.linspace(0.01, 0.99, 7).astype(np.float32)
    np.testing.assert_allclose(np.asarray(d.icdf(u)), np.asarray(jax.jit(d.icdf)(u)), rtol=1e-6)


def test_validation_skipped_for_tracers_and_raises_for_concrete():
    with pytest.raises(D.DistributionError, match="scale=-1 must be > 0"):
        D.Normal(0.0, -1.0)
    # traced: constructing inside jit with a (later negative) parameter does not raise
    out = jax.jit(lambda s: D.Normal(0.0, s).icdf(0.5))(-1.0)
    assert float(out) == 0.0


def test_driver_uniforms_are_uniform_and_open():
    from scipy import stats

    u = draws(root_key(3), 0, 50_000, ["a", "b", "c"])
    assert u.min() > 0.0 and u.max() < 1.0
    for j in range(3):
        assert stats.kstest(u[:, j], "uniform").pvalue > 1e-3
    # columns are independent of each other
    assert abs(stats.spearmanr(u[:, 0], u[:, 1]).statistic) < 0.02


def test_unrolled_threefry_is_bit_identical_to_jax_fold_in():
    """keys.threefry2x32 is JAX's hash written out (fusable on CPU): the same bits, so the
    documented convention fold_in(fold_in(root, chain), draw) -> fold_in(path, id) holds."""
    from distributions.keys import fold_in_words

    root = root_key(11)
    data = jnp.asarray([0, 1, 7, 2**31 - 1, 2**32 - 1, 123456789], jnp.uint32)
    words = jax.random.key_data(root)
    got = jnp.stack(fold_in_words(words[0], words[1], data), axis=-1)
    want = jax.vmap(lambda d: jax.random.key_data(jax.random.fold_in(root, d)))(data)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))

    names = ["agi", "ftqc", "launch_delay.space"]
    chain = jnp.asarray([0, 0, 1, 3], jnp.uint32)
    draw = jnp.asarray([0, 5, 5, 99999], jnp.uint32)
    fast = chain_draw_uniforms(root, chain, draw, names)
    slow = jax.vmap(
        lambda c, d: driver_uniforms(jax.random.fold_in(jax.random.fold_in(root, c), d), names)
    )(chain, draw)
    np.testing.assert_array_equal(np.asarray(fast), np.asarray(slow))
    # and the driver's key is fold_in(path_key, stable_id(name)), as documented
    path = jax.random.fold_in(jax.random.fold_in(root, 3), 99999)
    bits = jax.random.key_data(driver_key(path, "ftqc"))
    assert float(fast[3, 1]) == (float(bits[0] >> 9) + 0.5) * 2.0**-23
