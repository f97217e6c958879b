"""Faults at the edges of a CLI run: an unwritable run directory, too little disk space, a disk
that fills during the write, and the one-line messages (and exit statuses) the CLI gives for them.

Before compute, :func:`check_run_dir` probes that the run directory takes a file and compares
:func:`free_bytes` (the one place that asks the OS, so tests can patch it) with
:func:`estimate_output_bytes`. During the write, :func:`on_full_disk` turns a library's error on a
full disk (netCDF reports ``NetCDF: HDF error``) into :class:`DiskFullError`. :func:`run_guarded`
maps every failure to one logged line plus where to look (the run's log file keeps the
traceback) and an exit status: 2 for bad input or an unusable run directory, 1 for a failure
during the run, 128 + signal for an interrupt.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

log = logging.getLogger("jp2040")

LOW_SPACE = 4 << 20  # bytes free under which a failed write is taken for a full disk
FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
# all figures of one run, bytes per format (24 PNGs took 1.4 MB at 20,000 paths), report.html
# (PNGs embedded; 2.1 MB), the CSV/JSON/text tables (summary.csv 0.5 MB): rounded up
FIGURE_BYTES = {"png": 4 << 20, "svg": 16 << 20, "pdf": 8 << 20}
HTML_BYTES = 6 << 20
TABLE_BYTES = 4 << 20
MARGIN = 1.1  # netCDF metadata, coordinates, the manifest inside results.nc
STATS_COMPRESSED = 0.2  # /stats after zlib, as a share of its raw bytes


class RunDirError(RuntimeError):
    """The run directory cannot take this run's outputs (unwritable, or too little space)."""


class DiskFullError(OSError):
    """The disk filled while writing ``filename``; ``free`` bytes were free at the failure."""

    def __init__(self, filename, free: int):
        super().__init__(errno.ENOSPC, "No space left on device", str(filename))
        self.free = free


def free_bytes(path: str | os.PathLike) -> int:
    """Bytes free to this user on the file system of ``path`` (or of its nearest existing parent)."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def check_writable(path: str | os.PathLike) -> None:
    """Create ``path`` if needed and write and delete a probe file in it; RunDirError if not."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".jp2040-probe-", dir=path)
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        raise RunDirError(
            f"run directory {path} is not writable ({err.strerror or err}); "
            "choose another with hydra.run.dir=DIR"
        ) from err


