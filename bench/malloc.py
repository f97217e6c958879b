"""What jp2040.malloc buys and costs: page faults and time per chunk, and the cold compile, with
the engine's glibc settings (``JP2040_MALLOC=engine``) and with glibc's defaults (``default``).

Each measurement runs in a fresh subprocess (the settings must be made before JAX starts its CPU
client), with a fresh, empty compilation cache. Modes alternate (engine, default, engine, ...)
because this VM's speed drifts by up to 25% between runs. A worker:

* cold compile: ``simulate`` of one 16,384-path chunk with the default config; reported is its
  ``compile_time_s`` (trace + XLA compile + the pilot chunk);
* chunks: the same compiled chunk program on 16,384 paths, ``--chunks`` calls after one warm-up;
  minimum and median seconds per call, and minor page faults per call (``ru_minflt``).

Usage::

    python bench/malloc.py              # 2 rounds of each mode (~3 minutes here)
    python bench/malloc.py --rounds 3 --chunks 20
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(_HERE)
sys.path[:] = [ROOT] + [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
CHUNK = 16384
MODES = ("engine", "default")


def worker(n_chunks: int) -> dict:
    import resource

    import jax
    import jax.numpy as jnp
    import numpy as np

    import engine  # noqa: F401  (applies JP2040_MALLOC; importing jax does not start its client)
    from distributions.keys import root_key
    from engine import compose, simulate
    from engine.drivers import build_driver_table
    from engine.params import build_params
    from engine.run import chunk_program
    from engine.stats import pilot_edges
    from jp2040.malloc import keep_freed_memory

    with tempfile.TemporaryDirectory(prefix="jp2040-bench-xla-") as cache:
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        cfg = compose(["engine.progress=false", f"engine.n_paths={CHUNK}"])
        compile_s = simulate(cfg).raw.compile_time_s

    table, params = build_driver_table(cfg), build_params(cfg)
    program = chunk_program(table, params, jnp.float32, cfg.engine.histogram_bins)  # in memory
    root = root_key(0)
    chain = jnp.zeros(CHUNK, jnp.uint32)
    draw = jnp.arange(CHUNK, dtype=jnp.uint32)
    mask = jnp.ones(CHUNK, jnp.float32)
    rows = jnp.arange(4000, dtype=jnp.int32)
    success = jnp.asarray(params.success_prob, jnp.float32)
    dummy = jax.tree_util.tree_map(
        lambda s: (jnp.zeros(s), jnp.ones(s)),
        program.shapes,
        is_leaf=lambda z: isinstance(z, tuple),
    )
    scal, _, traj, _ = program.run(root, chain, draw, mask, rows, dummy, None, success)
    edges = jax.tree_util.tree_map(
        lambda x: tuple(jnp.asarray(a, jnp.float32) for a in pilot_edges(np.asarray(x)[:4000])),
        {**scal, **traj},
    )

    def one():
        return jax.block_until_ready(
            program.run(root, chain, draw, mask, rows, edges, None, success)
        )

    one()
    times = []
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n_chunks):
        t = time.perf_counter()
        one()
        times.append(time.perf_counter() - t)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / n_chunks
    times.sort()
    return {
        "applied": keep_freed_memory(),
        "compile_pilot_s": round(compile_s, 2),
        "chunk_min_s": round(times[0], 4),
        "chunk_median_s": round(times[len(times) // 2], 4),
        "faults_per_chunk": round(faults),
    }


def run_worker(mode: str, n_chunks: int) -> dict:
    env = {**os.environ, "JP2040_MALLOC": mode, "JAX_PLATFORMS": "cpu"}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", str(n_chunks)]
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    if out.returncode or not lines:
        sys.stderr.write(out.stderr[-4000:])
        raise SystemExit(f"worker ({mode}) failed with exit code {out.returncode}")
    return json.loads(lines[-1][len("RESULT ") :])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=2, help="workers per mode, alternating")
    ap.add_argument("--chunks", type=int, default=10, help="timed chunk calls per worker")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker is not None:
        print("RESULT " + json.dumps(worker(args.worker)), flush=True)
        return 0

    one, five, _ = os.getloadavg()
    print(f"jp2040 malloc benchmark (CPU, load {one:.2f} / {five:.2f}, {os.cpu_count()} cores)")
    print(f"{'mode':>8} {'applied':>8} {'compile+pilot s':>16} {'chunk min s':>12} "
          f"{'chunk median s':>15} {'faults/chunk':>13}")  # fmt: skip
    results = {m: [] for m in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            r = run_worker(mode, args.chunks)
            results[mode].append(r)
            print(f"{mode:>8} {str(r['applied']):>8} {r['compile_pilot_s']:>16} "
                  f"{r['chunk_min_s']:>12} {r['chunk_median_s']:>15} "
                  f"{r['faults_per_chunk']:>13}", flush=True)  # fmt: skip

    def best(mode, key):
        return min(r[key] for r in results[mode])

    print(
        f"chunk_min_engine={best('engine', 'chunk_min_s')} "
        f"chunk_min_default={best('default', 'chunk_min_s')} "
        f"faults_engine={best('engine', 'faults_per_chunk')} "
        f"faults_default={best('default', 'faults_per_chunk')} "
        f"compile_engine={best('engine', 'compile_pilot_s')} "
        f"compile_default={best('default', 'compile_pilot_s')}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
