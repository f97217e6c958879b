"""Sweeps: a 2-run Hydra multirun with the joblib launcher writes sweep.csv with paired runs;
the SLURM and Ray launcher configs are shipped and compose."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose as hydra_compose
from hydra import initialize_config_dir

from engine.config import CONFIG_DIR

ROOT = Path(__file__).resolve().parents[2]


def test_joblib_sweep_writes_paired_sweep_csv(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "jp2040",
        "-m",
        "hydra/launcher=local_parallel",
        "engine.n_paths=4096",
        "engine.keep_trajectories=400",
        "engine.progress=false",
        "report.figures=false",
        "report.scenarios=false",
        "report.html=false",
        "report.headline=false",
        "drivers.agi.median=2035,2039",
        f"hydra.sweep.dir={tmp_path}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = pd.read_csv(tmp_path / "sweep.csv")
    assert len(sweep) == 2
    assert sorted(sweep["drivers.agi.median"]) == [2035, 2039]
    col = "P(digital_deficit_2040 > 30)"
    by_agi = sweep.set_index("drivers.agi.median")[col]
    # same random numbers in both runs: a later AGI median only lowers the deficit
    assert by_agi[2039] < by_agi[2035]
    assert (tmp_path / "sweep.png").exists()
    # the runs share the seed: paired differences against the first run, with a smaller MCSE
    # than independent runs would give
    later = sweep.set_index("drivers.agi.median").loc[2039]
    assert later["digital_deficit_2040:diff"] < 0
    assert (
        later["digital_deficit_2040:diff_mcse"] < later["digital_deficit_2040:diff_mcse_unpaired"]
    )
    for run in ("0", "1"):
        assert (tmp_path / run / "results.nc").exists()


@pytest.mark.parametrize(
    "launcher,target", [("local_parallel", "JoblibLauncher"), ("slurm", "SlurmLauncher")]
)
def test_launcher_configs_compose(launcher, target):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = hydra_compose(
            config_name="config", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True
        )
    assert cfg.hydra.launcher._target_.endswith(target)
