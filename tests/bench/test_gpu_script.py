"""bench/gpu.py (the GPU benchmark, not run in CI on a GPU) still runs, and its device-side loop
(sub-batches merged on device, blocks on the host) gives the engine's numbers for the same paths."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from engine import compose
from engine.run import simulate_raw

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_script_runs_on_cpu_and_matches_the_engine():
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}
    cmd = [sys.executable, str(ROOT / "bench" / "gpu.py"), "--sizes", "4096", "--block", "4096",
           "--sub", "1024", "--no-shares", "--no-flops"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = re.search(r"4,096 paths: .* paths/s .*strategy profit 2040 mean \[([^\]]*)\]", proc.stdout)
    assert m, proc.stdout
    gpu_mean = np.array([float(x) for x in m.group(1).split(",")])

    # the program of tests/engine/test_engine.py's BASE runs (chunk 2048, 256 trajectories): a
    # compile-cache hit in CI
    cfg = compose(
        [
            "engine.n_paths=4096",
            "engine.chains=4",
            "engine.keep_trajectories=256",
            "engine.chunk_size=2048",
            "engine.progress=false",
        ]
    )
    engine_mean = simulate_raw(cfg).stats["strategy"]["operating_profit_2040"].mean
    np.testing.assert_allclose(gpu_mean, np.round(engine_mean, 2), atol=0.011)
