"""Chunked, sharded simulation: global path indices -> keys -> drivers -> paths -> statistics.

Paths are numbered globally: path g belongs to chain ``g // draws_per_chain`` and is draw
``g % draws_per_chain`` of it. Its key is ``fold_in(fold_in(root, chain), draw)`` (chains never
share keys), each driver's uniform comes from ``fold_in(path_key, stable_id(name))``. So a path sees
the same random numbers whatever the chunk size, the device count or the scenario.

One jitted function handles a chunk of ``B`` paths (``engine.chunks``: the program, the chunk
geometry, inputs and runner). It returns the per-path scalars and driver values (kept for the
first ``keep_paths`` draws of each chain), the yearly trajectories of up to ``R`` selected rows
and the streaming statistics of every output. :func:`simulate_raw` is one loop: wait for chunk
``i``, dispatch chunk ``i + 1`` (``ChunkRunner``) so the device works while the host merges, check
chunk ``i``, add it to the :class:`Accumulator` (statistics, exact tails, kept draws), checkpoint.
A NaN or infinity shows in the chunk's statistics (sums and extremes propagate it); only then is
the chunk rerun, with row masks, to bisect for the first bad path. Histogram edges come from a
pilot over fixed global paths (``engine.pilot``); the worst values of the headline scalars over
all paths go to exact tail buffers (``engine.tails``), replayable by index (``engine.replay``).

A float64 run computes inside ``jax.enable_x64`` (``engine.chunks.x64_scope``): the process's
own JAX setting is left as it was.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from distributions.keys import root_key
from engine import interrupt
from engine.checkpoint import (
    check_checkpoint,
    code_revision,
    load_checkpoint,
    run_fingerprint,
    save_checkpoint,
)
from engine.chunks import (  # noqa: F401 - re-exported: engine.run is where callers look
    PILOT_ROWS,
    BoundProgram,
    ChunkFeed,
    ChunkOutput,
    ChunkPlan,
    ChunkProgram,
    ChunkRunner,
    Dispatched,
    chunk_program,
    chunk_program_cache_size,
    clear_program_cache,
    layout,
    placer,
    run_dtype,
    trajectory_rows,
    x64_scope,
)
from engine.config import Config
from engine.drivers import DriverTable, build_driver_table
from engine.params import ModelParams, build_params
from engine.pilot import ChunkInputs, run_pilot
from engine.stats import StatsLayout, merge
from engine.tails import TailBuffers, TailLayout, TailState, badness_fn

log = logging.getLogger("jp2040.engine")


class SimulationError(RuntimeError):
    """A path produced a NaN or infinity; the message names the path and the variable."""


@dataclass
class RawResult:
    """What a simulation returns before it is labelled (see ``engine.results``).

    kept_scalars: level -> var -> (chains, keep_draws, *entity)
    kept_drivers: (chains, keep_draws, n_drivers)
    trajectories: level -> var -> (chains, traj_draws, years, *entity)
    stats: group -> var -> Stats over all paths
    """

    kept_scalars: dict
    kept_drivers: np.ndarray
    trajectories: dict
    stats: dict
    n_paths: int
    chains: int
    wall_time_s: float
    compile_time_s: float
    devices: list = field(default_factory=list)
    kept_mask: np.ndarray | None = None  # (chains, keep_draws): which kept slots this run filled
    traj_mask: np.ndarray | None = None
    tail_layout: TailLayout | None = None  # exact tails (engine.tails), None when off
    tail_buffers: TailBuffers | None = None  # flat (E, k), over every path of the run

    @property
    def tails(self) -> dict:
        """``{group: {var: {"worst": (values, path index), "best": ..., "side": ...}}}``,
        arrays (*entity, k) sorted worst first (engine.tails); empty when tails are off."""
        if self.tail_layout is None or self.tail_buffers is None:
            return {}
        return self.tail_layout.unflatten(self.tail_buffers)


@dataclass
class RunState:
    """What a checkpoint holds: the position in this process's chunk list and everything
    accumulated so far."""

    next_pos: int
    stats: dict | None
    kept_scalars: dict
    kept_drivers: np.ndarray
    trajectories: dict
    kept_mask: np.ndarray
    traj_mask: np.ndarray
    tails: TailBuffers | TailState | None = None  # exact tails so far (engine.tails)
    tail_layout: TailLayout | None = None


def mesh_devices(cfg: Config, chunk: int) -> list:
    """The local devices a run uses (``engine.device``): the largest power of two of them that
    divides the chunk size."""
    devices = jax.local_devices()  # in a multi-process run each process uses its own devices
    if cfg.engine.device == "gpu":
        devices = [d for d in devices if d.platform == "gpu"]
        if not devices:
            raise SimulationError("engine.device=gpu but JAX sees no GPU")
    elif cfg.engine.device == "cpu":
        devices = jax.devices("cpu")
    n = 1
    while n * 2 <= len(devices) and chunk % (n * 2) == 0:
        n *= 2
    return devices[:n]


class Accumulator:
    """Everything a run accumulates over its chunks: the streaming statistics (flat blocks of
    ``engine.stats.StatsLayout``), the exact tails (``engine.tails.TailState``) and, in
    ``state``, the kept draws, kept trajectories and their masks (shapes of :class:`ChunkPlan`).
    Starts from ``state`` (empty, or loaded from a checkpoint); ``tails`` is the run's
    ``TailLayout``, None when tails are off."""

    def __init__(
        self, state: RunState, plan: ChunkPlan, stats_layout: StatsLayout, tails, exact32: bool
    ):
        self.state, self.plan, self.layout, self.tails_on = state, plan, stats_layout, bool(tails)
        self.stats = None if state.stats is None else stats_layout.flatten_stats(state.stats)
        if tails:  # buffers (empty or loaded) -> running accumulators
            state.tails = TailState(tails, state.tails, exact32)

    def add(self, chunk: Dispatched, part: dict) -> None:
        """Add one finished chunk: ``part`` its statistics ``{block: Stats}`` on the host."""
        stats = self.stats
        self.stats = part if stats is None else {b: merge(stats[b], part[b]) for b in part}
        if self.tails_on:
            self.state.tails.add(chunk.tail_candidates, self.plan.offset(chunk.index))
        self._keep_draws(chunk.inputs, chunk.out)
        self._keep_trajectories(chunk.inputs, chunk.out)

    def _keep_draws(self, inp: ChunkInputs, out: ChunkOutput) -> None:
        """Copy the chunk's rows among the first ``keep_draws`` draws of their chain."""
        s = self.state
        runs = _kept_runs(inp.chain_h, inp.draw_h, inp.real & (inp.draw_h < self.plan.keep_draws))
        if not runs:
            return
        leaves = jax.tree_util.tree_leaves
        pairs = list(zip(leaves(s.kept_scalars), leaves(out.scalars), strict=True))
        pairs.append((s.kept_drivers, out.values))
        for r0, r1, c, d0 in runs:  # contiguous copies: fancy indexing cost ~0.1 s a chunk
            s.kept_mask[c, d0 : d0 + r1 - r0] = True
            for leaf_all, leaf in pairs:
                leaf_all[c, d0 : d0 + r1 - r0] = np.asarray(leaf)[r0:r1]

    def _keep_trajectories(self, inp: ChunkInputs, out: ChunkOutput) -> None:
        """Copy the returned trajectory rows among the first ``traj_draws`` of their chain."""
        s, chain, draw, sel = self.state, inp.chain_h, inp.draw_h, inp.sel
        rows_i = np.flatnonzero(inp.real[sel] & (draw[sel] < self.plan.traj_draws))
        if not (self.plan.traj_draws and len(rows_i)):
            return
        g_rows = sel[rows_i]
        s.traj_mask[chain[g_rows], draw[g_rows]] = True
        for leaf_all, leaf in zip(
            jax.tree_util.tree_leaves(s.trajectories),
            jax.tree_util.tree_leaves(out.trajectories),
            strict=True,
        ):
            leaf_all[chain[g_rows], draw[g_rows]] = np.asarray(leaf)[rows_i]

    def at(self, next_pos: int) -> RunState:
        """The state to checkpoint after ``next_pos`` chunks of this process."""
        self.state.next_pos, self.state.stats = next_pos, self.layout.unflatten(self.stats)
        return self.state


