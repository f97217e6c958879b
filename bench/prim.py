"""Whole-driver PRIM time (``reports.discovery.prim``) on synthetic data shaped like the engine's.

The engine's driver sample has 206 drivers: 4 ``policy_success.*`` switches (0/1, shares 0.6 /
0.7 / 0.5 / 0.5 in the mixed scenario), 4 ``policy_delay.*`` mixtures (55% point mass at 0,
otherwise lognormal), and 198 continuous drivers. The synthetic frame has the same make-up
(float32 columns, as the run directory stores them). The outcome is a sum of two continuous
drivers, one switch and one delay plus noise; the cases of interest are its worst 5% (highest),
as ``reports.explain`` uses. Timed: one ``prim(X, y_bool)`` call with the defaults
(``alpha = 0.05``, ``min_mass = 0.05``, pasting on), data generation excluded; wall and
process CPU seconds (NumPy runs single-threaded here, so CPU ~ wall on an idle machine and the
CPU figure is the one to compare when other work shares the cores).

Usage::

    python bench/prim.py                    # 20,000 and 1e6 rows (~2 minutes here, ~5 GB at 1e6)
    python bench/prim.py --sizes 2e4 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(_HERE)
sys.path[:] = [ROOT] + [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from reports.discovery import prim  # noqa: E402

SWITCH_SHARES = (0.6, 0.7, 0.5, 0.5)


def synthetic(n: int, d: int = 206, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Driver frame (n, d) float32 and the worst-5% mask (n,) bool."""
    rng = np.random.default_rng(seed)
    cols = {}
    for k, share in enumerate(SWITCH_SHARES):
        cols[f"policy_success.{k}"] = (rng.random(n) < share).astype(np.float32)
        delay = rng.lognormal(0.6, 0.75, n).astype(np.float32)
        cols[f"policy_delay.{k}"] = np.where(rng.random(n) < 0.55, np.float32(0), delay)
    for k in range(d - 2 * len(SWITCH_SHARES)):
        cols[f"x{k}"] = rng.lognormal(0.0, 0.3, n).astype(np.float32)
    X = pd.DataFrame(cols)
    z = (
        X["x0"].to_numpy(np.float64)
        + 0.8 * X["x1"].to_numpy(np.float64)
        - 0.15 * X["policy_success.0"].to_numpy(np.float64)
        + 0.05 * X["policy_delay.0"].to_numpy(np.float64)
        + 0.2 * rng.standard_normal(n)
    )
    return X, z >= np.quantile(z, 0.95)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="2e4,1e6", help="comma-separated row counts")
    ap.add_argument("--drivers", type=int, default=206)
    ap.add_argument("--repeat", type=int, default=1, help="timed calls per size (best reported)")
    args = ap.parse_args()
    print(f"PRIM, {args.drivers} drivers, load {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    for n in (int(float(s)) for s in args.sizes.split(",")):
        X, bad = synthetic(n, args.drivers)
        times, cpu = [], []
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            res = prim(X, bad)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        st = res.stats()
        f1 = 2 * st["coverage"] * st["density"] / (st["coverage"] + st["density"])
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"n={n:>9,}  prim {min(times):7.2f} s (CPU {min(cpu):6.2f} s)  steps {len(res.trajectory) - 1:3d}  "
            f"chosen {res.chosen_step:3d}  coverage {st['coverage']:.3f}  "
            f"density {st['density']:.3f}  F1 {f1:.3f}  peak RSS {rss:,.0f} MB"
        )
        print(f"    box: {', '.join(res.box().index)}")
        del X, bad, res


if __name__ == "__main__":
    main()
