"""GPU throughput of the jp2040 path model: paths/s at 1e6, 1e7 and 1e8 paths, one script.

Self-contained for a CUDA machine with JAX (0.11.2 or later), NumPy, PyYAML and OmegaConf (which
``engine.config.validate`` types the config with): it does not use Hydra, ArviZ, pandas or SciPy.
The config is read from ``configs/*/default.yaml`` (and ``configs/scenario/<name>.yaml``) with
PyYAML and checked by ``engine.config.validate``; the model is the engine's own:
``engine.drivers`` (driver table, quantile functions, copula), ``engine.model.make_path_fn``,
``engine.stats.chunk_stats`` and the key convention of ``engine.run`` (path g of chain c:
``fold_in(fold_in(root, c), g)``, one threefry hash per driver uniform). Those modules import
only JAX and NumPy.

One jitted call handles a block of ``--block`` paths (2^22 on GPU): a ``lax.fori_loop`` over
sub-batches of ``--sub`` paths (2^18 on GPU, bounding memory: ~2.7k output elements per path),
each doing uniforms -> driver values -> paths -> streaming statistics (count, mean, M2, min,
max, 512-bin histogram of every element of every scalar and yearly output), merged inside the
loop (Chan's formula); blocks merge on the host in float64. Histogram edges come from a pilot of
4096 paths, like the engine. Compile time is reported separately (first call).

Printed: paths/s per size; the fraction of time in random numbers (uniforms + quantile
functions), the path model and the statistics (from three fused variants of the block: draws
only, draws + model, everything; the differences are the shares); draws per path (uniforms,
threefry hashes); XLA's flop estimate per path (``cost_analysis`` of one sub-batch).

Usage::

    python bench/gpu.py                          # 1e6, 1e7, 1e8 on the default JAX backend
    python bench/gpu.py --sizes 1e4 --block 4096 --sub 1024     # CPU smoke test
    python bench/gpu.py --sizes 4096 --block 4096 --sub 1024 --no-shares --no-flops  # (CI test)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(_HERE)
# run as a script from bench/: keep bench/ off sys.path (bench/distributions.py, bench/engine.py
# would shadow the packages) and put the repository root first
sys.path[:] = [ROOT] + [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from distributions.keys import chain_draw_uniforms, root_key  # noqa: E402
from engine.config import CONFIG_DIR, validate  # noqa: E402
from engine.drivers import build_driver_table  # noqa: E402
from engine.model import DriverColumns, make_path_fn  # noqa: E402
from engine.params import build_params  # noqa: E402
from engine.stats import Stats, chunk_stats, from_chunk, merge, merge_fields, pilot_edges  # noqa: E402

GROUPS = ("engine", "drivers", "domains", "strategies", "macro", "report")
PILOT = 4096


def load_config(scenario: str = "mixed", overrides: dict | None = None):
    """The default config without Hydra: each group's default.yaml, validated."""
    import yaml

    raw = {g: yaml.safe_load((CONFIG_DIR / g / "default.yaml").read_text()) for g in GROUPS}
    raw["scenario"] = yaml.safe_load((CONFIG_DIR / "scenario" / f"{scenario}.yaml").read_text())
    raw["mode"] = "run"
    raw["engine"].update(overrides or {})
    return validate(raw)


def _size(s: str) -> int:
    return int(float(s))


def _flops(compiled) -> float | None:
    try:
        cost = compiled.cost_analysis()
    except Exception:  # noqa: BLE001 - not every backend/version provides it
        return None
    if isinstance(cost, list | tuple):
        cost = cost[0] if cost else None
    if not cost:
        return None
    return float(cost.get("flops", 0.0)) or None