def simulate_raw(
    cfg: Config,
    table: DriverTable | None = None,
    params: ModelParams | None = None,
    uniforms: np.ndarray | None = None,
    apply_copula: bool = True,
    checkpoint: Path | None = None,
    process_index: int = 0,
    process_count: int = 1,
) -> RawResult:
    """Run the model for ``cfg.engine.n_paths`` paths and return kept draws and statistics.

    Args:
        uniforms: optional externally supplied driver uniforms, shape (n_paths, n_uniforms), e.g.
            a Saltelli design; when given, no random numbers are drawn (path g uses row g).
        apply_copula: False keeps supplied uniforms independent.
        checkpoint: a file to save the running state to every ``engine.checkpoint_every``
            chunks and when a signal stops the loop (``engine.interrupt``); when it exists (same
            config, code revision and process split) the run resumes from it.
        process_index, process_count: this process takes chunks ``process_index``,
            ``process_index + process_count``, ... (disjoint global path ranges); merge the parts
            with ``jp2040.distributed.merge_parts``.
    """
    with x64_scope(cfg.engine.dtype):
        return _simulate(
            cfg, table, params, uniforms, apply_copula, checkpoint, process_index, process_count
        )


def _simulate(cfg, table, params, uniforms, apply_copula, checkpoint, process_index, process_count):
    start = time.perf_counter()
    e = cfg.engine
    dtype = run_dtype(cfg)
    table = table or build_driver_table(cfg)
    params = params or build_params(cfg)
    plan = ChunkPlan.of(cfg)
    devices = mesh_devices(cfg, plan.chunk)
    if uniforms is not None:
        uniforms = _checked_uniforms(uniforms, (e.n_paths, len(table.uniform_names)))
    program = chunk_program(table, params, dtype, e.histogram_bins, apply_copula)
    success_prob = jnp.asarray(params.success_prob, dtype)
    run = BoundProgram(program, root_key(e.seed), success_prob)
    feed = ChunkFeed(plan, placer(devices), dtype, uniforms)
    tail_layout = TailLayout.of(
        program.shapes, e.tail_outputs, e.tail_alpha, e.n_paths, e.tail_best, e.tail_max_paths
    )
    tails_on = tail_layout.k > 0 and tail_layout.n_elem > 0
    revision = code_revision()
    fingerprint = run_fingerprint(cfg, process_index, process_count, uniforms is not None, revision)
    resume = checkpoint is not None and Path(checkpoint).exists()
    if resume:  # refuse another config's or revision's checkpoint before compute
        check_checkpoint(Path(checkpoint), fingerprint, revision)

    t_pilot = time.perf_counter()
    pilot = run_pilot(
        run, feed, program.shapes, dtype, min(e.n_paths, e.pilot_paths), plan.chunk, plan.rows
    )
    compile_time = pilot.first_call_s
    log.debug(
        "program (trace, compile or load; none if reused) + first pilot call %.2f s", compile_time
    )
    log.debug("pilot edges %.2f s", time.perf_counter() - t_pilot - compile_time)
    tail_args = ()
    if tails_on:
        tail_fn = badness_fn(tuple((g, v) for g, v, *_ in tail_layout.leaves), e.tail_best)
        tail_args = (tail_fn, jnp.asarray(tail_layout.sign, dtype))
    runner = ChunkRunner(
        run, feed, pilot.edges, program.layout.flatten_edges(pilot.edges), *tail_args
    )

    state = _empty_state(plan, pilot, table.n_drivers, dtype, tail_layout if tails_on else None)
    if resume:
        state = load_checkpoint(Path(checkpoint), fingerprint, state, revision)
        log.info("resuming from %s at chunk %d", checkpoint, state.next_pos)
    acc = Accumulator(
        state, plan, program.layout, tail_layout if tails_on else None, e.dtype == "float32"
    )

    my_chunks = list(range(process_index, plan.n_chunks, process_count))

    def dispatch(pos: int) -> Dispatched | None:
        """Start this process's ``pos``-th chunk; None past the end."""
        return runner.dispatch(my_chunks[pos]) if pos < len(my_chunks) else None

    progress = _progress(cfg, len(my_chunks))
    device_time = host_time = 0.0
    pending = dispatch(state.next_pos)
    for pos in range(state.next_pos, len(my_chunks)):
        chunk = pending
        t_dev = time.perf_counter()
        jax.block_until_ready(chunk.out)
        t_host = time.perf_counter()
        device_time += t_host - t_dev
        pending = dispatch(pos + 1)  # the device works on the next chunk while we merge this one
        part = runner.host_stats(chunk.out.stats)
        if not all(st.finite() for st in part.values()):
            rerun = partial(runner.masked_stats, chunk.inputs)
            _raise_nonfinite(rerun, chunk.inputs.real, plan.offset(chunk.index))
        acc.add(chunk, part)
        host_time += time.perf_counter() - t_host
        stop = interrupt.requested()  # a signal under engine.interrupt.graceful (the CLI)
        every = e.checkpoint_every and (pos + 1) % e.checkpoint_every == 0
        if checkpoint is not None and (every or stop):
            save_checkpoint(Path(checkpoint), fingerprint, acc.at(pos + 1), revision)
        if stop:
            progress(None)
            raise interrupt.Interrupted(stop, pos + 1, len(my_chunks), checkpoint)
        progress(pos)
    progress(None)
    log.debug("device %.2f s, host %.2f s over %d chunks", device_time, host_time, plan.n_chunks)
    wall = time.perf_counter() - start
    log.info(
        "simulated %d paths in %.1f s (%.0f paths/s, compile %.1f s) on %s",
        e.n_paths,
        wall,
        e.n_paths / max(wall, 1e-9),
        compile_time,
        [str(d) for d in devices],
    )
    return RawResult(
        kept_scalars=state.kept_scalars if plan.keep_draws else {},
        kept_drivers=state.kept_drivers,
        trajectories=state.trajectories if plan.traj_draws else {},
        stats=program.layout.unflatten(acc.stats),
        kept_mask=state.kept_mask,
        traj_mask=state.traj_mask,
        tail_layout=tail_layout if tails_on else None,
        tail_buffers=state.tails.buffers() if tails_on else None,
        n_paths=e.n_paths,
        chains=e.chains,
        wall_time_s=wall,
        compile_time_s=compile_time,
        devices=[str(d) for d in devices],
    )


