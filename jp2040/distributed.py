"""One huge run over several processes or hosts with JAX's multi-process runtime.

Each process takes a disjoint set of chunks (chunk ``i`` goes to process ``i % P``: disjoint
global path ranges, the same keys as a single-process run) and writes ``part-<i>.npz`` (its
streaming statistics and kept draws). ``merge`` combines the parts in process order into the
same numbers as a single process: counts, histograms, min/max, tail buffers and kept draws
exactly, means and variances to float64 rounding (Chan's merge in another order).

    # on each host (process i of P; the coordinator is process 0's host:port)
    python -m jp2040.distributed run --coordinator HOST:PORT --num-processes P --process-id i \\
        --out DIR engine.n_paths=1e9
    # anywhere, afterwards: results.nc, summary.csv, manifest.json and the report in DIR
    python -m jp2040.distributed merge --out DIR engine.n_paths=1e9
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from engine.checkpoint import CheckpointError, code_revision, run_fingerprint, unflatten_into
from engine.config import ConfigError, compose
from engine.run import RawResult, RunState
from engine.stats import merge

log = logging.getLogger("jp2040.distributed")


class MergeError(ValueError):
    """Part files that do not make one run: missing, duplicated, unreadable or of another
    config, code revision or process count."""


def part_path(out_dir: Path, index: int) -> Path:
    return Path(out_dir) / f"part-{index:04d}.npz"


def part_label(cfg, process_index: int, process_count: int) -> str:
    """What a part file records of its run: its place in the split and the fingerprint of
    everything that decides the numbers (config and code revision, ``engine.checkpoint``)."""
    return json.dumps(
        {"part": process_index, "of": process_count, "run": _run_id(cfg), "code": code_revision()}
    )


def _run_id(cfg) -> str:
    return run_fingerprint(cfg, 0, 1, False, code_revision())


def read_label(path: Path) -> dict:
    """The label :func:`part_label` wrote into a part file; MergeError when unreadable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            label = json.loads(str(data["fingerprint"]))
        return {"code": label.get("code", "?"), **{k: label[k] for k in ("part", "of", "run")}}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise MergeError(f"{path}: not a part file of jp2040.distributed ({err})") from err


def check_parts(paths: list[Path], cfg=None) -> list[Path]:
    """The part files in process order, after checking they make one whole run: every part
    ``0..P-1`` present once, all of one process count ``P`` and one run fingerprint, and that
    of ``cfg`` when given. Raises MergeError saying what is wrong before anything is merged."""
    if not paths:
        raise MergeError("no part-*.npz files to merge")
    labels = {Path(p): read_label(Path(p)) for p in paths}
    counts = sorted({lab["of"] for lab in labels.values()})
    if len(counts) > 1:
        raise MergeError(f"parts of different process counts {counts}: {sorted(map(str, labels))}")
    runs = {lab["run"] for lab in labels.values()}
    if len(runs) > 1:
        raise MergeError(
            "parts of different runs (config or code revision differ): "
            + ", ".join(
                f"{p.name}: {lab['run'][:12]} ({lab['code']})" for p, lab in sorted(labels.items())
            )
        )
    if cfg is not None and runs != {_run_id(cfg)}:
        code = next(iter(labels.values()))["code"]
        raise MergeError(
            "the parts were simulated with another config or code revision than the one given "
            f"to merge (parts: {code}; this is {code_revision()}): pass the same overrides as to "
            "`run`, with the same code"
        )
    by_index: dict[int, Path] = {}
    for path, lab in labels.items():
        if lab["part"] in by_index:
            raise MergeError(f"part {lab['part']} twice: {by_index[lab['part']]} and {path}")
        by_index[lab["part"]] = path
    missing = [i for i in range(counts[0]) if i not in by_index]
    if missing:
        raise MergeError(
            f"missing part(s) {missing} of {counts[0]} (have {sorted(by_index)}): "
            "a merge without them would silently lose their paths"
        )
    return [by_index[i] for i in range(counts[0])]


