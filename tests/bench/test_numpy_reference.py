"""The NumPy reference (bench/numpy_reference.py) is the same model as the engine, not a strawman.

* Exact: on the same driver values the NumPy path model equals ``engine.model`` to float32
  precision for every per-path scalar (random driver values, and every driver fixed to a point
  mass like tests/engine/test_model.py); on the same uniforms the NumPy copula + quantile
  functions equal ``DriverTable.values``.
* Statistical: with its own random numbers (PCG64) the reference's medians of the main outputs
  agree with the engine's within 4 combined order-statistic MCSEs, and its 5% / 95% quantiles
  within 6 (capture and mixed scenarios, 20000 paths each).

The engine side is the engine's own chunk pipeline (key convention of engine.run, driver_uniforms,
``DriverTable.values``, ``make_path_fn``) jitted without the streaming statistics: the same
numbers as ``simulate`` for these outputs at a fraction of the compile time.
"""

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench.numpy_reference import DriverSampler, make_model, point_lognormal_icdf, run_numpy
from distributions.keys import driver_uniforms, root_key
from engine import compose
from engine.config import validate
from engine.drivers import build_driver_table
from engine.mcse import quantile_mcse
from engine.model import DriverColumns, make_path_fn
from engine.params import build_params
from tests.point_mass import set_point_mass_drivers

N = 20_000
MAIN = {
    "strategy": (
        "operating_profit_2040",
        "investment_cum_2040",
        "operating_profit_2040_report_basis",
        "investment_cum_2040_report_basis",
    ),
    "macro": (
        "digital_deficit_2040",
        "investment_total_cum_2040",
        "social_security_savings_2040",
        "workers_added_2040",
        "humanoid_demand_cum",
        "fiscal_effect_2040",
    ),
}


def flat(tree):
    return {f"{g}/{k}": np.asarray(v) for g, d in tree.items() for k, v in d.items()}


def point_mass_config(base):
    """Every driver a point mass (nominal values), no correlations, via the plain config."""
    raw = copy.deepcopy(base.raw)
    set_point_mass_drivers(raw)
    for dom in raw["domains"].values():
        dom.pop("drivers", None)
    return validate(raw)


class Engine:
    """The engine's per-chunk pipeline for one config (uniforms -> values -> paths), jitted."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.table = build_driver_table(cfg)
        self.params = build_params(cfg)
        cols = DriverColumns.from_table(self.table, self.params)
        self.path_fn = jax.jit(make_path_fn(self.params, cols, jnp.float32))

    def sample(self, n):
        """Uniforms and driver values of paths 0..n-1 of chain 0 (keys as in engine.run)."""
        root, names = root_key(self.cfg.engine.seed), self.table.uniform_names

        def draws(g):
            keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.fold_in(root, 0), i))(g)
            u = driver_uniforms(keys, names)
            return u, self.table.values(u)

        u, values = jax.jit(draws)(jnp.arange(n, dtype=jnp.uint32))
        return np.asarray(u), np.asarray(values)

    def point_values(self):
        """The driver vector when every driver is a point mass (policy uniform 0.5)."""
        u = jnp.full((1, len(self.table.uniform_names)), 0.5, jnp.float32)
        return np.asarray(self.table.values(u))[0]

    def paths(self, values, params=None):
        """Per-path scalars; ``params`` (same structure) replaces this config's parameters as an
        argument of the same compiled function."""
        scalars, _ = self.path_fn(jnp.asarray(values), None, params)
        return flat(scalars)


@pytest.fixture(scope="module")
def base():
    return compose(["scenario=capture", f"engine.n_paths={N}", "engine.progress=false"])


@pytest.fixture(scope="module")
def capture(base):
    eng = Engine(base)
    u, values = eng.sample(N)
    return eng, u, values, eng.paths(values)


@pytest.fixture(scope="module")
def mixed(base, capture):
    """Mixed scenario on the same driver draws (the engine's uniforms never depend on the
    scenario, so these are the engine's mixed-scenario paths 0..N-1)."""
    eng = Engine(base.with_scenario("mixed"))
    values = capture[2]
    return eng, values, eng.paths(values)


def assert_same(ref: dict, eng: dict, rtol=2e-5):
    """Elementwise to float32 precision, with an absolute floor at rtol x the output's scale."""
    assert set(ref) == set(eng)
    for name in eng:
        a, b = np.asarray(ref[name], np.float64), np.asarray(eng[name], np.float64)
        assert a.shape == b.shape, name
        floor = rtol * max(np.abs(b).max(), 1e-6)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=floor, err_msg=name)


