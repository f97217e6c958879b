"""The compiled chunk program of a model, and where a run's paths sit in its chunks.

A run cuts its ``n_paths`` global paths into chunks of ``B`` paths (a power of two, :func:`layout`);
path ``g`` is draw ``g % draws_per_chain`` of chain ``g // draws_per_chain``, and chunk ``i`` holds
paths ``i * B .. i * B + B - 1`` (the last chunk is padded and masked). :class:`ChunkPlan` is that
geometry plus the kept draws and trajectory rows; :class:`ChunkFeed` builds one chunk's inputs
and :class:`ChunkRunner` starts a chunk on the devices (``engine.run`` loops over them).

:func:`chunk_program` returns the jitted function that simulates one chunk (``ChunkProgram``),
cached per model *structure*: numbers (driver medians, markets, the seed) are arguments, so a
changed number reuses the compiled program and only a changed shape compiles anew.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from distributions.keys import chain_draw_uniforms
from engine.drivers import DriverTable
from engine.model import DriverColumns, make_path_fn, path_outcomes
from engine.params import ModelParams
from engine.pilot import ChunkInputs
from engine.stats import StatsLayout, from_chunk, tree_chunk_stats

log = logging.getLogger("jp2040.engine")

PILOT_ROWS = 2048  # trajectory rows per chunk call at least (also the yearly pilot's batch)
CHUNK_OVERHEAD_PATHS = 2048  # per-chunk fixed cost, in path-equivalents, for choosing the chunk
PROGRAM_CACHE_SIZE = 8


def run_dtype(cfg):
    """The JAX float dtype of ``engine.dtype``."""
    return jnp.float64 if cfg.engine.dtype == "float64" else jnp.float32


def x64_scope(dtype_name: str):
    """Context in which a run of ``engine.dtype`` = ``dtype_name`` computes: float64 turns on
    JAX's 64-bit mode for the block only (``jax.enable_x64``, JAX >= 0.8), so the caller's
    process keeps its own setting; float32 changes nothing."""
    if dtype_name == "float64":
        return jax.enable_x64(True)
    return contextlib.nullcontext()


def layout(cfg) -> tuple[int, int]:
    """(draws per chain, chunk size B): the power of two <= engine.chunk_size (and >= 1024 unless
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


def trajectory_rows(cfg, chunk: int) -> int:
    """R, the rows of a chunk whose yearly trajectories the chunk program returns (part of its
    compiled shape)."""
    e = cfg.engine
    traj_draws = min(e.keep_trajectories // e.chains, e.n_paths // e.chains)
    return min(chunk, max(traj_draws * e.chains, PILOT_ROWS))


@dataclass(frozen=True)
class ChunkPlan:
    """Where a run's paths sit: ``n_chunks`` chunks of ``chunk`` paths over ``chains`` chains of
    ``per_chain`` draws; the first ``keep_draws`` draws of each chain are kept, the first
    ``traj_draws`` keep their yearly trajectories (at most ``rows`` rows per chunk call)."""

    n_paths: int
    chains: int
    per_chain: int
    chunk: int
    n_chunks: int
    keep_draws: int
    traj_draws: int
    rows: int

    @classmethod
    def of(cls, cfg) -> ChunkPlan:
        e = cfg.engine
        per_chain, chunk = layout(cfg)
        return cls(
            n_paths=e.n_paths,
            chains=e.chains,
            per_chain=per_chain,
            chunk=chunk,
            n_chunks=-(-e.n_paths // chunk),
            keep_draws=min(e.keep_paths // e.chains, per_chain),
            traj_draws=min(e.keep_trajectories // e.chains, per_chain),
            rows=trajectory_rows(cfg, chunk),
        )

    def offset(self, i: int) -> int:
        """Global index of chunk ``i``'s first row."""
        return i * self.chunk


def placer(devices):
    """``place(x)``: put a chunk's array on the devices, split along its first axis (paths)."""
    if len(devices) == 1:
        return lambda x: jax.device_put(x, devices[0])
    mesh = jax.sharding.Mesh(np.array(devices), ("paths",))
    shard = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("paths"))
    return lambda x: jax.device_put(x, shard)


@dataclass(frozen=True)
class ChunkFeed:
    """``feed(i)``: the inputs of chunk ``i`` (:class:`engine.pilot.ChunkInputs`), placed on the
    run's devices. ``uniforms`` (n_paths, n_uniforms) replaces the random draws when given (row
    g for path g)."""

    plan: ChunkPlan
    place: object
    dtype: object
    uniforms: np.ndarray | None = None

    def __call__(self, i: int, traj_sel=None) -> ChunkInputs:
        """Inputs of chunk ``i``; ``traj_sel`` overrides the trajectory rows (the pilot)."""
        p = self.plan
        g = p.offset(i) + np.arange(p.chunk)
        real = g < p.n_paths
        g = np.where(real, g, 0)
        chain, draw = g // p.per_chain, g % p.per_chain
        if traj_sel is None:
            sel = np.flatnonzero(real & (draw < p.traj_draws))[: p.rows]
        else:
            sel = np.asarray(traj_sel, np.int64)
        traj_rows = np.zeros(p.rows, np.int32)
        traj_rows[: len(sel)] = sel
        supplied = None if self.uniforms is None else self.place(self.uniforms[g])
        return ChunkInputs(
            self.place(chain.astype(np.uint32)),
            self.place(draw.astype(np.uint32)),
            self.place(real.astype(np.dtype(self.dtype))),
            jnp.asarray(traj_rows),
            supplied,
            chain,
            draw,
            real,
            sel,
        )


class ChunkOutput(NamedTuple):
    """What the chunk program returns for B paths: scalars ``{group: {var: (B, *entity)}}``,
    driver values (B, n_drivers), trajectories ``{group: {var: (R, years, *entity)}}`` of the
    selected rows, and the packed streaming statistics ``{block: chunk stats}``."""

    scalars: dict
    values: object
    trajectories: dict
    stats: dict


@dataclass(frozen=True)
class ChunkProgram:
    """The jitted chunk function of one model, and the layout of its statistics.

    ``run(root, chain, draw, mask, traj_rows, edges, supplied, success_prob)`` ->
    ``(scalars, values, trajectories, stats)`` (:class:`ChunkOutput`'s fields) for a chunk of B
    paths: chain, draw (B,) uint32; mask (B,) 1.0 for counted rows; traj_rows (R,) rows whose
    yearly values are returned; edges the histogram ranges; supplied (B, n_uniforms) uniforms or
    None; success_prob (S,).
    """

    run: object
    shapes: dict  # {group: {var: per-path shape}}
    layout: StatsLayout


@dataclass(frozen=True)
class BoundProgram:
    """The chunk program with this run's root key and success probabilities bound:
    ``(chain, draw, mask, traj_rows, edges, supplied) -> ChunkOutput`` (asynchronous)."""

    program: ChunkProgram
    root: object
    success_prob: object

    def __call__(self, chain, draw, mask, traj_rows, edges, supplied) -> ChunkOutput:
        run = self.program.run
        out = run(self.root, chain, draw, mask, traj_rows, edges, supplied, self.success_prob)
        return ChunkOutput(*out)


class Dispatched(NamedTuple):
    """A chunk in flight: its inputs, its (device) outputs and its tail candidates (or None)."""

    index: int
    inputs: ChunkInputs
    out: ChunkOutput
    tail_candidates: object


@dataclass(frozen=True)
class ChunkRunner:
    """The run's chunks after the pilot: :meth:`dispatch` starts one (and its tail candidates) on
    the devices asynchronously, :meth:`host_stats` brings its statistics to the host and
    :meth:`masked_stats` reruns it with only some rows counted (the non-finite search)."""

    run: BoundProgram
    feed: ChunkFeed
    edges: dict  # {group: {var: (lo, hi)}}: the pilot's histogram ranges (device arrays)
    edges_host: dict  # {block: (lo, hi)}: the same as flat float64 arrays
    tail_fn: object = None  # engine.tails.badness_fn, None when tails are off
    tail_sign: object = None  # (E,) +1 where high is bad, -1 where low is

    def dispatch(self, index: int) -> Dispatched:
        inputs = self.feed(index)
        out = self.run(*inputs.device_args, self.edges, inputs.supplied)
        cand = None
        if self.tail_fn is not None:
            cand = self.tail_fn(out.scalars, inputs.mask, self.tail_sign)
        return Dispatched(index, inputs, out, cand)

    def host_stats(self, packed: dict) -> dict:
        """A chunk's packed statistics -> ``{block: Stats}`` on the host."""
        return {b: from_chunk(p, *self.edges_host[b]) for b, p in packed.items()}

    def masked_stats(self, inputs: ChunkInputs, rows_mask: np.ndarray) -> dict:
        """``{group: {var: Stats}}`` of a chunk with only ``rows_mask`` (B,) rows counted
        (the same compiled program)."""
        mask = self.feed.place(rows_mask.astype(np.dtype(self.feed.dtype)))
        out = self.run(
            inputs.chain, inputs.draw, mask, inputs.traj_rows, self.edges, inputs.supplied
        )
        return self.run.program.layout.unflatten(self.host_stats(out.stats))


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
        jitted, shapes, stats_layout = _programs[key]
        log.debug("chunk program reused (same model structure in this process)")
    else:
        cols = DriverColumns.from_table(table, params)
        names = table.uniform_names
        shapes = _output_shapes(make_path_fn(params, cols, dtype), len(table.names), dtype)
        stats_layout = StatsLayout.of(shapes)

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
            stats = stats_layout.pack(tree_chunk_stats({**scalars, **yearly}, mask, edges, bins))
            traj = jax.tree_util.tree_map(lambda x: x[traj_rows], yearly)
            return scalars, values, traj, stats

        jitted = jax.jit(chunk_fn)
        _programs[key] = (jitted, shapes, stats_layout)
        while len(_programs) > PROGRAM_CACHE_SIZE:
            _programs.popitem(last=False)
    return ChunkProgram(run=partial(jitted, table, params), shapes=shapes, layout=stats_layout)


def _output_shapes(path_fn, n_drivers, dtype) -> dict:
    """``{group: {var: per-path shape}}`` of the model's outputs, by tracing one path."""
    scal, yearly = jax.eval_shape(path_fn, jax.ShapeDtypeStruct((1, n_drivers), dtype))
    return {g: {v: s.shape[1:] for v, s in vs.items()} for g, vs in {**scal, **yearly}.items()}
