"""The not-so-bright transmission across scenarios: 2040 medians and 90% intervals of the digital
deficit, the yen, debt/GDP, GNI per head and the primary balance in capture, mixed and
not_so_bright (common random numbers), and P(each strategy succeeds | strategy 3 fails) in mixed.

    python bench/scenarios.py [--paths 100000] [--seed 0]

Prints a markdown table (the numbers quoted in notes and docs come from here).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jp2040.malloc import keep_freed_memory  # noqa: E402

keep_freed_memory()

import numpy as np  # noqa: E402

from engine import compose, simulate  # noqa: E402

OUTCOMES = (
    ("digital_deficit_2040", "digital deficit 2040 (tn JPY/yr)"),
    ("digital_deficit_restraint_2040", "deficit restraint 2040 (tn JPY/yr)"),
    ("fx_2040", "JPY per USD 2040"),
    ("debt_to_gdp_2040", "public debt / GDP 2040"),
    ("gni_per_capita_2040", "GNI per head 2040 (thousand USD)"),
    ("primary_balance_2040", "primary balance 2040 (tn JPY/yr)"),
)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--paths", type=float, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    base = [f"engine.n_paths={int(args.paths)}", f"engine.seed={args.seed}"]
    base += ["engine.progress=false", "engine.keep_trajectories=0"]
    base += [f"engine.keep_paths={int(args.paths)}"]
    cells, cond = {}, None
    for name in ("capture", "mixed", "not_so_bright"):
        res = simulate(compose([f"scenario={name}", *base]))
        for var, _ in OUTCOMES:
            x = res.scalars("macro", var).iloc[:, 0].to_numpy()
            lo, med, hi = np.quantile(x, [0.05, 0.5, 0.95])
            cells[(var, name)] = f"{med:.3g} [{lo:.3g}, {hi:.3g}]"
        if name == "mixed":
            succ = res.scalars("strategy", "strategy_success")
            failed = succ["strategic_technology"] == 0
            cond = (succ[failed].mean(), succ[~failed].mean(), int(failed.sum()), len(succ))
    print(f"{int(args.paths):,} paths per scenario, seed {args.seed}: median [p05, p95]\n")
    print("| outcome | capture | mixed | not_so_bright |")
    print("|---|---|---|---|")
    for var, label in OUTCOMES:
        row = [cells[(var, s)] for s in ("capture", "mixed", "not_so_bright")]
        print(f"| {label} | " + " | ".join(row) + " |")
    when_failed, when_ok, n_failed, n = cond
    print(f"\nmixed: strategy 3 fails on {n_failed:,} of {n:,} paths\n")
    print("| strategy | P(succeeds given 3 fails) | P(succeeds given 3 succeeds) |")
    print("|---|---|---|")
    for s in when_failed.index:
        print(f"| {s} | {when_failed[s]:.3f} | {when_ok[s]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
