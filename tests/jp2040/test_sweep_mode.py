"""mode=sweep: bad grids are refused before compute naming the key; every point equals the single
run with the same overrides and seed; paired differences have a smaller MCSE than unpaired; a
changed number reuses the compiled program, a changed shape does not."""

import numpy as np
import pandas as pd
import pytest

from engine import ConfigError, compose, simulate
from jp2040.cli import run_job
from jp2040.sweep_job import point_configs, sweep_points

BASE = [
    "engine.n_paths=4096",
    "engine.chunk_size=4096",
    "engine.keep_trajectories=0",
    "engine.progress=false",
    "report.scenarios=false",
    "report.sensitivity=false",
    "report.figures=false",
    "report.html=false",
]


@pytest.mark.parametrize(
    "grid,mode,message",
    [
        ({}, "grid", r"sweep.grid: empty"),
        ({"drivers.agi.median": []}, "grid", r"sweep.grid.drivers.agi.median: empty list"),
        ({"drivers.agi.median": 2031}, "grid", r"sweep.grid.drivers.agi.median: expected a list"),
        (
            {"drivers.agi.median": [2031, 2040], "drivers.ftqc.median": [2030]},
            "paired",
            r"paired lists must have the same length, got drivers.agi.median: 2, "
            r"drivers.ftqc.median: 1",
        ),
        ({"drivers.agi.median": [2031]}, "zip", r"sweep.mode: unknown mode 'zip'"),
    ],
)
def test_bad_grids_are_refused(grid, mode, message):
    with pytest.raises(ConfigError, match=message):
        sweep_points(grid, mode)


@pytest.mark.parametrize(
    "point,message",
    [
        ({"drivers.agi.medain": 2031}, r"drivers.agi.medain=2031"),
        ({"engine.n_pathz": 10}, r"engine.n_pathz=10"),
        ({"domains.fusion.japan_share": 1.5}, r"domains.fusion.japan_share: must be in \(0, 1\)"),
        ({"drivers.fx.p05": -5}, r"drivers.fx.p05=-5.*drivers.fx"),
        ({"engine.seed": 3}, r"sweep.grid.engine.seed: cannot be swept"),
    ],
)
def test_bad_points_are_refused_before_compute_naming_the_key(point, message):
    cfg = compose(BASE)
    with pytest.raises(ConfigError, match=message):
        point_configs(cfg, BASE, [point])


def test_grid_and_paired_points():
    grid = {"a": [1, 2], "b": [3, 4]}
    assert sweep_points(grid, "grid") == [
        {"a": 1, "b": 3},
        {"a": 1, "b": 4},
        {"a": 2, "b": 3},
        {"a": 2, "b": 4},
    ]
    assert sweep_points(grid, "paired") == [{"a": 1, "b": 3}, {"a": 2, "b": 4}]


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("sweep")
    grid = ["mode=sweep", "sweep.grid={drivers.agi.median:[2033,2041]}"]
    cfg = compose([*BASE, *grid])
    assert run_job(cfg, run_dir, [*BASE, *grid]) == 0
    return run_dir


def test_points_equal_single_runs_and_pairing_shrinks_the_error(sweep_dir):
    table = pd.read_csv(sweep_dir / "sweep.csv")
    assert list(table["override:drivers.agi.median"]) == [2033, 2041]
    for i, median in enumerate((2033, 2041)):
        single = simulate(compose([*BASE, f"drivers.agi.median={median}"]))
        x = single.scalars("macro", "digital_deficit_2040").iloc[:, 0].to_numpy(np.float64)
        np.testing.assert_allclose(table.loc[i, "digital_deficit_2040:mean"], x.mean(), rtol=1e-5)
        np.testing.assert_allclose(
            table.loc[i, "digital_deficit_2040:p95"], np.quantile(x, 0.95), rtol=1e-5
        )
    later = table.iloc[1]
    assert later["digital_deficit_2040:diff"] < 0  # later AGI, smaller deficit
    assert (
        later["digital_deficit_2040:diff_mcse"] < later["digital_deficit_2040:diff_mcse_unpaired"]
    )
    assert (sweep_dir / "sweep_digital_deficit_2040.png").stat().st_size > 1000


def test_a_changed_number_reuses_the_program_a_changed_shape_does_not():
    from engine.run import chunk_program_cache_size

    simulate(compose(BASE))
    before = chunk_program_cache_size()
    simulate(compose([*BASE, "drivers.agi.median=2035", "domains.fusion.margin=0.2"]))
    assert chunk_program_cache_size() == before  # numbers are arguments: no new program
    simulate(compose([*BASE, "engine.histogram_bins=256"]))
    assert chunk_program_cache_size() == before + 1  # another shape compiles


def test_sweep_through_the_command_line(tmp_path):
    """Inside the jp2040 command (Hydra initialised) the points compose through its config path."""
    import subprocess
    import sys

    grid = "sweep.grid={drivers.agi.median:[2033,2041]}"
    proc = subprocess.run(
        [sys.executable, "-m", "jp2040", "mode=sweep", grid, *BASE, f"hydra.run.dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(tmp_path / "sweep.csv")
    assert list(table["override:drivers.agi.median"]) == [2033, 2041]
