"""Chunked, sharded simulation: global path indices -> keys -> drivers -> paths -> statistics.

Paths are numbered globally: path g belongs to chain ``g // draws_per_chain`` and is draw
``g % draws_per_chain`` of it. Its key is ``fold_in(fold_in(root, chain), draw)`` (chains never
share keys), each driver's uniform comes from ``fold_in(path_key, stable_id(name))``. So a path sees
the same random numbers whatever the chunk size, the device count or the scenario.

One jitted function handles a chunk of ``B`` paths (a power of two; the last chunk is padded and
masked). It returns the per-path scalars and driver values (kept for the first ``keep_paths``
draws of each chain), the yearly trajectories of up to ``R`` selected rows and the streaming
statistics of every output. Chunk ``i + 1`` is dispatched before chunk ``i``'s results are merged
on the host, so host work overlaps device work. A NaN or infinity shows in the chunk's statistics
(sums and extremes propagate it); only then is the chunk rerun, with row masks, to bisect for the
first bad path. Histogram edges come from a pilot over fixed global paths (``engine.pilot``);
the worst values of the headline scalars over all paths go to exact tail buffers
(``engine.tails``), replayable by index (``engine.replay``).
"""

from __future__ import annotations

import logging
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from distributions.keys import chain_draw_uniforms, root_key
from engine import interrupt
from engine.checkpoint import load_checkpoint, run_fingerprint, save_checkpoint
from engine.config import Config
from engine.drivers import DriverTable, build_driver_table
from engine.model import DriverColumns, make_path_fn, path_outcomes
from engine.params import ModelParams, build_params
from engine.pilot import ChunkInputs, run_pilot
from engine.stats import StatsLayout, from_chunk, merge, tree_chunk_stats
from engine.tails import TailBuffers, TailLayout, TailState, badness_fn

log = logging.getLogger("jp2040.engine")

PILOT_ROWS = 2048  # trajectory rows per chunk call at least (also the yearly pilot's batch)


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


CHUNK_OVERHEAD_PATHS = 2048  # per-chunk fixed cost, in path-equivalents, for choosing the chunk


