"""Cost of the exact tail buffers (engine.tails): per chunk, and end to end.

* per chunk (``--sizes``): the default model's tail outputs (strategy, area, macro: E elements),
  k = tail_size(tail_alpha, N), one chunk of 16384 random values per element. Timed: the
  device top-k (``candidates_fn``) and the host merge into a full buffer (``chunk_buffers`` +
  ``TailBuffers.merge``), median of ``--repeat`` chunks after one warm-up; memory: the buffers
  (values float64 + indices int64, E x k) and one chunk's candidates. Multiplying by the chunk
  count (N / 16384) gives the run's cost without simulating N paths.
* end to end (``--end-to-end N``): ``simulate_raw`` at N paths with the default tails and with
  ``engine.tail_alpha=0`` (no tails), alternating, after a warm-up that compiles both.

Usage::

    python bench/tails.py --sizes 1e6,1e7 --alphas 0.01,0.001
    python bench/tails.py --sizes 1e6 --end-to-end 2e5
"""

from __future__ import annotations

import argparse
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(_HERE)
sys.path[:] = [ROOT] + [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
CHUNK = 16384


def per_chunk(n_paths: int, alpha: float, repeat: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from engine import compose
    from engine.drivers import build_driver_table
    from engine.params import build_params
    from engine.run import chunk_program
    from engine.tails import TailLayout, TailState, badness_fn

    cfg = compose([f"engine.n_paths={n_paths}", f"engine.tail_alpha={alpha}"])
    prog = chunk_program(build_driver_table(cfg), build_params(cfg), jnp.float32, 512)
    layout = TailLayout.of(prog.shapes, cfg.engine.tail_outputs, alpha, n_paths, False, n_paths)
    select = tuple((g, v) for g, v, *_ in layout.leaves)
    fn = badness_fn(select, False)
    sign = layout.sign
    rng = np.random.default_rng(0)

    def chunk_values():
        return {
            g: {
                v: jnp.asarray(rng.normal(size=(CHUNK, *s)).astype(np.float32))
                for gg, v, s, *_ in layout.leaves
                if gg == g
            }
            for g in {g for g, *_ in layout.leaves}
        }

    mask = jnp.ones(CHUNK, jnp.float32)
    sign_dev = jnp.asarray(sign, jnp.float32)
    # steady state half-way through the run (g = N / 2 paths seen): the buffers hold the k
    # worst of g standard normals, so a chunk sends about k * CHUNK / g values per row on
    from scipy.stats import norm

    g = n_paths // 2
    state = TailState(layout, layout.empty(), True)
    u = (np.arange(layout.k) + 0.5) / layout.k
    worst = norm.isf(u * layout.k / g).astype(np.float32)
    state.worst.add(np.tile(worst, (layout.n_elem, 1)), 0)
    dev, host = [], []
    for r in range(repeat + 1):
        vals = jax.block_until_ready(chunk_values())
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn(vals, mask, sign_dev))
        t1 = time.perf_counter()
        state.add(out, g + r * CHUNK)
        t2 = time.perf_counter()
        if r:
            dev.append(t1 - t0)
            host.append(t2 - t1)
    chunks = -(-n_paths // CHUNK)
    return {
        "n_paths": n_paths,
        "alpha": alpha,
        "elements": layout.n_elem,
        "k": layout.k,
        "device_ms": 1e3 * float(np.median(dev)),
        "host_ms": 1e3 * float(np.median(host)),
        "run_s": chunks * (float(np.median(dev)) + float(np.median(host))),
        "buffer_mb": 16 * layout.n_elem * layout.k / 1e6,
        "badness_mb": 4 * layout.n_elem * CHUNK / 1e6,
    }


def end_to_end(n_paths: int, repeat: int) -> dict:
    from engine import compose
    from engine.run import simulate_raw

    base = [f"engine.n_paths={n_paths}", "engine.progress=false", "engine.keep_trajectories=0"]
    cfgs = {"tails": compose(base), "no tails": compose([*base, "engine.tail_alpha=0"])}
    for cfg in cfgs.values():  # warm-up: compile both programs
        simulate_raw(cfg.with_engine(n_paths=CHUNK * 2))
    out = {name: [] for name in cfgs}
    for _ in range(repeat):
        for name, cfg in cfgs.items():
            out[name].append(simulate_raw(cfg).wall_time_s)
    return {name: min(ts) for name, ts in out.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python bench/tails.py")
    p.add_argument("--sizes", default="1e6,1e7")
    p.add_argument("--alphas", default="0.01,0.001")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--end-to-end", default="", help="path count of an A/B run (e.g. 2e5)")
    args = p.parse_args(argv)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    print("n_paths  alpha  E  k  device_ms/chunk  host_ms/chunk  run_s  buffer_MB")
    for size in [int(float(s)) for s in args.sizes.split(",") if s]:
        for alpha in [float(a) for a in args.alphas.split(",") if a]:
            r = per_chunk(size, alpha, args.repeat)
            print(
                f"{r['n_paths']:.0e}  {r['alpha']}  {r['elements']}  {r['k']}  "
                f"{r['device_ms']:.1f}  {r['host_ms']:.1f}  {r['run_s']:.1f}  "
                f"{r['buffer_mb']:.1f}"
            )
    if args.end_to_end:
        n = int(float(args.end_to_end))
        walls = end_to_end(n, max(1, min(args.repeat, 3)))
        print(
            f"end to end at {n:.0e} paths (best wall s): "
            + ", ".join(f"{k} {v:.2f}" for k, v in walls.items())
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
