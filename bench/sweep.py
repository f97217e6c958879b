"""Sweeps at the speed of one run: wall times of the command line, side by side in one script.

    python bench/sweep.py [--paths 20000] [--points 4] [--big 16]

1. A Hydra multirun over ``--points`` values of a numeric driver parameter
   (``drivers.agi.median``) against a multirun over as many seeds: both run their jobs in one
   process (Hydra's basic launcher), so the parameter sweep should cost no compile per point
   (aim: at most 1.3x the seed sweep).
2. ``mode=sweep`` over ``--points`` values against one single run of the same size (aim: at most
   1.5x), and ``mode=sweep`` over ``--big`` points to show how it scales (seconds per point).

Every command runs in a fresh process with an empty compile cache, as a user's first run would.
Reports are off in the multiruns (``report.*=false``), so the numbers compare simulation and
compile, not figure drawing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUIET = [
    "engine.progress=false",
    "report.scenarios=false",
    "report.sensitivity=false",
    "report.figures=false",
    "report.html=false",
    "report.headline=false",
]


def timed(args: list[str], cache: str) -> float:
    env = {**os.environ, "JP2040_CACHE": cache, "JAX_PLATFORMS": "cpu"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "jp2040", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{proc.stderr[-3000:]}")
    return wall


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--paths", type=int, default=20_000)
    ap.add_argument("--points", type=int, default=4)
    ap.add_argument("--big", type=int, default=16)
    args = ap.parse_args(argv)
    n = f"engine.n_paths={args.paths}"
    medians = [2031 + 3 * i for i in range(args.points)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:

        def cache():
            return tempfile.mkdtemp(dir=tmp)

        def out(name):
            return os.path.join(tmp, name)

        seeds = ",".join(str(i) for i in range(args.points))
        vals = ",".join(str(m) for m in medians)
        t_seed = timed(
            ["-m", n, f"engine.seed={seeds}", *QUIET, f"hydra.sweep.dir={out('ms')}"], cache()
        )
        t_param = timed(
            ["-m", n, f"drivers.agi.median={vals}", *QUIET, f"hydra.sweep.dir={out('mp')}"],
            cache(),
        )
        rows.append((f"multirun, {args.points} seeds", t_seed, 1.0))
        rows.append((f"multirun, {args.points} agi medians", t_param, t_param / t_seed))
        t_single = timed([n, *QUIET, f"hydra.run.dir={out('single')}"], cache())
        grid = "sweep.grid={drivers.agi.median:[" + ",".join(map(str, medians)) + "]}"
        t_sweep = timed(["mode=sweep", n, grid, f"hydra.run.dir={out('sweep')}"], cache())
        big = ",".join(f"{2031 + 11 * i / (args.big - 1):.2f}" for i in range(args.big))
        grid_big = "sweep.grid={drivers.agi.median:[" + big + "]}"
        t_big = timed(["mode=sweep", n, grid_big, f"hydra.run.dir={out('big')}"], cache())
        rows.append(("single run", t_single, 1.0))
        rows.append((f"mode=sweep, {args.points} points", t_sweep, t_sweep / t_single))
        rows.append((f"mode=sweep, {args.big} points", t_big, t_big / t_single))
    print(f"{args.paths:,} paths a point, fresh process and empty compile cache each\n")
    print("| command | wall s | ratio |")
    print("|---|---|---|")
    for name, wall, ratio in rows:
        print(f"| {name} | {wall:.1f} | {ratio:.2f} |")
    per_point = (t_big - t_sweep) / (args.big - args.points)
    print(
        f"\nper extra point in mode=sweep: {per_point:.2f} s; "
        f"64 points would take about {t_sweep + per_point * (64 - args.points):.0f} s"
    )
    print(
        f"RESULT multirun_param_over_seed={t_param / t_seed:.2f} "
        f"sweep_over_single={t_sweep / t_single:.2f} per_point_s={per_point:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