def _layout(cfg: Config):
    """(draws per chain, chunk size): the power of two <= engine.chunk_size (and >= 1024 unless
    the run is smaller) that minimises padded paths plus per-chunk overhead. A function of
    (n_paths, chunk_size) only, so it is part of the reproducibility key."""
    e = cfg.engine
    per_chain = e.n_paths // e.chains
    best, best_cost = None, None
    size = e.chunk_size
    while size >= 1:
        n_chunks = -(-e.n_paths // size)
        cost = n_chunks * (size + CHUNK_OVERHEAD_PATHS)
        if best_cost is None or cost < best_cost:
            best, best_cost = size, cost
        if size <= 1024 or size < e.n_paths // 64:
            break
        size //= 2
    return per_chain, min(best, 1 << max(0, (e.n_paths - 1).bit_length()))


def trajectory_rows(cfg: Config, chunk: int) -> int:
    """R, the rows of a chunk whose yearly trajectories the chunk program returns (part of its
    compiled shape)."""
    e = cfg.engine
    traj_draws = min(e.keep_trajectories // e.chains, e.n_paths // e.chains)
    return min(chunk, max(traj_draws * e.chains, PILOT_ROWS))


def placer(devices):
    """``place(x)``: put a chunk's array on the devices, split along its first axis (paths)."""
    if len(devices) == 1:
        return lambda x: jax.device_put(x, devices[0])
    mesh = jax.sharding.Mesh(np.array(devices), ("paths",))
    shard = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("paths"))
    return lambda x: jax.device_put(x, shard)


def _mesh_devices(cfg: Config, chunk: int):
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
            config, same process split) the run resumes from it.
        process_index, process_count: this process takes chunks ``process_index``,
            ``process_index + process_count``, ... (disjoint global path ranges); merge the parts
            with ``jp2040.distributed.merge_parts``.
    """
    start = time.perf_counter()
    e = cfg.engine
    dtype = jnp.float64 if e.dtype == "float64" else jnp.float32
    if e.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    table = table or build_driver_table(cfg)
    params = params or build_params(cfg)
    per_chain, chunk = _layout(cfg)
    n_chunks = -(-e.n_paths // chunk)
    keep_draws = min(e.keep_paths // e.chains, per_chain)
    traj_draws = min(e.keep_trajectories // e.chains, per_chain)
    rows = trajectory_rows(cfg, chunk)
    bins = e.histogram_bins
    devices = _mesh_devices(cfg, chunk)
    if uniforms is not None:
        uniforms = np.asarray(uniforms)
        want = (e.n_paths, len(table.uniform_names))
        if uniforms.shape != want:
            raise SimulationError(f"supplied uniforms have shape {uniforms.shape}, expected {want}")
        if not np.all((uniforms > 0) & (uniforms < 1)):
            raise SimulationError("supplied uniforms must lie in the open interval (0, 1)")

    root = root_key(e.seed)
    program = chunk_program(table, params, dtype, bins, apply_copula)
    shapes, layout = program.shapes, program.layout
    run_chunk = partial(program.run, root)

    place = placer(devices)

    def chunk_inputs(i, traj_sel=None) -> ChunkInputs:
        """Inputs of chunk ``i``; ``traj_sel`` overrides the trajectory rows (pilot)."""
        g = i * chunk + np.arange(chunk)
        real = g < e.n_paths
        g = np.where(real, g, 0)
        chain, draw = g // per_chain, g % per_chain
        if traj_sel is None:
            sel = np.flatnonzero(real & (draw < traj_draws))[:rows]
        else:
            sel = np.asarray(traj_sel, np.int64)
        traj_rows = np.zeros(rows, np.int32)
        traj_rows[: len(sel)] = sel
        sup = None
        if uniforms is not None:
            sup = place(uniforms[np.where(real, i * chunk + np.arange(chunk), 0)])
        return ChunkInputs(
            place(chain.astype(np.uint32)),
            place(draw.astype(np.uint32)),
            place(real.astype(np.dtype(dtype))),
            jnp.asarray(traj_rows),
            sup,
            chain,
            draw,
            real,
            sel,
        )

    tail_layout = TailLayout.of(
        shapes, e.tail_outputs, e.tail_alpha, e.n_paths, e.tail_best, e.tail_max_paths
    )
    t_compile = time.perf_counter()
    success_prob = jnp.asarray(params.success_prob, dtype)
    pilot = run_pilot(
        lambda ch, dr, mk, tr, ed, sup: run_chunk(ch, dr, mk, tr, ed, sup, success_prob),
        chunk_inputs,
        shapes,
        dtype,
        n_pilot=min(e.n_paths, e.pilot_paths),
        chunk=chunk,
        rows=rows,
    )
    compile_time = pilot.first_call_s
    log.debug(
        "program (trace, compile or load; none if reused) + first pilot call %.2f s", compile_time
    )
    edges = pilot.edges
    scal0, traj0 = pilot.scalars, pilot.trajectories
    edges_host = layout.flatten_edges(edges)  # {block: (lo, hi)}, float64 of the float32 edges
    log.debug("pilot edges %.2f s", time.perf_counter() - t_compile - compile_time)
    tails_on = tail_layout.k > 0 and tail_layout.n_elem > 0
    if tails_on:
        tail_fn = badness_fn(tuple((g, v) for g, v, *_ in tail_layout.leaves), e.tail_best)
        tail_sign = tail_layout.sign
        tail_sign_dev = jnp.asarray(tail_sign, dtype)
    exact32 = e.dtype == "float32"
    state = RunState(
        next_pos=0,
        stats=None,
        kept_scalars=jax.tree_util.tree_map(
            lambda x: np.zeros((e.chains, keep_draws) + x.shape[1:], np.asarray(x).dtype), scal0
        ),
        kept_drivers=np.zeros((e.chains, keep_draws, table.n_drivers), np.dtype(dtype)),
        trajectories=jax.tree_util.tree_map(
            lambda x: np.zeros((e.chains, traj_draws) + x.shape[1:], np.asarray(x).dtype), traj0
        ),
        kept_mask=np.zeros((e.chains, keep_draws), bool),
        traj_mask=np.zeros((e.chains, traj_draws), bool),
        tails=tail_layout.empty() if tails_on else None,
        tail_layout=tail_layout if tails_on else None,
    )
    fingerprint = run_fingerprint(cfg, process_index, process_count, uniforms is not None)
    if checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(Path(checkpoint), fingerprint, state)
        log.info("resuming from %s at chunk %d", checkpoint, state.next_pos)
    if tails_on:  # buffers (empty or from the checkpoint) -> running accumulators
        state.tails = TailState(tail_layout, state.tails, exact32)
    kept_s, kept_d, kept_t = state.kept_scalars, state.kept_drivers, state.trajectories
    stats = None if state.stats is None else layout.flatten_stats(state.stats)  # {block: Stats}
    my_chunks = list(range(process_index, n_chunks, process_count))
    progress = _progress(cfg, len(my_chunks))
    device_time = host_time = 0.0

    def masked_stats(ch, dr, tr, sup, rows_mask):
        """A chunk's statistics with only ``rows_mask`` rows counted (same compiled program)."""
        mask = place(rows_mask.astype(np.dtype(dtype)))
        part = run_chunk(ch, dr, mask, tr, edges, sup, success_prob)[3]
        return layout.unflatten({b: from_chunk(p, *edges_host[b]) for b, p in part.items()})

    def dispatch(pos):
        """Start chunk ``my_chunks[pos]`` (and its tail candidates) on the device
        (asynchronously); None past the end."""
        if pos >= len(my_chunks):
            return None
        inputs = chunk_inputs(my_chunks[pos])
        out = run_chunk(*inputs.device_args, edges, inputs.supplied, success_prob)
        tail_out = tail_fn(out[0], inputs.mask, tail_sign_dev) if tails_on else None
        return inputs, out, tail_out

    pending = dispatch(state.next_pos)
    for pos in range(state.next_pos, len(my_chunks)):
        i = my_chunks[pos]
        inputs, out, tail_out = pending
        ch, dr, _, tr, sup = inputs[:5]
        chain, draw, real, sel = inputs.chain_h, inputs.draw_h, inputs.real, inputs.sel
        t_dev = time.perf_counter()
        scal, values, traj, part = jax.block_until_ready(out)
        t_host = time.perf_counter()
        device_time += t_host - t_dev
        pending = dispatch(pos + 1)  # the device works on the next chunk while we merge this one
        part_host = {b: from_chunk(p, *edges_host[b]) for b, p in part.items()}
        if not all(st.finite() for st in part_host.values()):
            _raise_nonfinite(partial(masked_stats, ch, dr, tr, sup), real, i * chunk)
        stats = (
            part_host if stats is None else {b: merge(stats[b], part_host[b]) for b in part_host}
        )
        if tails_on:
            state.tails.add(tail_out, i * chunk)
        runs = _kept_runs(chain, draw, real & (draw < keep_draws))
        if runs:
            pairs = list(
                zip(jax.tree_util.tree_leaves(kept_s), jax.tree_util.tree_leaves(scal), strict=True)
            )
            pairs.append((kept_d, values))
            for r0, r1, c, d0 in runs:  # contiguous copies: fancy indexing cost ~0.1 s a chunk
                state.kept_mask[c, d0 : d0 + r1 - r0] = True
                for leaf_all, leaf in pairs:
                    leaf_all[c, d0 : d0 + r1 - r0] = np.asarray(leaf)[r0:r1]
        rows_i = np.flatnonzero(real[sel] & (draw[sel] < traj_draws))
        if traj_draws and len(rows_i):
            g_rows = sel[rows_i]
            state.traj_mask[chain[g_rows], draw[g_rows]] = True
            for leaf_all, leaf in zip(
                jax.tree_util.tree_leaves(kept_t), jax.tree_util.tree_leaves(traj), strict=True
            ):
                leaf_all[chain[g_rows], draw[g_rows]] = np.asarray(leaf)[rows_i]
        host_time += time.perf_counter() - t_host
        stop = interrupt.requested()  # a signal under engine.interrupt.graceful (the CLI)
        every = e.checkpoint_every and (pos + 1) % e.checkpoint_every == 0
        if checkpoint is not None and (every or stop):
            state.next_pos, state.stats = pos + 1, layout.unflatten(stats)
            save_checkpoint(Path(checkpoint), fingerprint, state)
        if stop:
            progress(None)
            raise interrupt.Interrupted(stop, pos + 1, len(my_chunks), checkpoint)
        progress(pos)
    progress(None)
    log.debug("device %.2f s, host %.2f s over %d chunks", device_time, host_time, n_chunks)
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
        kept_scalars=kept_s if keep_draws else {},
        kept_drivers=kept_d,
        trajectories=kept_t if traj_draws else {},
        stats=layout.unflatten(stats),
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


