"""Faults at the edges of a CLI run (each in a subprocess): too little space is refused before
compute, a disk that fills during the write keeps the small outputs, Ctrl-C and SIGTERM save a
checkpoint and the rerun resumes to the numbers of an uninterrupted run, an unwritable run
directory is one line; stage timings land in manifest.json."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from engine import compose, interrupt, simulate
from engine.drivers import build_driver_table
from engine.params import build_params
from engine.run import chunk_program
from jp2040.faults import estimate_output_bytes

# 16 chunks of 2048 paths (the chunk program of tests/engine/test_scale.py); small outputs
OVERRIDES = [
    "engine.n_paths=32768",
    "engine.chunk_size=2048",
    "engine.keep_paths=2048",
    "engine.keep_trajectories=64",
    "engine.progress=false",
    "report.figures=false",
    "report.html=false",
    "report.scenarios=false",
    "report.sensitivity=false",
    "report.headline=false",
]
# the terminal shows warnings only by default; these tests read INFO lines (chunk i/n, resuming)
CONSOLE_INFO = "hydra.job_logging.handlers.console.level=INFO"

ROOT = Path(__file__).resolve().parents[2]
# the script below sits in tmp_path: import this checkout's packages, not an installed copy
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

# the CLI with jp2040.faults.free_bytes patched: FREE bytes, or plenty for the first FIRST calls
CLI = textwrap.dedent(
    """
    import os, sys
    import jp2040.faults as faults
    free, first, calls = int(os.environ["FREE"]), int(os.environ.get("FIRST", "0")), []
    real = faults.free_bytes
    def probe(path):
        calls.append(path)
        if len(calls) <= first:
            return 1 << 50
        return free if free >= 0 else real(path)
    faults.free_bytes = probe
    if os.environ.get("FAKE_HDF_ERROR"):  # the disk fills during the netCDF write
        import xarray as xr
        def to_netcdf(self, path, **kw):
            with open(path, "wb") as fh:
                fh.write(bytes(4096))
            raise RuntimeError("NetCDF: HDF error")
        xr.DataTree.to_netcdf = to_netcdf
    from jp2040.cli import main
    sys.argv = ["jp2040", *sys.argv[1:]]
    main()
    """
)


def cli(tmp_path, args, free=-1, first=0, fake_hdf=False, timeout=600, prefix=()):
    script = tmp_path / "jp2040_cli.py"
    script.write_text(CLI)
    env = {"FREE": str(free), "FIRST": str(first)}
    if fake_hdf:
        env["FAKE_HDF_ERROR"] = "1"
    return subprocess.run(
        [*prefix, sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**ENV, **env},
    )


def terminal(proc) -> str:
    """What the user sees, less library chatter."""
    lines = (proc.stdout + proc.stderr).splitlines()
    return "\n".join(x for x in lines if "[jp2040" in x or not x.startswith("["))


def test_too_little_space_is_refused_before_compute(tmp_path):
    run = tmp_path / "run"
    proc = cli(tmp_path, ["engine.n_paths=200000", f"hydra.run.dir={run}"], free=50 << 20)
    out = terminal(proc)
    assert proc.returncode == 2, out
    assert "Traceback" not in proc.stdout + proc.stderr
    (line,) = [x for x in out.splitlines() if "not enough disk space" in x]
    assert f"in {run}: 50.0 MB free, about " in line
    needed = float(line.split("about ")[1].split(" MB")[0])
    # 40,960 kept paths of ~2.3 KB, 2,000 trajectories of ~10 KB, statistics, tail buffers,
    # figures, tables and report.html
    assert 100 < needed < 300
    assert "engine.keep_paths (now 40960)" in line and "report.figures=false" in line
    assert not (run / "results.nc").exists() and not (run / "checkpoint.npz").exists()
    assert "simulated" not in (run / "cli.log").read_text()  # refused before compute


def test_checkpoint_of_another_revision_is_one_line_before_compute(tmp_path):
    """A checkpoint left by another code revision stops the CLI with one line naming both
    revisions (exit 2, no traceback), before any path is simulated."""
    from engine.checkpoint import code_revision

    run = tmp_path / "run"
    run.mkdir()
    other = "jp2040 0.0.9 (git 0123abc)"
    np.savez(run / "checkpoint.npz", fingerprint=np.asarray("x"), revision=np.asarray(other))
    proc = cli(tmp_path, [*OVERRIDES, f"hydra.run.dir={run}"])
    out = terminal(proc)
    assert proc.returncode == 2, out
    assert "Traceback" not in proc.stdout + proc.stderr
    (line,) = [x for x in out.splitlines() if "CheckpointError" in x]
    assert f"checkpoint written by {other}, this is {code_revision()}" in line
    assert "simulated" not in (run / "cli.log").read_text()  # refused before compute
    assert (run / "checkpoint.npz").exists()  # left for the user to resume or delete


def _can_mount() -> bool:
    """A private mount namespace is available (root, or user namespaces allowed)."""
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


def test_full_disk_during_write_keeps_small_outputs(tmp_path):
    """On a real 2 MB tmpfs where the system allows one; else the netCDF error is faked."""
    run = tmp_path / "run"
    args = [*OVERRIDES, f"hydra.run.dir={run}"]
    if not _can_mount():
        # the probe says plenty before compute and 1 MB when the netCDF write begins
        proc = cli(tmp_path, args, free=1 << 20, first=1, fake_hdf=True)
        assert "1.0 MB free" in proc.stdout
    else:
        mnt, copy = tmp_path / "mnt", tmp_path / "copy"
        mnt.mkdir()
        args[-1] = f"hydra.run.dir={mnt}/run"
        script = tmp_path / "jp2040_cli.py"
        script.write_text(CLI)
        shell = (  # summary.csv (~0.5 MB) fits, results.nc (~5 MB) does not
            f"mount -t tmpfs -o size=2m tmpfs {mnt} && FREE=-1 FIRST=1 {sys.executable} {script} "
            + " ".join(args)
            + f"; rc=$?; cp -r {mnt}/run {copy}; exit $rc"
        )
        proc = subprocess.run(
            ["unshare", "-rm", "sh", "-c", shell],
            capture_output=True,
            text=True,
            timeout=600,
            env=ENV,
        )
        run = copy
    out = terminal(proc)
    assert proc.returncode == 1, out
    assert "Traceback" not in proc.stdout + proc.stderr
    (line,) = [x for x in out.splitlines() if "ERROR" in x]
    assert "disk full writing " in line and "results.nc" in line and " free in " in line
    assert "summary.csv and manifest.json were written" in line
    assert "traceback in " in line and "Traceback" in (run / "cli.log").read_text()
    assert not (run / "results.nc").exists()
    assert not list(run.glob(".*.tmp"))  # no partial file
    assert json.loads((run / "manifest.json").read_text())["n_paths"] == 32768
    assert len(pd.read_csv(run / "summary.csv")) > 100


def _interrupt(tmp_path, run, sig, after):
    """Run the CLI and send ``sig`` once a log line contains ``after``; (status, output)."""
    script = tmp_path / "jp2040_cli.py"
    script.write_text(CLI)
    proc = subprocess.Popen(
        [sys.executable, str(script), *OVERRIDES, CONSOLE_INFO, f"hydra.run.dir={run}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**ENV, "FREE": "-1"},
    )
    lines, sent = [], False
    for line in proc.stdout:
        lines.append(line)
        if not sent and after in line:
            proc.send_signal(sig)
            sent = True
    proc.wait(timeout=600)
    return proc.returncode, "".join(lines)


def test_signals_save_a_checkpoint_and_the_rerun_resumes_to_the_same_numbers(tmp_path):
    run = tmp_path / "run"
    status, out = _interrupt(tmp_path, run, signal.SIGINT, "chunk 2/16")
    assert status == 130, out
    assert "Traceback" not in out
    first = int(out.split("interrupted at chunk ")[1].split(" of 16")[0])
    assert 2 <= first < 16
    assert f"interrupted at chunk {first} of 16; rerun the same command to resume" in out
    with np.load(run / "checkpoint.npz") as data:
        assert int(data["next_pos"]) == first
    assert not (run / "results.nc").exists()

    status, out = _interrupt(tmp_path, run, signal.SIGTERM, "resuming from")
    assert status == 143, out
    assert f"at chunk {first}" in out  # resumed where the first run stopped
    second = int(out.split("interrupted at chunk ")[1].split(" of 16")[0])
    assert first < second < 16

    proc = cli(tmp_path, [*OVERRIDES, CONSOLE_INFO, f"hydra.run.dir={run}"])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f"at chunk {second}" in proc.stdout
    assert not (run / "checkpoint.npz").exists()
    got = pd.read_csv(run / "summary.csv")
    want = simulate(compose(OVERRIDES)).summary().reset_index(drop=True)
    assert list(got.columns) == list(want.columns) and len(got) == len(want)
    for col in ("mean", "sd", "p05", "p50", "p95", "mcse_mean", "ess_bulk", "r_hat"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-6, atol=1e-9, err_msg=col)
    # the pre-compute estimate of results.nc is close to, and not below, what was written
    cfg = compose(OVERRIDES)
    table = build_driver_table(cfg)
    program = chunk_program(table, build_params(cfg), jnp.float32, cfg.engine.histogram_bins)
    est = estimate_output_bytes(cfg, program.shapes, len(table.names), checkpoint=False)
    assert 1.0 <= est["results.nc"] / (run / "results.nc").stat().st_size < 1.3
    # issue 22: where the minutes went
    manifest = json.loads((run / "manifest.json").read_text())
    stages = manifest["stage_times_s"]
    assert {"simulate", "summaries", "write"} <= set(stages)
    assert all(v >= 0 for v in stages.values())
    assert manifest["total_time_s"] >= stages["simulate"]
    assert "stages: simulate " in (run / "cli.log").read_text()


def test_second_signal_exits_at_once(monkeypatch):
    codes = []

    def fake_exit(code):
        codes.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(interrupt.os, "_exit", fake_exit)
    monkeypatch.setitem(interrupt._state, "signum", None)
    with pytest.raises(interrupt.Interrupted) as exc, interrupt.graceful():
        interrupt._handler(signal.SIGINT, None)  # first: only a flag, the loop stops later
        assert interrupt.requested() == signal.SIGINT and not codes
        with pytest.raises(SystemExit):
            interrupt._handler(signal.SIGINT, None)  # second: out at once
    assert codes == [130] and exc.value.exit_code == 130
    monkeypatch.setitem(interrupt._state, "signum", None)
    with pytest.raises(interrupt.Interrupted):  # outside the chunk loop: raised at once
        interrupt._handler(signal.SIGTERM, None)


@pytest.mark.parametrize("how", ["file_as_parent", "read_only_mount"])
def test_unwritable_run_dir_is_one_line(tmp_path, how):
    prefix = ()
    if how == "file_as_parent":  # root writes through chmod, not through a file
        (tmp_path / "file").write_text("x")
        run = tmp_path / "file" / "run"
        reason = "Not a directory"
    else:
        if not _can_mount():
            pytest.skip("no mount namespace here to mount a read-only file system in")
        run = tmp_path / "ro" / "run"
        run.parent.mkdir()
        prefix = (
            "unshare",
            "-rm",
            "sh",
            "-c",
            f'mount -t tmpfs -o ro tmpfs {run.parent} && "$@"',
            "sh",
        )
        reason = "Read-only file system"
    proc = cli(tmp_path, ["engine.n_paths=4096", f"hydra.run.dir={run}"], prefix=prefix)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert f"run directory {run} is not writable ({reason})" in proc.stderr
    assert "hydra.run.dir" in proc.stderr
