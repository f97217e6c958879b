"""Regression seed for CI: summary statistics of seed 0 at 20k paths on CPU.

Regenerate on purpose (after a deliberate model change) with ``make golden`` or
``python -m tests.golden --write``, and say why in the commit message.
"""

from __future__ import annotations

import sys
from pathlib import Path

GOLDEN = Path(__file__).parent / "data" / "golden_seed0_20k.csv"
OVERRIDES = [
    "engine.seed=0",
    "engine.n_paths=20000",
    "engine.chains=4",
    "engine.chunk_size=8192",
    "engine.keep_trajectories=0",
    "engine.progress=false",
]
COLUMNS = ["mean", "sd", "p05", "p50", "p95"]


def golden_summary():
    from engine import compose, simulate

    summary = simulate(compose(OVERRIDES)).summary()
    scalars = summary[summary["year"].isna()]
    return scalars[["group", "variable", "entity", *COLUMNS]].reset_index(drop=True)


def main(argv):
    if "--write" not in argv:
        print(__doc__)
        return 2
    df = golden_summary()
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(GOLDEN, index=False, float_format="%.9g")
    print(f"wrote {GOLDEN} ({len(df)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
