"""Save and restore a run's state (streaming statistics, tail buffers and kept draws) as one
``.npz`` file.

Used for resumable long runs (``engine.checkpoint_every``) and for the parts of a multi-process
run (``jp2040.distributed``). Files are written to a temporary name and renamed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from engine.atomic import atomic_path
from engine.stats import Stats
from engine.tails import TailBuffers, layout_from_json, layout_to_json

STATS_FIELDS = ("n", "mean", "m2", "min", "max", "hist", "lo", "hi")
TAIL_FIELDS = ("worst_value", "worst_index", "best_value", "best_index")


class CheckpointError(RuntimeError):
    """A checkpoint does not belong to this run (other config or process split) or is corrupt."""


def run_fingerprint(cfg, process_index: int, process_count: int, supplied: bool) -> str:
    """Hash of everything that decides the numbers: the model config and the process split."""
    raw = {k: v for k, v in cfg.raw.items() if k not in ("report", "mode", "check")}
    raw["engine"] = {k: v for k, v in raw["engine"].items() if k not in ("progress",)}
    text = json.dumps([raw, process_index, process_count, supplied], sort_keys=True, default=str)
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


def save_checkpoint(path: Path, fingerprint: str, state) -> Path:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, fingerprint=np.asarray(fingerprint), **flatten_state(state))
    return Path(path)


def load_checkpoint(path: Path, fingerprint: str, state):
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["fingerprint"]) != fingerprint:
                raise CheckpointError(
                    f"{path}: checkpoint of another config or process split; delete it or use "
                    "another run directory"
                )
            return unflatten_into(data, state)
    except (OSError, ValueError, KeyError) as err:
        raise CheckpointError(f"{path}: unreadable checkpoint ({err})") from err
