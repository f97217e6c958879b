"""Determinism, chunking, chains, scenario pairing, streaming statistics, NaN detection."""

import hashlib
import os
import subprocess
import sys

import jax
import numpy as np
import pandas as pd
import pytest

from engine import SimulationError, compose, simulate
from engine.stats import Stats, from_chunk, merge, pilot_edges

# one canonical program (chunk 2048) for most tests: it compiles once per machine (cache)
BASE = [
    "engine.n_paths=4096",
    "engine.chains=4",
    "engine.keep_trajectories=256",
    "engine.progress=false",
    "engine.chunk_size=2048",
]


def digest(res) -> str:
    h = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(res.raw.kept_scalars):
        h.update(np.ascontiguousarray(leaf).tobytes())
    h.update(res.raw.kept_drivers.tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def base_result():
    return simulate(compose(BASE))


def test_same_config_bit_identical(base_result):
    again = simulate(compose(BASE))
    assert digest(again) == digest(base_result)


def test_chunk_size_independence(base_result):
    small = simulate(compose(BASE + ["engine.chunk_size=512"]))
    np.testing.assert_array_equal(small.raw.kept_drivers, base_result.raw.kept_drivers)
    for a, b in zip(
        jax.tree_util.tree_leaves(small.raw.kept_scalars),
        jax.tree_util.tree_leaves(base_result.raw.kept_scalars),
        strict=True,
    ):
        # cumulative sums of terms of either sign: compare at rtol 1e-5 of the leaf's scale
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())
    sa, sb = (
        small.raw.stats["strategy"]["operating_profit_2040"],
        base_result.raw.stats["strategy"]["operating_profit_2040"],
    )
    np.testing.assert_allclose(sa.mean, sb.mean, rtol=1e-5)
    np.testing.assert_allclose(sa.sd, sb.sd, rtol=1e-4)


def test_chunk_program_reused_only_for_the_same_model(base_result):
    """A run of the same model structure reuses the compiled chunk program: the seed, the driver
    table's numbers and the parameters' numbers are arguments of it (a reused program gives the
    new numbers); a changed shape (bin count) builds a new one."""
    import dataclasses

    import jax.numpy as jnp

    from engine.drivers import build_driver_table
    from engine.params import build_params
    from engine.run import chunk_program, clear_program_cache

    def jitted(program):
        return program.run.func  # the jitted function; run binds this model's table and params

    cfg = compose(BASE + ["engine.seed=7"])
    table, params = build_driver_table(cfg), build_params(cfg)
    first = jitted(chunk_program(table, params, jnp.float32, cfg.engine.histogram_bins))
    rebuilt = build_driver_table(cfg), build_params(cfg)  # new objects, same content
    assert jitted(chunk_program(*rebuilt, jnp.float32, cfg.engine.histogram_bins)) is first
    seed0 = compose(BASE)  # base_result's config: another seed, the same program
    assert (
        jitted(chunk_program(build_driver_table(seed0), build_params(seed0), jnp.float32, 512))
        is first
    )
    other = dataclasses.replace(params, market_2040=params.market_2040 * 2)  # a number
    assert jitted(chunk_program(table, other, jnp.float32, cfg.engine.histogram_bins)) is first
    assert jitted(chunk_program(table, params, jnp.float32, 64)) is not first  # a shape

    reused = simulate(cfg)  # base_result (seed 0) built the program this run reuses
    clear_program_cache()
    fresh = simulate(cfg)
    assert digest(reused) == digest(fresh) != digest(base_result)
    a = reused.raw.stats["strategy"]["operating_profit_2040"]
    b = fresh.raw.stats["strategy"]["operating_profit_2040"]
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.hist, b.hist)