def _checked_uniforms(uniforms, want: tuple) -> np.ndarray:
    """Supplied uniforms as an array of shape ``want`` inside (0, 1); else SimulationError."""
    uniforms = np.asarray(uniforms)
    if uniforms.shape != want:
        raise SimulationError(f"supplied uniforms have shape {uniforms.shape}, expected {want}")
    if not np.all((uniforms > 0) & (uniforms < 1)):
        raise SimulationError("supplied uniforms must lie in the open interval (0, 1)")
    return uniforms


def _empty_state(plan: ChunkPlan, pilot, n_drivers: int, dtype, tail_layout) -> RunState:
    """Zeroed kept buffers (shapes and dtypes from the pilot's outputs) and empty tails."""
    c = plan.chains

    def zeros(template, draws):
        return jax.tree_util.tree_map(
            lambda x: np.zeros((c, draws) + x.shape[1:], np.asarray(x).dtype), template
        )

    return RunState(
        next_pos=0,
        stats=None,
        kept_scalars=zeros(pilot.scalars, plan.keep_draws),
        kept_drivers=np.zeros((c, plan.keep_draws, n_drivers), np.dtype(dtype)),
        trajectories=zeros(pilot.trajectories, plan.traj_draws),
        kept_mask=np.zeros((c, plan.keep_draws), bool),
        traj_mask=np.zeros((c, plan.traj_draws), bool),
        tails=None if tail_layout is None else tail_layout.empty(),
        tail_layout=tail_layout,
    )


