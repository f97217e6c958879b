"""End-to-end CPU throughput of the engine vs the plain NumPy reference (bench/numpy_reference.py).

What is timed, per path count N (each in a fresh subprocess, so peak RSS is per run):

* engine: ``simulate(cfg)`` (all domains, strategies, areas, macro outcomes, streaming statistics
  of every output, kept draws) plus ``result.summary()`` (the summary table with its ArviZ
  diagnostics), after compilation. A warm-up run of one chunk (and its summary) first compiles
  the chunk function into a fresh, empty compilation cache: its compile time (trace + XLA compile
  + one pilot chunk) is the reported ``compile_s``. The timed run reuses that compiled program,
  as any later run of the same model in the process does (``engine.run.chunk_program``); its
  wall still holds every other per-run cost (driver table, pilot chunk, pilot edges, summary).
  What a fresh process pays on top, with the program in the persistent compilation cache (trace,
  lowering, loading the executable), is measured too (``program_load_s``, from two one-chunk runs
  with and without the in-process program) and shown as ``fresh process`` paths/s and ratio.
  One host device by default (XLA:CPU already spreads each fused loop over both cores);
  ``--other-devices 2`` sizes run again with ``XLA_FLAGS=--xla_force_host_platform_device_count=2``
  (paths sharded over 2 host devices, one per core), at the sizes in ``--other-sizes``.
  Both workers call ``jp2040.malloc.keep_freed_memory`` first, as the command line does.
* numpy: ``bench.numpy_reference.time_numpy`` at the same N: NumPy uniforms, copula, quantile
  functions, path model, streaming statistics (mean / M2 / min / max / 512-bin histogram of
  every element of every output) and a summary from them. Single-threaded NumPy.
* cli: the command line end to end (``python -m jp2040 engine.n_paths=N``, its defaults: the
  default host-device layout, every report), in a fresh process with the environment's
  compile cache (a user's second run): process wall, and from the run's ``manifest.json`` the
  simulate time (program load + pilot chunk included) and the time of every stage (simulate,
  summaries, write, scenarios, sensitivity, figures, html). At ``--cli-sizes`` (1e6), beside
  the engine call, so a slower default layout or a slow stage shows up here.
* profile: one engine chunk (16384 paths, the default chunk; 1 device) split into separately jitted pieces:
  uniforms (keys + threefry), driver quantile functions (``table.values``, copula included),
  the path model, the streaming statistics; and the fused chunk function for comparison.

Usage::

    python bench/engine.py                 # sizes 1e5,1e6,1e7 (1e7 takes several minutes)
    python bench/engine.py --quick         # 1e5 and 1e6 only
    python bench/engine.py --sizes 1e5,1e6 --numpy-sizes 1e5 --no-profile
    python bench/engine.py --sizes '' --numpy-sizes '' --other-sizes '' --no-profile  # CLI only

The last line is machine-readable: ``ratio_vs_numpy=... paths_per_s=... peak_rss_mb_1e6=...
peak_rss_mb_1e7=... cli_sim_paths_per_s_1e6=... cli_wall_s_1e6=...`` (engine / NumPy
throughput at 1e6 paths, engine paths/s at 1e6 with the default device count, peak RSS of those
engine runs, the CLI's simulate paths/s and process wall at 1e6; ``na`` where not run).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

# this script is called engine.py and sits next to distributions.py: drop its folder from sys.path
# so that `import engine` / `import distributions` find the packages, and put the repo root first
_HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(_HERE)
sys.path[:] = [ROOT] + [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
CHUNK = 16384

from jp2040.malloc import keep_freed_memory  # noqa: E402

keep_freed_memory()  # as the command line does, before JAX starts its CPU client


def _size(s: str) -> int:
    return int(float(s))


def _label(n: int) -> str:
    e = len(str(n)) - 1
    return f"1e{e}" if n == 10**e else str(n)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _emit(result: dict) -> None:
    result["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    print("RESULT " + json.dumps(result), flush=True)


# ----------------------------------------------------------------------------- workers


def _setup_jax(cache_dir: str):
    import jax

    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return jax


def worker_engine(n: int) -> None:
    """Warm-up (cold compile into a fresh cache), the per-process program cost, then the timed
    run and its summary."""
    from engine import compose, simulate
    from engine.run import clear_program_cache

    with tempfile.TemporaryDirectory(prefix="jp2040-bench-xla-") as cache:
        jax = _setup_jax(cache)
        base = ["engine.progress=false"]
        one_chunk = compose(base + [f"engine.n_paths={CHUNK}"])
        t0 = time.perf_counter()
        warm = simulate(one_chunk)
        warm_s = time.perf_counter() - t0
        warm.summary()  # imports ArviZ's statistics (~3 s, once per process), not timed below
        clear_program_cache()  # as in a fresh process: trace, lower, load from the disk cache
        t0 = time.perf_counter()
        simulate(one_chunk)
        fresh_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        simulate(one_chunk)  # the program is in memory now
        program_load_s = max(fresh_s - (time.perf_counter() - t0), 0.0)
        cfg = compose(base + [f"engine.n_paths={n}"])
        t1 = time.perf_counter()
        res = simulate(cfg)
        t2 = time.perf_counter()
        res.summary()
        t3 = time.perf_counter()
        _emit(
            {
                "kind": "engine",
                "n": n,
                "devices": len(res.raw.devices),
                # compile_time_s is trace + XLA compile + the pilot chunk; one chunk's run time is
                # what the warm-up took beyond it, so compile alone is about the difference
                "compile_pilot_s": round(warm.raw.compile_time_s, 2),
                "chunk_s": round(warm_s - warm.raw.compile_time_s, 2),
                "compile_s": round(max(2 * warm.raw.compile_time_s - warm_s, 0.0), 2),
                "warmup_s": round(warm_s, 2),
                "program_load_s": round(program_load_s, 2),
                "sim_s": round(t2 - t1, 2),
                "summary_s": round(t3 - t2, 2),
                "wall_s": round(t3 - t1, 2),
                "paths_per_s": round(n / (t3 - t1)),
                "sim_paths_per_s": round(n / (t2 - t1)),
                "fresh_paths_per_s": round(n / (t3 - t1 + program_load_s)),
                "jax": jax.__version__,
            }
        )


def worker_numpy(n: int, chunk: int) -> None:
    from bench.numpy_reference import time_numpy
    from engine import compose

    cfg = compose([f"engine.n_paths={n}"])
    wall, pps, timings = time_numpy(cfg, n, chunk=chunk)
    _emit(
        {
            "kind": "numpy",
            "n": n,
            "chunk": chunk,
            "wall_s": round(wall, 2),
            "paths_per_s": round(pps),
            "timings": {k: round(v, 2) for k, v in timings.items()},
        }
    )


def _best(fn, *args, repeat=3):
    import jax

    out = jax.block_until_ready(fn(*args))  # compile + first run
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t)
    return out, best


def worker_profile(chunk: int) -> None:
    """One chunk split into separately jitted pieces (1 device, no sharding)."""
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="jp2040-bench-xla-") as cache:
        jax = _setup_jax(cache)
        import jax.numpy as jnp

        from distributions.keys import chain_draw_uniforms, root_key
        from engine import compose
        from engine.drivers import build_driver_table
        from engine.model import DriverColumns, make_path_fn
        from engine.params import build_params
        from engine.stats import pilot_edges, tree_chunk_stats

        cfg = compose([f"engine.n_paths={chunk}"])
        table, params = build_driver_table(cfg), build_params(cfg)
        path_fn = make_path_fn(params, DriverColumns.from_table(table, params), jnp.float32)
        root, names, bins = (
            root_key(cfg.engine.seed),
            table.uniform_names,
            cfg.engine.histogram_bins,
        )

        def uniforms(chain, draw):
            return chain_draw_uniforms(root, chain, draw, names).astype(jnp.float32)

        def stats(outputs, mask, edges):
            return tree_chunk_stats(outputs, mask, edges, bins)

        def fused(chain, draw, mask, edges):
            scalars, yearly = path_fn(table.values(uniforms(chain, draw)))
            return stats({**scalars, **yearly}, mask, edges)

        chain = jnp.zeros(chunk, jnp.uint32)
        draw = jnp.arange(chunk, dtype=jnp.uint32)
        mask = jnp.ones(chunk, jnp.float32)
        times = {}
        t = time.perf_counter()
        u, times["uniforms"] = _best(jax.jit(uniforms), chain, draw)
        v, times["driver_values"] = _best(jax.jit(table.values), u)
        (scal, yearly), times["path_model"] = _best(jax.jit(path_fn), v)
        outputs = {**scal, **yearly}
        edges = jax.tree_util.tree_map(
            lambda x: tuple(jnp.asarray(a, jnp.float32) for a in pilot_edges(np.asarray(x)[:4096])),
            outputs,
        )
        _, times["streaming_stats"] = _best(jax.jit(stats), outputs, mask, edges)
        _, times["fused_chunk"] = _best(jax.jit(fused), chain, draw, mask, edges)
        n_elem = sum(int(np.prod(x.shape[1:])) for x in jax.tree_util.tree_leaves(outputs))
        _emit(
            {
                "kind": "profile",
                "n": chunk,
                "seconds": {k: round(x, 4) for k, x in times.items()},
                "compile_and_runs_s": round(time.perf_counter() - t, 1),
                "n_uniforms": len(names),
                "output_elements_per_path": n_elem,
            }
        )


# ----------------------------------------------------------------------------- parent


def run_worker(args: list[str], devices: int | None = None, timeout: float = 3600) -> dict | None:
    """Run one measurement in a fresh interpreter; None (after printing why) if it failed."""
    env = dict(os.environ)
    env.setdefault("JAX_PLATFORMS", "cpu")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    flags = " ".join(
        f
        for f in env.get("XLA_FLAGS", "").split()
        if "xla_force_host_platform_device_count" not in f
    )
    if devices and devices > 1:
        flags = f"{flags} --xla_force_host_platform_device_count={devices}".strip()
    env["XLA_FLAGS"] = flags
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", *args]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    sys.stderr.write(proc.stderr[-4000:])
    print(f"    FAILED: worker {args} exited with {proc.returncode} (stderr above)", flush=True)
    return None


def run_cli(n: int, timeout: float = 3600) -> dict | None:
    """The command line end to end at ``n`` paths in a fresh process (its own default layout:
    no forced device count); None (after printing why) if it failed."""
    env = dict(os.environ)
    env.setdefault("JAX_PLATFORMS", "cpu")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["XLA_FLAGS"] = " ".join(
        f
        for f in env.get("XLA_FLAGS", "").split()
        if "xla_force_host_platform_device_count" not in f
    )
    with tempfile.TemporaryDirectory(prefix="jp2040-bench-cli-") as run_dir:
        cmd = [
            sys.executable,
            "-m",
            "jp2040",
            f"engine.n_paths={n}",
            "engine.progress=false",
            "report.headline=false",
            f"hydra.run.dir={run_dir}",
        ]
        t0 = time.perf_counter()
        proc = subprocess.run(
            cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )
        wall = time.perf_counter() - t0
        if proc.returncode:
            sys.stderr.write((proc.stdout + proc.stderr)[-4000:])
            print(f"    FAILED: the CLI exited with {proc.returncode} (output above)", flush=True)
            return None
        with open(os.path.join(run_dir, "manifest.json")) as fh:
            m = json.load(fh)
    return {
        "kind": "cli",
        "n": n,
        "wall_s": round(wall, 2),
        "devices": len(m["devices_used"]),
        "sim_s": m["wall_time_s"],
        "compile_pilot_s": m["compile_time_s"],
        "sim_paths_per_s": round(m["paths_per_s"]),
        "stages": m["stage_times_s"],
        "total_s": m["total_time_s"],
    }


def load_note() -> str:
    try:
        one, five, _ = os.getloadavg()
        return f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} cores"
    except OSError:
        return "load average unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1e5,1e6,1e7", help="engine path counts (default devices)")
    ap.add_argument("--quick", action="store_true", help="only 1e5 and 1e6")
    ap.add_argument("--numpy-sizes", default="1e5,1e6", help="NumPy reference path counts")
    ap.add_argument("--numpy-1e7", action="store_true", help="also time NumPy at 1e7 (~25 min)")
    ap.add_argument("--numpy-chunk", type=int, default=16384, help="NumPy chunk (fastest here)")
    ap.add_argument("--devices", type=int, default=1, help="host devices for the engine runs")
    ap.add_argument("--other-devices", type=int, default=2, help="host devices of the comparison")
    ap.add_argument("--other-sizes", default="1e6", help="sizes also run on --other-devices")
    ap.add_argument("--cli-sizes", default="1e6", help="sizes also run through the CLI")
    ap.add_argument("--no-profile", action="store_true", help="skip the one-chunk profile")
    ap.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker is not None:
        kind, *rest = args.worker
        if kind == "engine":
            worker_engine(_size(rest[0]))
        elif kind == "numpy":
            worker_numpy(_size(rest[0]), int(rest[1]))
        elif kind == "profile":
            worker_profile(int(rest[0]))
        return 0

    sizes = [_size(s) for s in args.sizes.split(",") if s]
    numpy_sizes = [_size(s) for s in args.numpy_sizes.split(",") if s]
    one_dev = [_size(s) for s in args.other_sizes.split(",") if s]
    cli_sizes = [_size(s) for s in args.cli_sizes.split(",") if s]
    if args.quick:
        sizes = [s for s in sizes if s <= 10**6]
        one_dev = [s for s in one_dev if s <= 10**6]
        cli_sizes = [s for s in cli_sizes if s <= 10**6]
    if args.numpy_1e7 and 10**7 not in numpy_sizes:
        numpy_sizes.append(10**7)
    print(f"jp2040 engine benchmark (CPU) - {load_note()}", flush=True)
    engine, engine1, numpy_, cli = {}, {}, {}, {}
    t_all = time.perf_counter()
    for sizes_, devices, results in (
        (sizes, args.devices, engine),
        (one_dev, args.other_devices, engine1),
    ):
        for n in sizes_:
            print(f"  engine {_label(n)} paths on {devices} device(s) ...", flush=True)
            r = run_worker(["engine", str(n)], devices=devices)
            if r is not None:
                results[n] = r
                print(
                    f"    {r['paths_per_s']:>9,} paths/s (simulate {r['sim_s']} s + summary "
                    f"{r['summary_s']} s; simulate only {r['sim_paths_per_s']:,} paths/s), "
                    f"compile ~{r['compile_s']} s (compile + pilot chunk {r['compile_pilot_s']} s,"
                    f" one chunk {r['chunk_s']} s); a fresh process adds "
                    f"{r['program_load_s']} s to load the cached program "
                    f"({r['fresh_paths_per_s']:,} paths/s), peak RSS {r['peak_rss_mb']:.0f} MB",
                    flush=True,
                )
    for n in cli_sizes:
        print(f"  CLI end to end, {_label(n)} paths (default layout, every report) ...", flush=True)
        r = run_cli(n)
        if r is None:
            continue
        cli[n] = r
        e = engine.get(n)
        beside = (
            f"; the engine call {e['sim_paths_per_s']:,} paths/s, CLI/engine "
            f"{r['sim_paths_per_s'] / e['sim_paths_per_s']:.2f}"
            if e
            else ""
        )
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r["stages"].items())
        print(
            f"    process {r['wall_s']} s; simulate {r['sim_s']} s on {r['devices']} device(s) "
            f"({r['sim_paths_per_s']:,} paths/s, program load + pilot chunk "
            f"{r['compile_pilot_s']} s){beside}; stages (s): {stages}",
            flush=True,
        )
    for n in numpy_sizes:
        print(f"  numpy {_label(n)} paths (chunk {args.numpy_chunk}) ...", flush=True)
        r = run_worker(["numpy", str(n), str(args.numpy_chunk)])
        if r is None:
            continue
        numpy_[n] = r
        t = r["timings"]
        print(
            f"    {r['paths_per_s']:>9,} paths/s ({r['wall_s']} s: uniforms {t['uniforms']}, "
            f"drivers {t['drivers']}, model {t['model']}, stats {t['stats']}, other "
            f"{t['other']}, summary {t['summary']}, setup {t['setup']}), peak RSS "
            f"{r['peak_rss_mb']:.0f} MB",
            flush=True,
        )
    if not args.no_profile:
        print(f"  profile of one {CHUNK}-path chunk (1 device) ...", flush=True)
        r = run_worker(["profile", str(CHUNK)], devices=1)
    if not args.no_profile and r is not None:
        s = r["seconds"]
        parts = ("uniforms", "driver_values", "path_model", "streaming_stats")
        total = sum(s[k] for k in parts)
        for k in parts:
            print(f"    {k:<16} {s[k]:8.3f} s  {100 * s[k] / total:5.1f}%")
        print(
            f"    {'sum of pieces':<16} {total:8.3f} s; fused chunk {s['fused_chunk']:.3f} s "
            f"({CHUNK / s['fused_chunk']:,.0f} paths/s); {r['n_uniforms']} uniforms and "
            f"{r['output_elements_per_path']} streamed output elements per path"
        )

    print(f"\nsummary ({load_note()}; total {time.perf_counter() - t_all:.0f} s)")
    print(f"{'paths':>6} {'engine/s':>10} {f"{args.other_devices} dev/s":>9} {'numpy/s':>9} {'ratio':>6} "
          f"{'compile_s':>9} {'rss_MB':>7} {'np_rss':>7}")  # fmt: skip
    for n in sorted(set(sizes) | set(one_dev) | set(numpy_sizes)):
        e, e1, np_ = engine.get(n), engine1.get(n), numpy_.get(n)
        ratio = e["paths_per_s"] / np_["paths_per_s"] if e and np_ else None
        cells = [
            f"{_label(n):>6}",
            f"{e['paths_per_s']:>10,}" if e else f"{'-':>10}",
            f"{e1['paths_per_s']:>9,}" if e1 else f"{'-':>9}",
            f"{np_['paths_per_s']:>9,}" if np_ else f"{'-':>9}",
            f"{ratio:>6.2f}" if ratio else f"{'-':>6}",
            f"{e['compile_s']:>9}" if e else f"{'-':>9}",
            f"{e['peak_rss_mb']:>7.0f}" if e else f"{'-':>7}",
            f"{np_['peak_rss_mb']:>7.0f}" if np_ else f"{'-':>7}",
        ]
        print(" ".join(cells))

    def fmt(x, spec):
        return "na" if x is None else format(x, spec)

    e6, n6, e7, c6 = engine.get(10**6), numpy_.get(10**6), engine.get(10**7), cli.get(10**6)
    ratio = e6["paths_per_s"] / n6["paths_per_s"] if e6 and n6 else None
    if e6 and n6:
        print(
            f"fresh process at 1e6 (program loaded from the disk cache, +{e6['program_load_s']} s):"
            f" {e6['fresh_paths_per_s']:,} paths/s, ratio "
            f"{e6['fresh_paths_per_s'] / n6['paths_per_s']:.2f}"
        )
    print(
        f"ratio_vs_numpy={fmt(ratio, '.2f')} "
        f"paths_per_s={fmt(e6 and e6['paths_per_s'], 'd')} "
        f"peak_rss_mb_1e6={fmt(e6 and round(e6['peak_rss_mb']), 'd')} "
        f"peak_rss_mb_1e7={fmt(e7 and round(e7['peak_rss_mb']), 'd')} "
        f"cli_sim_paths_per_s_1e6={fmt(c6 and c6['sim_paths_per_s'], 'd')} "
        f"cli_wall_s_1e6={fmt(c6 and c6['wall_s'], '.1f')}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
