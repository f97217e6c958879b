"""Save and restore a run's state (streaming statistics, tail buffers and kept draws) as one
``.npz`` file.

Used for resumable long runs (``engine.checkpoint_every``) and for the parts of a multi-process
run (``jp2040.distributed``). Files are written to a temporary name and renamed. A checkpoint
records the code revision that wrote it (:func:`code_revision`); a run resumes only from one of
the same config, process split and revision.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.atomic import atomic_path
from engine.stats import Stats
from engine.tails import TailBuffers, layout_from_json, layout_to_json

STATS_FIELDS = ("n", "mean", "m2", "min", "max", "hist", "lo", "hi")
TAIL_FIELDS = ("worst_value", "worst_index", "best_value", "best_index")


class CheckpointError(RuntimeError):
    """A checkpoint does not belong to this run (other config, process split or code revision)
    or is corrupt."""


@lru_cache(maxsize=1)
def code_revision() -> str:
    """The code that computes the numbers: ``jp2040 <version>``, plus ``git <commit>`` (with
    ``-dirty`` for uncommitted changes, ``engine.manifest.git_revision``) when the package runs
    from a git checkout. Read once per process: the code a process runs does not change."""
    from engine.manifest import git_revision

    try:
        version = importlib.metadata.version("jp2040")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    root = Path(__file__).resolve().parent.parent
    commit = git_revision(root) if (root / ".git").exists() else "unknown"
    return f"jp2040 {version}" + ("" if commit == "unknown" else f" (git {commit})")


def run_fingerprint(
    cfg, process_index: int, process_count: int, supplied: bool, revision: str | None = None
) -> str:
    """Hash of everything that decides the numbers: the model config, the process split and,
    when given, the code revision (a checkpoint's fingerprint has it, :func:`code_revision`;
    ``jp2040.regression``'s baseline fingerprint is of the config alone)."""
    raw = {k: v for k, v in cfg.raw.items() if k not in ("report", "mode", "check")}
    raw["engine"] = {k: v for k, v in raw["engine"].items() if k not in ("progress",)}
    parts = [raw, process_index, process_count, supplied]
    if revision is not None:
        parts.append(revision)
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def flatten_state(state) -> dict[str, np.ndarray]:
    out = {
        "next_pos": np.asarray(state.next_pos),
        "kept_drivers": state.kept_drivers,
        "kept_mask": state.kept_mask,
        "traj_mask": state.traj_mask,
    }
    for prefix, tree in (("kept", state.kept_scalars), ("traj", state.trajectories)):
        for level, vars_ in tree.items():
            for var, arr in vars_.items():
                out[f"{prefix}/{level}/{var}"] = arr
    for group, vars_ in (state.stats or {}).items():
        for var, st in vars_.items():
            for f in STATS_FIELDS:
                out[f"stats/{group}/{var}/{f}"] = getattr(st, f)
    tails = getattr(state, "tails", None)
    if tails is not None:
        if not isinstance(tails, TailBuffers):  # a running TailState
            tails = tails.buffers()
        for f in TAIL_FIELDS:
            if getattr(tails, f) is not None:
                out[f"tails/{f}"] = getattr(tails, f)
        if getattr(state, "tail_layout", None) is not None:
            out["tails/layout"] = np.asarray(layout_to_json(state.tail_layout))
    return out


def unflatten_into(data, state):
    """Fill ``state`` (shapes from the current run) from a loaded npz mapping."""
    state.next_pos = int(data["next_pos"])
    state.kept_drivers = np.array(data["kept_drivers"])
    state.kept_mask = np.array(data["kept_mask"])
    state.traj_mask = np.array(data["traj_mask"])
    for prefix, tree in (("kept", state.kept_scalars), ("traj", state.trajectories)):
        for level, vars_ in tree.items():
            for var in vars_:
                vars_[var] = np.array(data[f"{prefix}/{level}/{var}"])
    stats: dict = {}
    for key in data.files:
        if key.startswith("stats/") and key.endswith("/n"):
            _, group, var, _ = key.split("/")
            fields = {f: np.array(data[f"stats/{group}/{var}/{f}"]) for f in STATS_FIELDS}
            stats.setdefault(group, {})[var] = Stats(**fields)
    state.stats = stats or None
    if "tails/worst_value" in data.files:
        state.tails = TailBuffers(
            *(
                np.array(data[f"tails/{f}"]) if f"tails/{f}" in data.files else None
                for f in TAIL_FIELDS
            )
        )
    if "tails/layout" in data.files:
        state.tail_layout = layout_from_json(str(data["tails/layout"]))
    return state


def save_checkpoint(path: Path, fingerprint: str, state, revision: str | None = None) -> Path:
    """Write ``state`` with its ``fingerprint`` and the code ``revision`` (default
    :func:`code_revision`) to ``path`` atomically."""
    revision = code_revision() if revision is None else revision
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            fingerprint=np.asarray(fingerprint),
            revision=np.asarray(revision),
            **flatten_state(state),
        )
    return Path(path)


def check_checkpoint(path: Path, fingerprint: str, revision: str | None = None) -> None:
    """CheckpointError unless the checkpoint at ``path`` was written by this code ``revision``
    (default :func:`code_revision`; the message names both) for this ``fingerprint`` (config and
    process split), or when it is unreadable. Reads two small entries: cheap before compute."""
    try:
        with np.load(path, allow_pickle=False) as data:
            _check(path, data, fingerprint, code_revision() if revision is None else revision)
    except (OSError, ValueError, KeyError) as err:
        raise CheckpointError(f"{path}: unreadable checkpoint ({err})") from err


def load_checkpoint(path: Path, fingerprint: str, state, revision: str | None = None):
    """Fill ``state`` from the checkpoint at ``path`` after :func:`check_checkpoint`'s checks."""
    try:
        with np.load(path, allow_pickle=False) as data:
            _check(path, data, fingerprint, code_revision() if revision is None else revision)
            return unflatten_into(data, state)
    except (OSError, ValueError, KeyError) as err:
        raise CheckpointError(f"{path}: unreadable checkpoint ({err})") from err


def _check(path, data, fingerprint: str, revision: str) -> None:
    written_by = str(data["revision"]) if "revision" in data.files else "an older jp2040"
    if written_by != revision:
        raise CheckpointError(
            f"{path}: checkpoint written by {written_by}, this is {revision}; resume with the "
            "revision that wrote it, or delete it (or use another run directory) to start again"
        )
    if str(data["fingerprint"]) != fingerprint:
        raise CheckpointError(
            f"{path}: checkpoint of another config or process split; delete it or use another "
            "run directory"
        )
