import json

import pandas as pd
import pytest
from omegaconf import OmegaConf

from jp2040.multirun import SweepCallback
from reports.sweep import collect_sweep, parse_override, write_sweep


def fake_run(sweep_dir, name, overrides, prob, es, median, hydra_only=False):
    run = sweep_dir / name
    run.mkdir(parents=True)
    manifest = {"seed": 0}
    if hydra_only:
        (run / ".hydra").mkdir()
        (run / ".hydra" / "overrides.yaml").write_text(
            "\n".join(f"- {o}" for o in overrides) + "\n"
        )
    else:
        manifest["overrides"] = overrides
    (run / "manifest.json").write_text(json.dumps(manifest))
    pd.DataFrame(
        {
            "group": ["macro"],
            "variable": ["digital_deficit_2040"],
            "entity": [""],
            "year": [None],
            "threshold": [30.0],
            "side": ["high"],
            "probability": [prob],
            "mcse": [0.01],
        }
    ).to_csv(run / "exceedance.csv", index=False)
    pd.DataFrame(
        {
            "group": ["strategy", "strategy", "domain"],
            "variable": ["operating_profit_2040"] * 3,
            "entity": ["ecosystem", "ecosystem", "quantum"],
            "year": [None] * 3,
            "side": ["low"] * 3,
            "alpha": [0.05, 0.01, 0.05],
            "var": [0.0, -1.0, 0.0],
            "es": [es, es - 1, 99.0],
            "var_mcse": [0.1] * 3,
            "es_mcse": [0.1] * 3,
        }
    ).to_csv(run / "downside.csv", index=False)
    pd.DataFrame(
        {
            "group": ["macro", "macro_yearly"],
            "variable": ["digital_deficit_2040", "digital_deficit"],
            "entity": ["", ""],
            "year": [None, 2030],
            "p50": [median, 1.0],
        }
    ).to_csv(run / "summary.csv", index=False)


@pytest.fixture
def sweep_dir(tmp_path):
    # Hydra numbers jobs 0, 1, ..., 10: natural sort order, not "10" before "2".
    values = [(0, 1000, "capture", 0.10, -1.0, 25.0), (1, 1000, "decline", 0.30, -2.0, 28.0)]
    values += [(2, 2000, "capture", 0.12, -1.1, 25.5), (10, 2000, "decline", 0.33, -2.2, 28.5)]
    for job, n, scen, prob, es, med in values:
        fake_run(
            tmp_path,
            str(job),
            [f"engine.n_paths={n}", f"scenario={scen}"],
            prob,
            es,
            med,
            hydra_only=(job == 10),
        )
    (tmp_path / "notarun").mkdir()
    return tmp_path


def test_parse_override():
    assert parse_override("engine.n_paths=1000") == ("engine.n_paths", 1000)
    assert parse_override("+drivers.x.sigma=0.25") == ("drivers.x.sigma", 0.25)
    assert parse_override("scenario=capture") == ("scenario", "capture")
    assert parse_override("~foo") == ("foo", None)


def test_collect_sweep(sweep_dir):
    df = collect_sweep(sweep_dir)
    assert df["run"].tolist() == ["0", "1", "2", "10"]
    assert list(df.columns[:3]) == ["run", "engine.n_paths", "scenario"]
    assert df["engine.n_paths"].tolist() == [1000, 1000, 2000, 2000]
    assert df["scenario"].tolist() == ["capture", "decline", "capture", "decline"]
    assert df["P(digital_deficit_2040 > 30)"].tolist() == [0.10, 0.30, 0.12, 0.33]
    assert df["ES0.05(operating_profit_2040[ecosystem])"].tolist() == [-1.0, -2.0, -1.1, -2.2]
    assert df["p50(digital_deficit_2040)"].tolist() == [25.0, 28.0, 25.5, 28.5]
    assert not any("quantum" in c for c in df.columns)  # domain rows are not headlines


def test_write_sweep_and_callback(sweep_dir):
    paths = write_sweep(sweep_dir)
    assert [p.name for p in paths] == ["sweep.csv", "sweep.png"]
    assert pd.read_csv(paths[0]).shape[0] == 4
    assert paths[1].read_bytes()[:4] == b"\x89PNG"
    paths[0].unlink()
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep_dir)}}})
    SweepCallback().on_multirun_end(config)
    assert (sweep_dir / "sweep.csv").is_file()


def test_empty_sweep(tmp_path):
    assert collect_sweep(tmp_path).empty
    assert [p.name for p in write_sweep(tmp_path)] == ["sweep.csv"]