class Bench:
    def __init__(self, cfg, block: int, sub: int):
        self.cfg = cfg
        e = cfg.engine
        self.table = build_driver_table(cfg)
        self.params = build_params(cfg)
        self.cols = DriverColumns.from_table(self.table, self.params)
        self.path_fn = make_path_fn(self.params, self.cols, jnp.float32)
        self.root = root_key(e.seed)
        self.names = self.table.uniform_names
        self.bins = e.histogram_bins
        self.chains = e.chains
        self.block, self.sub = block, sub
        assert block % sub == 0, "--block must be a multiple of --sub"

    # --- pieces, for a sub-batch of global path indices g (uint32, shape (sub,))
    def draws(self, g, per_chain):
        chain, draw = g // per_chain, g % per_chain

        u = chain_draw_uniforms(self.root, chain, draw, self.names).astype(jnp.float32)
        return self.table.values(u)

    def outputs(self, values):
        scalars, yearly = self.path_fn(values)
        return {**scalars, **yearly}

    def pilot_edges(self):
        g = jnp.arange(PILOT, dtype=jnp.uint32)
        out = jax.jit(lambda g: self.outputs(self.draws(g, jnp.uint32(1 << 30))))(g)
        return jax.tree_util.tree_map(
            lambda x: tuple(jnp.asarray(a, jnp.float32) for a in pilot_edges(np.asarray(x))), out
        )

    # --- a whole block: fori_loop over sub-batches, three variants for the time shares
    def make_block(self, variant: str):
        sub, n_sub = self.sub, self.block // self.sub
        is_edge = lambda z: isinstance(z, tuple) and len(z) == 2  # noqa: E731

        def block_fn(start, n_total, per_chain, edges):
            def sub_batch(i):
                g = start + i * sub + jnp.arange(sub, dtype=jnp.uint32)
                mask = (g < n_total).astype(jnp.float32)
                g = jnp.where(g < n_total, g, g[0])  # padding copies the first row (chunk_stats)
                return g, mask

            if variant == "draws":  # uniforms + quantile functions, reduced to one number

                def body(i, acc):
                    g, mask = sub_batch(i)
                    return acc + jnp.sum(self.draws(g, per_chain) * mask[:, None])

                return jax.lax.fori_loop(0, n_sub, body, jnp.float32(0))

            if variant == "model":  # draws + path model, every output reduced

                def body(i, acc):
                    g, mask = sub_batch(i)
                    out = self.outputs(self.draws(g, per_chain))
                    leaves = jax.tree_util.tree_leaves(out)
                    return acc + sum(jnp.sum(x.reshape(sub, -1) * mask[:, None]) for x in leaves)

                return jax.lax.fori_loop(0, n_sub, body, jnp.float32(0))

            def stats_of(i):
                g, mask = sub_batch(i)
                out = self.outputs(self.draws(g, per_chain))
                return jax.tree_util.tree_map(
                    lambda x, e: chunk_stats(x, mask, e[0], e[1], self.bins),
                    out,
                    edges,
                    is_leaf=lambda z: is_edge(z),
                )

            first = stats_of(0)

            def body(i, acc):
                return jax.tree_util.tree_map(
                    lambda a, b: merge_fields(a, b, jnp),  # float32 on the device
                    acc,
                    stats_of(i),
                    is_leaf=lambda z: isinstance(z, dict) and "n" in z,
                )

            return jax.lax.fori_loop(1, n_sub, body, first)

        return jax.jit(block_fn)

    def run(self, fn, n_paths: int, edges, collect: bool):
        per_chain = jnp.uint32(max(n_paths // self.chains, 1))
        total = None
        for start in range(0, n_paths, self.block):
            part = fn(jnp.uint32(start), jnp.uint32(n_paths), per_chain, edges)
            if collect:
                host = jax.tree_util.tree_map(
                    lambda p, e: from_chunk(p, e[0], e[1]),
                    part,
                    edges,
                    is_leaf=lambda z: isinstance(z, dict) and "hist" in z,
                )
                total = (
                    host
                    if total is None
                    else jax.tree_util.tree_map(
                        merge, total, host, is_leaf=lambda z: isinstance(z, Stats)
                    )
                )
            else:
                total = part
        return jax.block_until_ready(total)

    def flops_per_path(self, edges):
        g = jnp.arange(self.sub, dtype=jnp.uint32)
        mask = jnp.ones(self.sub, jnp.float32)
        per_chain = jnp.uint32(1 << 30)

        def one_sub(g, mask):
            out = self.outputs(self.draws(g, per_chain))
            return jax.tree_util.tree_map(
                lambda x, e: chunk_stats(x, mask, e[0], e[1], self.bins),
                out,
                edges,
                is_leaf=lambda z: isinstance(z, tuple) and len(z) == 2,
            )

        flops = {}
        for name, f in (
            ("draws", lambda g, m: self.draws(g, per_chain)),
            ("draws+model", lambda g, m: self.outputs(self.draws(g, per_chain))),
            ("all", one_sub),
        ):
            fl = _flops(jax.jit(f).lower(g, mask).compile())
            flops[name] = None if fl is None else fl / self.sub
        return flops


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1e6,1e7,1e8")
    ap.add_argument("--block", type=int, default=None, help="paths per jitted call (GPU 2^22)")
    ap.add_argument("--sub", type=int, default=None, help="paths per loop step (GPU 2^18)")
    ap.add_argument("--scenario", default="mixed")
    ap.add_argument("--repeat", type=int, default=1, help="timed repetitions (best is printed)")
    ap.add_argument("--no-shares", action="store_true", help="skip the RNG / model / stats shares")
    ap.add_argument("--no-flops", action="store_true", help="skip XLA's flop estimate (3 compiles)")
    args = ap.parse_args(argv)

    dev = jax.devices()[0]
    gpu = dev.platform == "gpu"
    block = args.block or (1 << 22 if gpu else 8192)
    sub = args.sub or min(block, 1 << 18 if gpu else 2048)
    sizes = [_size(s) for s in args.sizes.split(",") if s]
    print(f"jax {jax.__version__} on {dev.platform}: {dev.device_kind} ({len(jax.devices())} "
          f"device(s), using 1); block {block} paths, sub-batch {sub}")  # fmt: skip

    t0 = time.perf_counter()
    cfg = load_config(args.scenario)
    b = Bench(cfg, block, sub)
    edges = b.pilot_edges()
    print(f"setup + pilot: {time.perf_counter() - t0:.1f} s", flush=True)
    n_uniforms = len(b.names)
    n_elems = sum(int(np.prod(lo.shape)) for lo, _ in jax.tree_util.tree_leaves(
        edges, is_leaf=lambda z: isinstance(z, tuple) and len(z) == 2))  # fmt: skip
    print(f"draws per path: {n_uniforms} uniforms ({n_uniforms} threefry hashes for the driver "
          f"uniforms + 2 for the path key), {b.table.n_drivers} drivers; {n_elems} output "
          f"elements per path streamed into statistics")  # fmt: skip

    full = b.make_block("full")
    t = time.perf_counter()
    b.run(full, min(block, sizes[0]), edges, collect=True)
    print(f"compile + first block: {time.perf_counter() - t:.1f} s", flush=True)

    results = {}
    for n in sizes:
        best = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            stats = b.run(full, n, edges, collect=True)
            best = min(best, time.perf_counter() - t)
        results[n] = best
        prof = stats["strategy"]["operating_profit_2040"]
        print(f"  {n:>12,} paths: {best:8.3f} s  {n / best:>14,.0f} paths/s   (check: n = "
              f"{prof.n[0]:.0f}, strategy profit 2040 mean {np.round(prof.mean, 2).tolist()}, "
              f"median {np.round(prof.quantile(0.5), 2).tolist()})", flush=True)  # fmt: skip

    if not args.no_shares:
        n = min(sizes[-1], 16 * block)
        times = {}
        for variant in ("draws", "model", "full"):
            fn = full if variant == "full" else b.make_block(variant)
            b.run(fn, block, edges, collect=variant == "full")  # compile
            t = time.perf_counter()
            b.run(fn, n, edges, collect=variant == "full")
            times[variant] = time.perf_counter() - t
        rng = times["draws"] / times["full"]
        model = (times["model"] - times["draws"]) / times["full"]
        print(f"time shares at {n:,} paths: random numbers (uniforms + quantile functions) "
              f"{100 * rng:.0f}%, path model {100 * model:.0f}%, streaming statistics and host "
              f"merge {100 * (1 - rng - model):.0f}%  (draws {times['draws']:.3f} s, +model "
              f"{times['model']:.3f} s, full {times['full']:.3f} s)")  # fmt: skip
    if not args.no_flops:
        flops = b.flops_per_path(edges)
        print("XLA flop estimate per path: " + ", ".join(
            f"{k} {v:,.0f}" if v else f"{k} n/a" for k, v in flops.items()))  # fmt: skip
    if 10**8 in results:
        verdict = "meets" if results[10**8] < 3.0 else "misses"
        print(f"1e8 paths in {results[10**8]:.2f} s: {verdict} the 3 s target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