def run_part(cfg, out_dir: Path, process_index: int, process_count: int) -> Path:
    """Simulate this process's chunks and save them as ``part-<index>.npz``."""
    from engine.checkpoint import save_checkpoint
    from engine.drivers import build_driver_table
    from engine.params import build_params
    from engine.run import simulate_raw

    raw = simulate_raw(
        cfg,
        build_driver_table(cfg),
        build_params(cfg),
        process_index=process_index,
        process_count=process_count,
    )
    state = RunState(
        next_pos=-1,
        stats=raw.stats,
        kept_scalars=raw.kept_scalars,
        kept_drivers=raw.kept_drivers,
        trajectories=raw.trajectories,
        kept_mask=raw.kept_mask,
        traj_mask=raw.traj_mask,
        tails=raw.tail_buffers,
        tail_layout=raw.tail_layout,
    )
    return save_checkpoint(
        part_path(out_dir, process_index), part_label(cfg, process_index, process_count), state
    )


def merge_parts(paths: list[Path], cfg=None) -> RawResult:
    """Combine part files into one RawResult, after :func:`check_parts` (``cfg``: the run's
    config, checked against the parts' fingerprint when given)."""
    paths = check_parts(list(paths), cfg)
    with np.load(paths[0], allow_pickle=False) as data:
        keys = list(data.files)
    merged = None
    for path in paths:
        with np.load(path, allow_pickle=False) as data:
            state = unflatten_into(data, _template(keys, data))
        if merged is None:
            merged = state
            continue
        for grp, vars_ in state.stats.items():
            for var, st in vars_.items():
                merged.stats[grp][var] = merge(merged.stats[grp][var], st)
        for mine, theirs, mask in (
            (merged.kept_scalars, state.kept_scalars, state.kept_mask),
            (merged.trajectories, state.trajectories, state.traj_mask),
        ):
            for level, vars_ in theirs.items():
                for var, arr in vars_.items():
                    mine[level][var][mask] = arr[mask]
        if merged.tails is not None:
            exact32 = merged.kept_drivers.dtype == np.float32
            merged.tails = merged.tails.merge(state.tails, merged.tail_layout.sign, exact32)
        merged.kept_drivers[state.kept_mask] = state.kept_drivers[state.kept_mask]
        merged.kept_mask |= state.kept_mask
        merged.traj_mask |= state.traj_mask
    first = next(iter(next(iter(merged.stats.values())).values()))
    return RawResult(
        kept_scalars=merged.kept_scalars,
        kept_drivers=merged.kept_drivers,
        trajectories=merged.trajectories,
        stats=merged.stats,
        n_paths=int(first.n.flat[0]),
        chains=merged.kept_drivers.shape[0],
        wall_time_s=float("nan"),
        compile_time_s=float("nan"),
        devices=[],
        kept_mask=merged.kept_mask,
        traj_mask=merged.traj_mask,
        tail_layout=merged.tail_layout if merged.tails is not None else None,
        tail_buffers=None if merged.tails is None else merged.tails.sorted(merged.tail_layout.sign),
    )


def _template(keys, data) -> RunState:
    tree = {"kept": {}, "traj": {}}
    for key in keys:
        parts = key.split("/")
        if parts[0] in tree:
            tree[parts[0]].setdefault(parts[1], {})[parts[2]] = None
    return RunState(
        next_pos=0,
        stats=None,
        kept_scalars=tree["kept"],
        kept_drivers=None,
        trajectories=tree["traj"],
        kept_mask=None,
        traj_mask=None,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jp2040.distributed")
    parser.add_argument("action", choices=["run", "merge"])
    parser.add_argument("--out", required=True, help="directory for part files and results")
    parser.add_argument("--coordinator", help="host:port of process 0 (run)")
    parser.add_argument("--num-processes", type=int, default=1)
    parser.add_argument("--process-id", type=int, default=0)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for jp2040")
    args = parser.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        return _main(args)
    except (ConfigError, MergeError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _main(args) -> int:
    cfg = compose(args.overrides)
    out = Path(args.out)
    if args.action == "run":
        import jax

        if args.coordinator and args.num_processes > 1:
            jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id)
        path = run_part(cfg, out, jax.process_index(), jax.process_count())
        print(path)
        return 0
    from engine.drivers import build_driver_table
    from engine.manifest import build_manifest
    from engine.params import build_params
    from engine.results import SimulationResult
    from jp2040.cli import write_run

    raw = merge_parts(sorted(out.glob("part-*.npz")), cfg)
    if raw.n_paths != cfg.engine.n_paths:
        raise MergeError(
            f"the parts hold {raw.n_paths} paths, engine.n_paths is {cfg.engine.n_paths}"
        )
    result = SimulationResult(
        cfg,
        build_driver_table(cfg),
        build_params(cfg),
        raw,
        build_manifest(cfg, None, args.overrides),
    )
    paths, _ = write_run(result, out)
    print("\n".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
