"""Merging the parts of a multi-process run refuses what would lose or mix paths.

The parts are simulated in this one process (process i of 2 takes chunks i, i + 2, ...; the
split is arithmetic, so no multi-process runtime is needed; tests/engine/test_scale.py runs two
real processes)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from engine.config import compose
from engine.run import simulate_raw
from jp2040.distributed import MergeError, merge_parts, part_path, run_part

SMALL = [
    "engine.n_paths=4096",
    "engine.chunk_size=1024",
    "engine.progress=false",
    "engine.keep_trajectories=64",
]


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    out = tmp_path_factory.mktemp("parts")
    cfg = compose(SMALL)
    for i in range(2):
        run_part(cfg, out, i, 2)
    return out, cfg


def test_parts_merge_to_the_single_process_numbers(parts):
    out, cfg = parts
    merged = merge_parts(sorted(out.glob("part-*.npz")), cfg)
    single = simulate_raw(cfg)
    assert merged.n_paths == 4096
    for group, vars_ in single.stats.items():
        for var, st in vars_.items():
            np.testing.assert_array_equal(st.hist, merged.stats[group][var].hist)
    np.testing.assert_array_equal(single.kept_drivers, merged.kept_drivers)


def test_a_missing_part_is_refused(parts, tmp_path):
    out, cfg = parts
    shutil.copy(part_path(out, 1), part_path(tmp_path, 1))
    with pytest.raises(MergeError, match=r"missing part\(s\) \[0\] of 2"):
        merge_parts(sorted(tmp_path.glob("part-*.npz")), cfg)


def test_parts_of_another_config_are_refused(parts, tmp_path):
    out, cfg = parts
    other = compose([*SMALL, "engine.seed=7"])
    with pytest.raises(MergeError, match="another config or code revision"):
        merge_parts(sorted(out.glob("part-*.npz")), other)
    # a part of another run among the parts: refused even without a config to compare
    shutil.copy(part_path(out, 0), part_path(tmp_path, 0))
    run_part(other, tmp_path, 1, 2)
    with pytest.raises(MergeError, match="parts of different runs"):
        merge_parts(sorted(tmp_path.glob("part-*.npz")))


def test_the_command_says_what_is_wrong_without_a_traceback(parts, tmp_path):
    out, _ = parts
    shutil.copy(part_path(out, 0), part_path(tmp_path, 0))
    proc = subprocess.run(
        [sys.executable, "-m", "jp2040.distributed", "merge", "--out", str(tmp_path), *SMALL],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: missing part(s) [1] of 2")
    assert "Traceback" not in proc.stderr
