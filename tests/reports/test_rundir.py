import json

import pandas as pd
import pytest

from jp2040.report import main
from reports.io import write_csv_atomic, write_text_atomic
from reports.rundir import RunDirError, load_run

from .conftest import STRATEGIES


def test_load_run(run_dir):
    pd.DataFrame({"variable": ["x"], "entity": [""], "year": [None], "mean": [1.5]}).to_csv(
        run_dir / "summary.csv", index=False
    )
    run = load_run(run_dir)
    assert run.manifest["seed"] == 0
    assert set(run.datatree.children) >= {"domain", "strategy", "macro", "drivers"}
    assert [str(s) for s in run.datatree["strategy"]["strategy"].values] == STRATEGIES
    assert run.summary["entity"].tolist() == [""] and run.summary["year"].isna().all()
    assert run.downside is None and run.discovery_text is None


def test_missing_results(run_dir):
    (run_dir / "results.nc").unlink()
    with pytest.raises(RunDirError, match="results.nc: missing"):
        load_run(run_dir)


@pytest.mark.parametrize("keep", [0, 1000, 0.5])
def test_truncated_or_corrupt_results(run_dir, keep):
    path = run_dir / "results.nc"
    data = path.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep
    path.write_bytes(data[:n] if n else b"not a netcdf file")
    with pytest.raises(RunDirError, match="results.nc: cannot be read"):
        load_run(run_dir)


def test_missing_or_bad_manifest(run_dir):
    (run_dir / "manifest.json").write_text("{not json")
    with pytest.raises(RunDirError, match="manifest.json: not valid JSON"):
        load_run(run_dir)
    (run_dir / "manifest.json").unlink()
    with pytest.raises(RunDirError, match="manifest.json: missing"):
        load_run(run_dir)


def test_corrupt_csv_names_file(run_dir):
    (run_dir / "downside.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(RunDirError, match="downside.csv"):
        load_run(run_dir)


def test_atomic_helpers(tmp_path):
    path = write_text_atomic("héllo", tmp_path / "a" / "b.txt")
    assert path.read_text(encoding="utf-8") == "héllo"
    write_csv_atomic(pd.DataFrame({"x": [1, 2]}), tmp_path / "c.csv")
    assert (tmp_path / "c.csv").read_text().splitlines() == ["x", "1", "2"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b.txt", "c.csv"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_files_respect_the_umask(tmp_path, umask, mode):
    """mkstemp creates 0600; written files get 0666 less the umask, like a plain open()."""
    import os

    old = os.umask(umask)
    try:
        path = write_text_atomic("x", tmp_path / "shared.txt")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode


def test_cli_exit_code_2_on_bad_run_dir(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "manifest.json" in err


def test_cli_rebuilds_without_figures(run_dir, capsys):
    assert main([str(run_dir), "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert "downside.csv" in out and "report.html" in out
    assert not (run_dir / "figures").exists()
    ex = pd.read_csv(run_dir / "exceedance.csv")
    assert len(ex) == 2 + 2 * len(STRATEGIES)  # profit < 0 and cumulative FCF < 0 per strategy
    # Existing tables are kept unless --recompute.
    (run_dir / "exceedance.csv").write_text(ex.head(1).to_csv(index=False))
    assert main([str(run_dir), "--no-figures"]) == 0
    assert len(pd.read_csv(run_dir / "exceedance.csv")) == 1
    assert main([str(run_dir), "--no-figures", "--recompute"]) == 0
    assert len(pd.read_csv(run_dir / "exceedance.csv")) == 2 + 2 * len(STRATEGIES)
    json.loads((run_dir / "manifest.json").read_text())


def test_write_reports_accepts_engine_result_and_full_config(run_dir, results):
    from omegaconf import OmegaConf

    from jp2040.report import write_reports

    class Result:  # the engine's result object: has to_datatree()
        def to_datatree(self):
            return results

    cfg = OmegaConf.create({"engine": {}, "report": {"alphas": [0.1], "figures": False}})
    written = write_reports(run_dir, Result(), cfg)
    assert {p.name for p in written} == {
        "summary.csv",
        "downside.csv",
        "exceedance.csv",
        "report.html",
    }
    assert set(pd.read_csv(run_dir / "downside.csv")["alpha"]) == {0.1}