@dataclass(frozen=True)
class ChunkProgram:
    """The jitted chunk function of one model, and the layout of its statistics.

    ``run(root, chain, draw, mask, traj_rows, edges, supplied, success_prob)`` ->
    ``(scalars, values, trajectories, stats)`` for a chunk of B paths: chain, draw (B,) uint32;
    mask (B,) 1.0 for counted rows; traj_rows (R,) rows whose yearly values are returned; edges
    the histogram ranges; supplied (B, n_uniforms) uniforms or None; success_prob (S,).
    """

    run: object
    shapes: dict  # {group: {var: per-path shape}}
    layout: StatsLayout


PROGRAM_CACHE_SIZE = 8
_programs: OrderedDict = OrderedDict()  # model structure -> jitted chunk function, most recent last


def clear_program_cache() -> None:
    """Forget the chunk programs built in this process (the next run traces and loads again)."""
    _programs.clear()


def chunk_program_cache_size() -> int:
    """Compiled chunk executables held in this process, over every model structure (tests count
    compiles with it: a changed number must not add one, a changed shape must)."""
    return sum(fn._cache_size() for fn, _, _ in _programs.values())


def _structure_key(table: DriverTable, params: ModelParams, *static):
    """What the compiled program depends on: the pytree structure of (table, params) (ids,
    indices, groups, the year grid: their static aux data), the shapes and dtypes of their
    numbers, and the chunk settings. Numbers themselves are arguments, not part of the key."""
    leaves, treedef = jax.tree_util.tree_flatten((table, params))
    avals = tuple((np.shape(x), str(getattr(x, "dtype", type(x).__name__))) for x in leaves)
    return (treedef, avals, static, jax.config.jax_enable_x64)