def test_point_mass_paths_equal_engine(base, capture):
    eng = capture[0]
    cfg = point_mass_config(base)
    ref = run_numpy(cfg, 64, chunk=64, stats=False).scalars
    assert all(v.dtype == np.float32 for v in ref.values())
    assert np.ptp(ref["strategy/operating_profit_2040"], axis=0).max() == 0.0
    point = Engine(cfg).point_values()
    # the same compiled path function, the point-mass config's parameters as its argument (its
    # planned investment uses the point values, e.g. fx 150 where the fx driver's median is 149.7)
    values = np.broadcast_to(point, (N, len(point)))
    params = build_params(cfg)
    assert_same(ref, {k: v[:64] for k, v in eng.paths(values, params).items()})


def test_same_values_same_paths(mixed):
    """Random driver values, both policy branches (mixed scenario), every per-path scalar."""
    eng, values, out = mixed
    model = make_model(eng.params, eng.table.names, np.float32)
    ref = flat(model(values.astype(np.float32))[0])
    assert_same(ref, out, rtol=1e-4)


def test_same_uniforms_same_driver_values(base, capture):
    _, u, values, _ = capture
    sampler = DriverSampler.from_config(base)
    ref = sampler.values(u[:, : sampler.n_uniforms])
    mix = np.array([n.startswith("policy_delay.") for n in sampler.names])
    np.testing.assert_allclose(ref[:, ~mix], values[:, ~mix], rtol=2e-5, atol=2e-5)
    # the engine inverts the mixture CDF in float32: ~1e-3 relative in the far right tail
    np.testing.assert_allclose(ref[:, mix], values[:, mix], rtol=1e-3, atol=1e-5)


def test_point_lognormal_mixture_closed_form_matches_spec():
    """The reference's closed form of a point mass + lognormal mixture (a delay that is zero
    with some probability) against the library's mixture quantile function."""
    from distributions.spec import from_spec

    dist = from_spec(
        {
            "dist": "mixture",
            "components": [
                {"dist": "pointmass", "value": 0.0},
                {"dist": "lognormal", "p05": 0.5, "p95": 6.0},
            ],
            "weights": [0.55, 0.45],
        }
    )
    u = np.linspace(1e-4, 1 - 1e-4, 2001).astype(np.float32)
    w, ln = float(dist.weights[0]), dist.components[1]
    ref = point_lognormal_icdf(u, 0.0, w, float(ln.mu), float(ln.sigma))
    assert np.all(ref[u <= w] == 0.0) and np.all(ref[u > w] > 0.0)
    got = np.asarray(dist.icdf(u))
    assert np.all(got[u <= w] == 0.0), "the point mass is returned exactly"
    # float32 inversion vs closed form: equal to ~1e-5 except where the quantile is steep (u ~ 1)
    np.testing.assert_allclose(ref, got, rtol=2e-4, atol=1e-5)


def quantile_checks(ref: dict, eng: dict, label: str):
    bad = []
    for level, vars_ in MAIN.items():
        for var in vars_:
            name = f"{level}/{var}"
            a = ref[name].reshape(len(ref[name]), -1).astype(np.float64)
            b = eng[name].reshape(len(eng[name]), -1).astype(np.float64)
            for j in range(a.shape[1]):
                for q, k in ((0.5, 4.0), (0.05, 6.0), (0.95, 6.0)):
                    qa, qb = np.quantile(a[:, j], q), np.quantile(b[:, j], q)
                    se = np.hypot(*(float(quantile_mcse(v[:, j, None], q)[0]) for v in (a, b)))
                    tol = k * se + 1e-6 * (abs(qb) + 1.0)
                    if abs(qa - qb) > tol:
                        bad.append(f"{label} {name}[{j}] q{q}: numpy {qa:.5g} engine {qb:.5g} "
                                   f"(tol {tol:.3g})")  # fmt: skip
    assert not bad, "\n".join(bad)


def test_quantiles_agree_capture(base, capture):
    ref = run_numpy(base, N, seed=1, stats=False).scalars
    quantile_checks(ref, capture[3], "capture")


def test_quantiles_agree_mixed(mixed):
    eng, _, out = mixed
    run = run_numpy(eng.cfg, N, seed=2, chunk=8192)  # several chunks, with streaming statistics
    assert run.stats["strategy/operating_profit_2040"].n == N
    quantile_checks(run.scalars, out, "mixed")