def estimate_output_bytes(cfg, shapes: dict, n_drivers: int, checkpoint: bool) -> dict[str, int]:
    """Bytes each output of a run will take, from the kept draws and the model's output shapes.

    Args:
        shapes: ``{group: {var: per-path shape}}`` (``ChunkProgram.shapes``); groups ending in
            ``_yearly`` are trajectories (their shape starts with the year axis).
        checkpoint: count a checkpoint (it holds the kept draws and the statistics).
    Returns ``{name: bytes}``: ``results.nc``, ``checkpoint.npz``, ``tables``, ``figures``,
    ``report.html`` (zero when not written).
    """
    e, r = cfg.engine, cfg.report
    per_chain = e.n_paths // e.chains
    keep = min(e.keep_paths // e.chains, per_chain) * e.chains
    traj = min(e.keep_trajectories // e.chains, per_chain) * e.chains
    item = 8 if e.dtype == "float64" else 4
    size = {g: sum(int(_prod(s)) for s in vs.values()) for g, vs in shapes.items()}
    scalar = sum(v for g, v in size.items() if not g.endswith("_yearly"))
    yearly = sum(v for g, v in size.items() if g.endswith("_yearly"))
    kept = keep * item * (scalar + n_drivers) + traj * item * yearly  # drivers in the run's dtype
    stats = 8 * (e.histogram_bins + 8) * (scalar + yearly)
    tails = _tail_bytes(e, shapes)
    formats = set(r.formats) | ({"png"} if r.html else set())
    return {
        # /stats is mostly empty histogram bins and compresses to ~1/5 (zlib, measured)
        "results.nc": int(MARGIN * (kept + tails) + STATS_COMPRESSED * stats),
        "checkpoint.npz": int(MARGIN * (kept + stats)) if checkpoint else 0,
        "tables": TABLE_BYTES,
        "figures": sum(FIGURE_BYTES.get(f, 16 << 20) for f in formats) if r.figures else 0,
        "report.html": HTML_BYTES if r.html else 0,
    }


def _tail_bytes(e, shapes: dict) -> int:
    """The exact tail buffers: k values (run dtype) and global indices (int64) per element of
    the tail outputs, k = min(ceil(alpha n), tail_max_paths) + margin (engine.tails)."""
    if not e.tail_alpha:
        return 0
    n_elem = 0
    for spec in e.tail_outputs:
        group, _, var = spec.partition("/")
        for v, shape in shapes.get(group, {}).items():
            if not var or v == var:
                n_elem += int(_prod(shape))
    top = min(math.ceil(e.tail_alpha * e.n_paths), e.tail_max_paths)
    k = min(e.n_paths, top + 16 + 4 * math.ceil(math.sqrt(top)))
    sides = 2 if e.tail_best else 1
    return sides * k * n_elem * ((8 if e.dtype == "float64" else 4) + 8)


def _prod(shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


def check_run_dir(cfg, run_dir: Path, checkpoint: Path | None = None) -> dict[str, int]:
    """Before compute: the run directory takes files and has room for the outputs; else
    RunDirError naming the directory, the space free and needed, and how to shrink the outputs.
    Returns the estimate (:func:`estimate_output_bytes`)."""
    import jax.numpy as jnp

    from engine.drivers import build_driver_table
    from engine.params import build_params
    from engine.run import chunk_program

    check_writable(run_dir)
    table = build_driver_table(cfg)
    # float32 here: shapes do not depend on the dtype, and simulate reuses this program
    program = chunk_program(table, build_params(cfg), jnp.float32, cfg.engine.histogram_bins)
    has_ckpt = bool(cfg.engine.checkpoint_every) or bool(checkpoint and checkpoint.exists())
    need = estimate_output_bytes(cfg, program.shapes, len(table.names), has_ckpt)
    free = free_bytes(run_dir)
    total = sum(need.values())
    if free < total:
        e = cfg.engine
        parts = ", ".join(f"{k} {fmt_bytes(v)}" for k, v in need.items() if v)
        raise RunDirError(
            f"not enough disk space in {run_dir}: {fmt_bytes(free)} free, about "
            f"{fmt_bytes(total)} needed ({parts}); to shrink the outputs lower "
            f"engine.keep_paths (now {e.keep_paths}) or engine.keep_trajectories (now "
            f"{e.keep_trajectories}), or set report.figures=false, or use another hydra.run.dir"
        )
    log.debug("outputs need about %s, %s free in %s", fmt_bytes(total), fmt_bytes(free), run_dir)
    return need


class on_full_disk:  # noqa: N801 - used as a context manager
    """Around a write of ``tmp`` (to become ``path``): an error raised while fewer than LOW_SPACE
    bytes are free (or with a full-disk errno) becomes :class:`DiskFullError` naming ``path`` and
    the space free when the write began. ``tmp`` is truncated at once: the netCDF library keeps
    a failed file open, so removing it would not give its space back until the process ends."""

    def __init__(self, path, tmp=None):
        self.path, self.tmp = Path(path), tmp

    def __enter__(self):
        self.free = free_bytes(self.path.parent)
        return self

    def __exit__(self, kind, err, tb):
        if err is None or not isinstance(err, Exception) or isinstance(err, DiskFullError):
            return False
        if getattr(err, "errno", None) in FULL_ERRNOS or free_bytes(self.path.parent) < LOW_SPACE:
            if self.tmp is not None and os.path.exists(self.tmp):
                os.truncate(self.tmp, 0)
            raise DiskFullError(self.path, self.free) from err
        return False


def precheck_argv(argv) -> str | None:
    """Before Hydra starts (it creates the run directory and its log file there): the message
    for a run or sweep directory from the command line that cannot be written, or None."""
    multirun = any(a in ("-m", "--multirun") for a in argv)
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    value = "multirun/" if multirun else "outputs/"
    for arg in argv:
        if arg.lstrip("+").startswith(key + "="):
            value = arg.lstrip("+").split("=", 1)[1]
    if "${" in value:  # interpolations (${now:...}) resolve later: check the fixed part
        value = value.split("${", 1)[0]
        value = value if value.endswith("/") else os.path.dirname(value)
    try:
        check_writable(Path(value or "."))
    except RunDirError as err:
        return f"RunDirError: {err}"
    return None


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _traceback_to_log_file(err: BaseException) -> Path | None:
    """Write ``err``'s traceback to the run's log file only (not the terminal); its path."""
    text = "".join(traceback.format_exception(err))
    for h in logging.getLogger().handlers:
        if isinstance(h, logging.FileHandler):
            h.handle(log.makeRecord(log.name, logging.ERROR, __file__, 0, text, (), None))
            return Path(h.baseFilename)
    return None


def describe(err: BaseException, run_dir: Path) -> str:
    """One line for an unexpected failure."""
    if isinstance(err, OSError) and err.errno in FULL_ERRNOS:
        name = _target_name(err.filename) if err.filename else "a file"
        free = getattr(err, "free", None)
        if free is None:
            free = free_bytes(Path(err.filename).parent if err.filename else run_dir)
        kept = [n for n in ("summary.csv", "manifest.json") if (run_dir / n).exists()]
        return (
            f"disk full writing {name} ({fmt_bytes(free)} free in {run_dir} when it began)"
            + (f"; {' and '.join(kept)} were written" if kept else "")
            + "; free some space, or lower engine.keep_paths / engine.keep_trajectories, and rerun"
        )
    if isinstance(err, OSError) and err.errno in (errno.EROFS, errno.EACCES):
        return f"cannot write {err.filename or run_dir}: {err.strerror}; use another hydra.run.dir"
    return _one_line(f"{type(err).__name__}: {err}")


def _target_name(filename) -> str:
    """The file an atomic write was for: ``.summary.csv.ab12.tmp`` -> ``summary.csv``."""
    p = Path(filename)
    if p.name.startswith(".") and p.name.endswith(".tmp") and p.name.count(".") >= 3:
        p = p.with_name(p.name[1:].rsplit(".", 2)[0])
    return str(p)


def run_guarded(job, run_dir: Path, run_dir_given: bool = True) -> int:
    """Run ``job()`` (returns an exit status) and turn its failures into one logged line:
    config, simulation, checkpoint and run-directory errors (status 2), interrupts (128 +
    signal), anything else (status 1, or 2 for a run directory that turned read-only; with the
    path of the log file that keeps the traceback)."""
    from engine import interrupt
    from engine.checkpoint import CheckpointError
    from engine.config import ConfigError

    known = (ConfigError, CheckpointError, RunDirError)
    try:
        return job()
    except interrupt.Interrupted as err:
        log.warning("%s", interrupt.message(err, run_dir, run_dir_given))
        return err.exit_code
    except Exception as err:
        simulation_error = getattr(sys.modules.get("engine.run"), "SimulationError", ())
        if isinstance(err, known) or (simulation_error and isinstance(err, simulation_error)):
            log.error("%s: %s", type(err).__name__, _one_line(err))
            return 2
        where = _traceback_to_log_file(err)
        log.error("%s%s", describe(err, run_dir), f" (traceback in {where})" if where else "")
        unwritable = isinstance(err, OSError) and err.errno in (errno.EROFS, errno.EACCES)
        return 2 if unwritable else 1