def test_chains_and_paths_never_share_keys():
    """The engine's own key function: every (chain, draw) pair gets its own uniforms, equal to
    the two-level fold_in it documents, and swapping chain and draw gives other numbers."""
    from distributions.keys import chain_draw_uniforms, driver_uniforms, root_key

    root = root_key(0)
    chains, draws, names = 4, 512, ("agi", "fx", "launch_delay.fusion")
    c, d = np.meshgrid(np.arange(chains), np.arange(draws), indexing="ij")
    u = np.asarray(
        chain_draw_uniforms(root, c.ravel().astype(np.uint32), d.ravel().astype(np.uint32), names)
    )
    assert len({row.tobytes() for row in u}) == chains * draws
    key = jax.random.fold_in(jax.random.fold_in(root, 3), 17)
    np.testing.assert_array_equal(u[3 * draws + 17], np.asarray(driver_uniforms(key, names)))
    assert not np.array_equal(u[1 * draws + 2], u[2 * draws + 1])  # (1, 2) vs (2, 1)


def test_chains_see_different_numbers(base_result):
    d = base_result.raw.kept_drivers
    for c in range(1, d.shape[0]):
        assert not np.any(np.all(d[0] == d[c], axis=-1))


def test_determinism_across_processes(base_result, tmp_path):
    code = (
        "import hashlib, jax, numpy as np\n"
        "from engine import compose, simulate\n"
        f"r = simulate(compose({BASE!r}))\n"
        "h = hashlib.sha256()\n"
        "[h.update(np.ascontiguousarray(x).tobytes()) for x in jax.tree_util.tree_leaves(r.raw.kept_scalars)]\n"
        "h.update(r.raw.kept_drivers.tobytes()); print(h.hexdigest())\n"
    )
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    out = (
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    assert out == digest(base_result)


SUMMARY_COLUMNS = ["mean", "sd", "p05", "p50", "p95", "mcse_mean", "ess_bulk", "r_hat"]


def assert_same_summary(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Every row and numeric column of two summary tables equal to rtol 1e-5."""
    assert len(a) == len(b)
    assert (a["variable"].to_numpy() == b["variable"].to_numpy()).all()
    for col in SUMMARY_COLUMNS:
        np.testing.assert_allclose(
            a[col].to_numpy(float), b[col].to_numpy(float), rtol=1e-5, atol=0, err_msg=col
        )


def test_summary_does_not_depend_on_the_chunk_size():
    """Histogram edges come from fixed global paths (engine.pilot), so every row of the
    summary, histogram quantiles included (4096 of 16384 paths kept), agrees at chunks 512 and
    8192 (16x). With edges from "the first chunk" ~1/3 of the quantile rows moved."""
    cfg = ["engine.n_paths=16384", "engine.keep_paths=4096", *BASE[2:4]]
    small = simulate(compose([*cfg, "engine.chunk_size=512"])).summary()
    large = simulate(compose([*cfg, "engine.chunk_size=8192"])).summary()
    assert (small["quantiles_from"] == "histogram").sum() > 1000
    assert_same_summary(small, large)


def test_two_devices_match_one(tmp_path):
    code = (
        "import numpy as np, jax\n"
        "from engine import compose, simulate\n"
        f"r = simulate(compose({BASE!r} + ['engine.keep_paths=1024']))\n"
        "print(len(r.raw.devices))\n"
        "np.save('{out}', r.scalars('strategy', 'operating_profit_2040').to_numpy())\n"
        "r.summary().to_csv('{out}.csv', index=False)\n"
    )
    results, summaries = {}, {}
    for n in (1, 2):
        out = tmp_path / f"dev{n}.npy"
        env = {
            **os.environ,
            "JAX_PLATFORMS": "cpu",
            "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}",
        }
        proc = subprocess.run(
            [sys.executable, "-c", code.replace("{out}", str(out))],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.strip().splitlines()[-1] == str(n)
        results[n] = np.load(out)
        summaries[n] = pd.read_csv(f"{out}.csv")
    np.testing.assert_allclose(results[1], results[2], rtol=1e-5, atol=1e-6)
    assert_same_summary(summaries[1], summaries[2])  # histogram quantiles included


def test_scenarios_are_paired_and_ordered():
    cap = simulate(compose(BASE + ["scenario=capture"]))
    nsb = simulate(compose(BASE + ["scenario=not_so_bright"]))
    mixed = simulate(compose(BASE + ["scenario=mixed"]))
    shared = [i for i, n in enumerate(cap.table.names) if not n.startswith("policy_success")]
    # common random numbers: every shared driver identical path by path
    np.testing.assert_array_equal(
        cap.raw.kept_drivers[..., shared], nsb.raw.kept_drivers[..., shared]
    )
    np.testing.assert_array_equal(
        cap.raw.kept_drivers[..., shared], mixed.raw.kept_drivers[..., shared]
    )
    d_cap = cap.scalars("macro", "digital_deficit_2040").to_numpy()
    d_nsb = nsb.scalars("macro", "digital_deficit_2040").to_numpy()
    differ = d_nsb != d_cap
    assert differ.mean() > 0.95
    assert np.all(d_nsb[differ] > d_cap[differ])
    p_cap = cap.scalars("strategy", "operating_profit_2040").to_numpy()
    p_nsb = nsb.scalars("strategy", "operating_profit_2040").to_numpy()
    differ = p_cap != p_nsb
    assert differ.mean() > 0.9
    assert np.all(p_nsb[differ] < p_cap[differ])
    va_cap = cap.scalars("macro", "existing_value_added_2040").to_numpy()
    va_nsb = nsb.scalars("macro", "existing_value_added_2040").to_numpy()
    assert np.all(va_nsb < va_cap)
    d_mix = mixed.scalars("macro", "digital_deficit_2040").to_numpy()
    assert np.all((d_mix >= d_cap - 1e-4) & (d_mix <= d_nsb + 1e-4))


def test_streaming_stats_match_exact(base_result):
    st = base_result.raw.stats["strategy"]["operating_profit_2040"]
    exact = base_result.scalars("strategy", "operating_profit_2040").to_numpy().astype(np.float64)
    np.testing.assert_allclose(st.mean, exact.mean(0), rtol=1e-5)
    np.testing.assert_allclose(st.sd, exact.std(0, ddof=1), rtol=1e-4)
    np.testing.assert_array_equal(st.min, exact.min(0))
    width = (st.hi - st.lo) / (st.hist.shape[-1] - 2)
    for q in (0.05, 0.5, 0.95):
        err = np.abs(st.quantile(q) - np.quantile(exact, q, axis=0))
        assert np.all(err <= width + 1e-9), (q, err, width)


def test_yearly_histogram_quantiles_within_bin_width():
    """Yearly outputs stream into histograms too: with every path's trajectory kept (the
    compiled program of BASE), each year's histogram quantiles lie within one bin width of the
    exact quantiles of all 4096 paths, and the bins are narrow enough for that to mean something."""
    res = simulate(compose(BASE + ["engine.keep_trajectories=4096"]))
    st = res.raw.stats["macro_yearly"]["digital_deficit"]
    traj = res.raw.trajectories["macro_yearly"]["digital_deficit"]
    assert res.raw.traj_mask.all()
    exact = traj.reshape(-1, *traj.shape[2:]).astype(np.float64)  # (4096, years)
    assert exact.shape == (4096, *st.mean.shape) and np.all(st.n == 4096)
    width = (st.hi - st.lo) / (st.hist.shape[-1] - 2)
    spread = np.quantile(exact, 0.95, axis=0) - np.quantile(exact, 0.05, axis=0)
    varies = spread > 0
    assert varies.sum() > len(varies) // 2
    assert np.all(width[varies] < 0.05 * spread[varies])
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        err = np.abs(st.quantile(q) - np.quantile(exact, q, axis=0))
        assert np.all(err <= width + 1e-9), (q, err, width)


def test_chan_merge_equals_one_pass():
    rng = np.random.default_rng(0)
    x = rng.lognormal(size=(1000, 3))
    lo, hi = pilot_edges(x[:200])
    from engine.stats import chunk_stats

    parts = [
        from_chunk(chunk_stats(x[i : i + 250], np.ones(250, np.float32), lo, hi, 64), lo, hi)
        for i in range(0, 1000, 250)
    ]
    merged = None
    for p in parts:
        merged = merge(merged, p)
    assert isinstance(merged, Stats)
    np.testing.assert_allclose(merged.mean, x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(merged.sd, x.std(0, ddof=1), rtol=1e-4)
    assert merged.hist.sum() == 3000


def test_kept_runs_are_contiguous_copies():
    """A chunk of global indices 90..129 straddles chains 0 and 1 (100 draws each) and keeps
    draws below 95 of each chain, and padding past 125 is not real."""
    from engine.run import _kept_runs

    g = np.arange(90, 130)
    chain, draw = g // 100, g % 100
    keep = (g < 125) & (draw < 95)
    assert _kept_runs(chain, draw, keep) == [(0, 5, 0, 90), (10, 35, 1, 0)]
    assert _kept_runs(chain, draw, np.zeros(40, bool)) == []
    rows = [r for r0, r1, _, _ in _kept_runs(chain, draw, keep) for r in range(r0, r1)]
    np.testing.assert_array_equal(rows, np.flatnonzero(keep))


def test_chunk_stats_takes_out_copied_rows_exactly():
    """Rows with mask 0 are copies of the first counted row (the engine's padding contract):
    the statistics equal those of the counted rows alone; nothing counted gives merge's
    identity."""
    from engine.stats import chunk_stats

    rng = np.random.default_rng(1)
    x = rng.lognormal(size=(64, 3)).astype(np.float32)
    mask = np.ones(64, np.float32)
    mask[[0, 1, 5, 40, 63]] = 0.0
    first = int(np.flatnonzero(mask)[0])
    x[mask == 0] = x[first]
    lo, hi = pilot_edges(x)
    got = from_chunk(chunk_stats(x, mask, lo, hi, 16), lo, hi)
    kept = x[mask > 0].astype(np.float64)
    assert got.n.flat[0] == 59
    np.testing.assert_allclose(got.mean, kept.mean(0), rtol=1e-5)
    np.testing.assert_allclose(got.sd, kept.std(0, ddof=1), rtol=1e-4)
    np.testing.assert_array_equal(got.min, kept.min(0))
    np.testing.assert_array_equal(got.max, kept.max(0))
    for j in range(3):
        edges = np.linspace(lo[j], hi[j], 17)
        inner = np.histogram(kept[:, j], edges)[0]
        np.testing.assert_array_equal(got.hist[j, 1:-1], inner)
        assert got.hist[j, 0] == (kept[:, j] < lo[j]).sum()
    assert got.hist.sum() == 3 * 59

    copies = np.repeat(x[:1], 64, axis=0)  # nothing counted: every row copies row 0
    empty = from_chunk(chunk_stats(copies, np.zeros(64, np.float32), lo, hi, 16), lo, hi)
    assert empty.n.flat[0] == 0 and empty.hist.sum() == 0
    assert np.isposinf(empty.min).all() and np.isneginf(empty.max).all()
    again = merge(got, empty)
    for field in ("n", "mean", "m2", "min", "max", "hist"):
        np.testing.assert_array_equal(getattr(again, field), getattr(got, field))


def test_stats_layout_round_trip():
    """Per-leaf Stats -> two flat blocks -> per-leaf Stats again, field for field; and packing
    per-leaf chunk results gives the same blocks as flattening their host Stats."""
    from engine.stats import PLAIN, StatsLayout, chunk_stats

    rng = np.random.default_rng(2)
    shapes = {"domain": {"a": (3,), "b": ()}, "domain_yearly": {"c": (2, 3)}, "macro": {"d": (4,)}}
    xs = {g: {v: rng.normal(size=(32, *s)).astype(np.float32) for v, s in vs.items()}
          for g, vs in shapes.items()}  # fmt: skip
    layout = StatsLayout.of(shapes)
    assert layout.sizes == {"hist": 3 + 1 + 4, PLAIN: 6}
    edges = {g: {v: pilot_edges(x) for v, x in vs.items()} for g, vs in xs.items()}
    mask = np.ones(32, np.float32)
    parts = {
        g: {v: chunk_stats(x, mask, *edges[g][v], 0 if g == "domain_yearly" else 8)
            for v, x in vs.items()}
        for g, vs in xs.items()
    }  # fmt: skip
    tree = {g: {v: from_chunk(p, *edges[g][v]) for v, p in vs.items()} for g, vs in parts.items()}
    flat = layout.flatten_stats(tree)
    packed = {
        b: from_chunk(p, *layout.flatten_edges(edges)[b]) for b, p in layout.pack(parts).items()
    }
    back = layout.unflatten(packed)
    for g, vs in tree.items():
        for v, st in vs.items():
            for f in ("n", "mean", "m2", "min", "max", "hist", "lo", "hi"):
                np.testing.assert_allclose(getattr(back[g][v], f), getattr(st, f), rtol=1e-7)
                np.testing.assert_allclose(
                    getattr(layout.unflatten(flat)[g][v], f), getattr(st, f), rtol=0
                )


def test_nonfinite_outcome_names_path_and_variable():
    import dataclasses

    from engine.drivers import build_driver_table
    from engine.params import build_params
    from engine.run import simulate_raw

    cfg = compose(
        ["engine.n_paths=64", "engine.chains=1", "engine.chunk_size=64", "engine.progress=false"]
    )
    params = build_params(cfg)
    bad = params.market_2040.copy()
    bad[params.domain_ids.index("fusion")] = np.nan
    with pytest.raises(SimulationError, match=r"non-finite value .* at global path index 0"):
        simulate_raw(cfg, build_driver_table(cfg), dataclasses.replace(params, market_2040=bad))


def test_nonfinite_detection_reads_the_chunk_statistics():
    """The run loop checks each chunk's streamed sums for NaN / inf, then bisects over row masks
    (rerunning the same compiled chunk) for the first bad path; a finite float32 overflow, where
    no single path is at fault, stops with its own message."""
    from engine.run import _nonfinite_leaf, _raise_nonfinite

    def st(mean):
        one = np.ones(2)
        return Stats(n=one, mean=np.asarray(mean, float), m2=one, min=one, max=one,
                     hist=np.zeros((2, 3), np.int64), lo=one, hi=one)  # fmt: skip

    assert _nonfinite_leaf({"g": {"v": st([1.0, 2.0])}}) is None
    assert _nonfinite_leaf({"g": {"v": st([1.0, 2.0]), "w": st([np.nan, 1.0])}}) == "g/w"
    assert _nonfinite_leaf({"g": {"v": st([np.inf, 2.0])}}) == "g/v"

    bad_rows = {37, 90}
    calls = []

    def stats_under(mask):  # a fake chunk: rows 37 and 90 put a NaN into g/v
        calls.append(int(mask.sum()))
        return {"g": {"v": st([np.nan if bad_rows & set(np.flatnonzero(mask)) else 0.0, 0.0])}}

    real = np.arange(128) < 100
    with pytest.raises(
        SimulationError, match=r"non-finite value .* in g/v at global path index 4133"
    ):
        _raise_nonfinite(stats_under, real, 4096)
    assert len(calls) == 8  # log2(128) bisection steps + the final single row
    with pytest.raises(SimulationError, match=r"overflowed float32 .* index 4096"):
        _raise_nonfinite(lambda mask: {"g": {"v": st([np.inf if mask.sum() > 1 else 0.0, 0])}},
                         real, 4096)  # fmt: skip


def test_supplied_uniforms_replace_random_draws(base_result):
    cfg = compose(
        ["engine.n_paths=64", "engine.chains=1", "engine.chunk_size=64", "engine.progress=false"]
    )
    from engine.drivers import build_driver_table

    n_u = len(build_driver_table(cfg).uniform_names)
    u = np.full((64, n_u), 0.5)
    res = simulate(cfg, uniforms=u, apply_copula=False)
    prof = res.scalars("strategy", "operating_profit_2040").to_numpy()
    assert np.ptp(prof, axis=0).max() == 0.0
    with pytest.raises(SimulationError, match="shape"):
        simulate(cfg, uniforms=u[:10])


def _python_last_line(code: str) -> str:
    """The last line ``code`` prints in a fresh CPU-only Python process (which must succeed)."""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1]


def test_float64_is_scoped_to_the_run_and_agrees_with_float32(base_result):
    """engine.dtype=float64 computes under jax.enable_x64 for the run only: the process's flag is
    unchanged after it, and neither a repeated float64 run nor a float32 run after it sees other
    numbers than in a fresh process (with the old process-wide switch both did)."""
    code = (
        "import hashlib, jax, numpy as np\n"
        "from engine import compose, simulate\n"
        f"r = simulate(compose({BASE + ['engine.dtype=float64']!r}))\n"
        "h = hashlib.sha256()\n"
        "[h.update(np.ascontiguousarray(x).tobytes()) for x in jax.tree_util.tree_leaves(r.raw.kept_scalars)]\n"
        "h.update(r.raw.kept_drivers.tobytes()); print(h.hexdigest())\n"
    )
    fresh = _python_last_line(code)

    before = jax.config.jax_enable_x64
    first = simulate(compose(BASE + ["engine.dtype=float64"]))
    assert jax.config.jax_enable_x64 == before
    assert first.raw.kept_scalars["strategy"]["operating_profit_2040"].dtype == np.float64
    assert first.raw.kept_drivers.dtype == np.float64
    again = simulate(compose(BASE + ["engine.dtype=float64"]))
    assert digest(first) == digest(again) == fresh
    assert digest(simulate(compose(BASE))) == digest(base_result)
    assert jax.config.jax_enable_x64 == before

    med64 = first.scalars("strategy", "operating_profit_2040").median().to_numpy()
    med32 = base_result.scalars("strategy", "operating_profit_2040").median().to_numpy()
    # same paths (same keys), float32 vs float64 arithmetic and 23- vs 52-bit uniforms
    np.testing.assert_allclose(med64, med32, rtol=2e-2, atol=1e-2)


def test_importing_the_library_changes_nothing_process_wide():
    """``import engine`` and its library modules leave the environment, signal handlers, root
    logging handlers and JAX's 64-bit flag as they were, and load no malloc tuning (the CLI's)."""
    code = (
        "import logging, os, signal, sys\n"
        "import jax\n"
        "env, x64 = dict(os.environ), jax.config.jax_enable_x64\n"
        "sigs = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]\n"
        "handlers = list(logging.getLogger().handlers)\n"
        "import engine\n"
        "import engine.api, engine.checkpoint, engine.chunks, engine.replay, engine.results\n"
        "import engine.run, engine.store\n"
        "engine.compose([])\n"
        "print(dict(os.environ) == env, jax.config.jax_enable_x64 == x64,\n"
        "      [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)] == sigs,\n"
        "      logging.getLogger().handlers == handlers,\n"
        "      [m for m in sys.modules if 'malloc' in m.split('.')[-1]])\n"
    )
    assert _python_last_line(code) == "True True True True []"


def test_summary_diagnostics_scalars_by_default_yearly_on_request(base_result):
    default = base_result.summary()
    yearly = default["year"].notna()
    assert default.loc[~yearly, "r_hat"].notna().mean() > 0.9  # NaN only for constant outputs
    assert (
        default.loc[yearly, "r_hat"].isna().all() and default.loc[yearly, "ess_bulk"].isna().all()
    )
    full = base_result.summary(diagnostics="all")
    macro = full[(full["group"] == "macro_yearly") & full["year"].notna()]
    assert macro["r_hat"].notna().mean() > 0.9
    assert macro["r_hat"].dropna().between(0.9, 1.2).all()
    pd.testing.assert_frame_equal(
        full.loc[~yearly].reset_index(drop=True), default.loc[~yearly].reset_index(drop=True)
    )
    with pytest.raises(ValueError, match="diagnostics must be"):
        base_result.summary(diagnostics="some")