def _kept_runs(chain: np.ndarray, draw: np.ndarray, keep: np.ndarray) -> list:
    """Kept rows of a chunk as contiguous runs ``(row0, row1, chain, draw0)``: rows row0..row1-1
    are draws draw0.. of one chain (a chunk's global indices are consecutive)."""
    idx = np.flatnonzero(keep)
    if not idx.size:
        return []
    breaks = np.flatnonzero((np.diff(idx) != 1) | (np.diff(chain[idx]) != 0)) + 1
    starts, ends = np.r_[0, breaks], np.r_[breaks, idx.size]
    return [
        (int(idx[a]), int(idx[b - 1]) + 1, int(chain[idx[a]]), int(draw[idx[a]]))
        for a, b in zip(starts, ends, strict=True)
    ]


def _nonfinite_leaf(part: dict) -> str | None:
    """Name ("group/var") of the first output whose chunk statistics are not finite, or None. A NaN
    or infinity in any path shows in the sums and extremes (so does a finite float32 overflow)."""
    for group, vars_ in part.items():
        for var, st in vars_.items():
            if not st.finite():
                return f"{group}/{var}"
    return None


def _raise_nonfinite(stats_under, real: np.ndarray, offset: int) -> None:
    """Find the first path of a chunk whose outputs are not finite and raise SimulationError.

    ``stats_under(mask)`` reruns the chunk's compiled function with only the rows in ``mask``
    counted (masked rows never reach the sums) and returns its statistics: bisection over rows
    takes log2(chunk) reruns and no new compilation. If no single path is at fault, the sums
    themselves overflowed float32.
    """
    rows = np.arange(real.size)
    lo, hi = 0, real.size  # a bad real path lies in [lo, hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        left = real & (rows >= lo) & (rows < mid)
        if left.any() and _nonfinite_leaf(stats_under(left)) is not None:
            hi = mid
        else:
            lo = mid
    name = _nonfinite_leaf(stats_under(real & (rows == lo)))
    if name is not None:
        raise SimulationError(
            f"non-finite value (NaN or inf) in {name} at global path index {offset + lo}"
        )
    raise SimulationError(
        f"statistics overflowed float32 in the chunk starting at global path index {offset} "
        "(no path is NaN or inf); run with engine.dtype=float64"
    )


def _progress(cfg: Config, total: int):
    """A tqdm bar over chunks on a terminal, plain log lines otherwise."""
    setting = cfg.engine.progress
    tty = sys.stderr.isatty()
    use_bar = setting is True or (setting == "auto" and tty)
    if use_bar and total > 1:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="chunk", desc="paths", leave=False)

        def step(i):
            if i is None:
                bar.close()
            else:
                bar.update(1)

        return step

    def log_step(i):
        if i is not None and (total <= 20 or i % max(1, total // 20) == 0 or i == total - 1):
            log.info("chunk %d/%d", i + 1, total)

    return log_step