def chunk_program(
    table: DriverTable, params: ModelParams, dtype, bins: int, apply_copula: bool = True
) -> ChunkProgram:
    """The chunk program for this model: a jitted function of (table, params, ...) shared by
    every model of the same structure, with this model's table and parameters bound.

    The driver table (distribution parameters, copula factor) and the model parameters are
    pytree *arguments* of the jitted function, so a changed number (a driver median, a market, a
    coupling, a scenario probability) reuses the compiled program through JAX's own cache; only
    a change of structure or shape (another family, another domain count, another bin count)
    traces and compiles anew. The root key is an argument too: path count, chains, seed and kept
    draws never recompile.
    """
    key = _structure_key(table, params, str(np.dtype(dtype)), bins, apply_copula)
    if key in _programs:
        _programs.move_to_end(key)
        jitted, shapes, layout = _programs[key]
        log.debug("chunk program reused (same model structure in this process)")
    else:
        cols = DriverColumns.from_table(table, params)
        names = table.uniform_names
        shapes = _output_shapes(make_path_fn(params, cols, dtype), len(table.names), dtype)
        layout = StatsLayout.of(shapes)

        def chunk_fn(tbl, prm, root, chain, draw, mask, traj_rows, edges, supplied, success_prob):
            if supplied is None:
                u = chain_draw_uniforms(root, chain, draw, names).astype(dtype)
            else:
                u = supplied.astype(dtype)
            values = tbl.values(u, apply_copula=apply_copula)
            # rows not counted (padding; rows left out by the non-finite search) copy the first
            # counted row, as chunk_stats requires
            values = jnp.where(mask[:, None] > 0, values, values[jnp.argmax(mask > 0)])
            scalars, yearly = path_outcomes(values, prm, cols, dtype, success_prob)
            # keep policy success as the 0/1 arrival the path saw, not the uniform behind it
            ps = jnp.asarray(cols.policy_success)
            values = values.at[:, ps].set((values[:, ps] < success_prob).astype(dtype))
            stats = layout.pack(tree_chunk_stats({**scalars, **yearly}, mask, edges, bins))
            traj = jax.tree_util.tree_map(lambda x: x[traj_rows], yearly)
            return scalars, values, traj, stats

        jitted = jax.jit(chunk_fn)
        _programs[key] = (jitted, shapes, layout)
        while len(_programs) > PROGRAM_CACHE_SIZE:
            _programs.popitem(last=False)
    return ChunkProgram(run=partial(jitted, table, params), shapes=shapes, layout=layout)


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


def _output_shapes(path_fn, n_drivers, dtype) -> dict:
    """``{group: {var: per-path shape}}`` of the model's outputs, by tracing one path."""
    scal, yearly = jax.eval_shape(path_fn, jax.ShapeDtypeStruct((1, n_drivers), dtype))
    return {g: {v: s.shape[1:] for v, s in vs.items()} for g, vs in {**scal, **yearly}.items()}


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
