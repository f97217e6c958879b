"""Past one process: a run killed mid-way resumes from its checkpoint to the same numbers, a
checkpoint of another config or code revision is refused, and two processes under
jax.distributed, merged, give the numbers of one process."""

import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from engine import compose
from engine.run import simulate_raw
from jp2040.distributed import merge_parts

OVERRIDES = [
    "engine.n_paths=65536",
    "engine.chunk_size=2048",
    "engine.progress=false",
    "engine.keep_trajectories=64",
    "engine.checkpoint_every=1",
]
ENV = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}

# kill_at > 0: the process SIGKILLs itself right after writing the checkpoint at that chunk, a
# hard kill at a known point (a kill from outside races a run that may already have finished)
RUN_SCRIPT = """
import logging, os, signal, sys, numpy as np, jax
from pathlib import Path
import engine.run
logging.basicConfig(level=logging.INFO)  # "resuming from ... at chunk 5" on stderr
from engine import compose
from engine.run import simulate_raw
real_save = engine.run.save_checkpoint
def save_then_die(path, fingerprint, state, *args):
    out = real_save(path, fingerprint, state, *args)
    if state.next_pos == {kill_at}:
        os.kill(os.getpid(), signal.SIGKILL)
    return out
engine.run.save_checkpoint = save_then_die
cfg = compose({overrides!r})
raw = simulate_raw(cfg, checkpoint=Path({ckpt!r}))
np.savez({out!r}, mean=raw.stats["strategy"]["operating_profit_2040"].mean,
         m2=raw.stats["strategy"]["operating_profit_2040"].m2,
         hist=raw.stats["macro_yearly"]["digital_deficit"].hist,
         kept=raw.kept_scalars["strategy"]["operating_profit_2040"], drivers=raw.kept_drivers,
         tail_value=raw.tail_buffers.worst_value, tail_index=raw.tail_buffers.worst_index)
"""


def assert_same_stats(a, b, exact_moments=False):
    for group, vars_ in a.items():
        for var, st in vars_.items():
            other = b[group][var]
            np.testing.assert_array_equal(st.hist, other.hist, err_msg=f"{group}/{var}")
            np.testing.assert_array_equal(st.min, other.min)
            np.testing.assert_array_equal(st.max, other.max)
            np.testing.assert_array_equal(st.n, other.n)
            rtol = 0 if exact_moments else 1e-10
            np.testing.assert_allclose(other.mean, st.mean, rtol=rtol, atol=1e-12)
            np.testing.assert_allclose(other.m2, st.m2, rtol=rtol, atol=1e-9)


def test_killed_run_resumes_to_the_same_numbers(tmp_path):
    ckpt, out = tmp_path / "checkpoint.npz", tmp_path / "out.npz"

    def script(kill_at):
        return RUN_SCRIPT.format(overrides=OVERRIDES, ckpt=str(ckpt), out=str(out), kill_at=kill_at)

    killed = subprocess.run(
        [sys.executable, "-c", script(5)], env=ENV, capture_output=True, text=True, timeout=300
    )
    assert killed.returncode == -9, killed.stderr[-2000:]  # SIGKILL, after chunk 5 of 32
    assert not out.exists()
    with np.load(ckpt) as data:
        assert int(data["next_pos"]) == 5
    again = subprocess.run(
        [sys.executable, "-c", script(0)], env=ENV, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming from" in again.stderr and "at chunk 5" in again.stderr
    reference = simulate_raw(compose([o for o in OVERRIDES if "checkpoint" not in o]))
    with np.load(out) as got:
        st = reference.stats["strategy"]["operating_profit_2040"]
        np.testing.assert_array_equal(got["mean"], st.mean)
        np.testing.assert_array_equal(got["m2"], st.m2)
        np.testing.assert_array_equal(
            got["hist"], reference.stats["macro_yearly"]["digital_deficit"].hist
        )
        np.testing.assert_array_equal(
            got["kept"], reference.kept_scalars["strategy"]["operating_profit_2040"]
        )
        np.testing.assert_array_equal(got["drivers"], reference.kept_drivers)
        np.testing.assert_array_equal(got["tail_value"], reference.tail_buffers.worst_value)
        np.testing.assert_array_equal(got["tail_index"], reference.tail_buffers.worst_index)


def test_checkpoint_of_another_config_or_revision_is_refused(tmp_path):
    from engine.checkpoint import CheckpointError, code_revision, run_fingerprint

    ckpt = tmp_path / "checkpoint.npz"
    small = [
        "engine.n_paths=4096",
        "engine.chunk_size=2048",
        "engine.progress=false",
        "engine.checkpoint_every=1",
    ]
    simulate_raw(compose(small), checkpoint=ckpt)
    assert ckpt.exists()
    with pytest.raises(CheckpointError, match="another config"):
        simulate_raw(compose([*small, "engine.seed=5"]), checkpoint=ckpt)

    # the same checkpoint as if written by another revision of the code: refused, naming both
    with np.load(ckpt) as data:
        entries = dict(data)
    assert str(entries["revision"]) == code_revision()
    entries["revision"] = np.asarray("jp2040 0.0.9 (git 0123abc)")
    np.savez(ckpt, **entries)
    with pytest.raises(CheckpointError) as err:
        simulate_raw(compose(small), checkpoint=ckpt)
    assert "written by jp2040 0.0.9 (git 0123abc), this is " + code_revision() in str(err.value)
    # a checkpoint's fingerprint has the revision; the config's alone (jp2040.regression) not
    cfg = compose(small)
    assert run_fingerprint(cfg, 0, 1, False, "a") != run_fingerprint(cfg, 0, 1, False, "b")
    assert run_fingerprint(cfg, 0, 1, False) != run_fingerprint(cfg, 0, 1, False, "a")
    assert str(entries["fingerprint"]) == run_fingerprint(cfg, 0, 1, False, code_revision())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_merge_to_single_process_numbers(tmp_path):
    overrides = [
        "engine.n_paths=8192",
        "engine.chunk_size=2048",
        "engine.progress=false",
        "engine.keep_trajectories=256",
    ]
    port = _free_port()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jp2040.distributed",
                "run",
                "--coordinator",
                f"localhost:{port}",
                "--num-processes",
                "2",
                "--process-id",
                str(i),
                "--out",
                str(tmp_path),
                *overrides,
            ],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    merged = merge_parts(sorted(tmp_path.glob("part-*.npz")))
    single = simulate_raw(compose(overrides))
    assert merged.n_paths == single.n_paths == 8192
    assert_same_stats(single.stats, merged.stats)
    for a, b in zip(
        jax.tree_util.tree_leaves(single.kept_scalars),
        jax.tree_util.tree_leaves(merged.kept_scalars),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(single.kept_drivers, merged.kept_drivers)
    for field in ("worst_value", "worst_index"):  # exact tails merge across processes
        np.testing.assert_array_equal(
            getattr(single.tail_buffers, field), getattr(merged.tail_buffers, field)
        )
