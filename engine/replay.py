"""Tail replay: re-simulate chosen global paths with their full yearly trajectories and drivers.

A path's random numbers are a function of its global index only (``engine.run``), so any path of
a run, e.g. the worst of the exact tail buffers, can be simulated again after the run at any
n_paths. The replay uses the run's own compiled chunk program (same chunk size, trajectory rows
and device layout) and puts each path in the row it had in the run (``g % chunk``), so a
replayed path equals the first pass bit for bit; paths sharing a row go to later calls. A run
fed external uniforms (``simulate(cfg, uniforms=...)``, e.g. a Saltelli design) cannot be
replayed: its paths' inputs are not a function of their index.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from distributions.keys import root_key


@dataclass
class Replay:
    """Replayed paths, in the order asked for.

    index: (n,) global path indices; chain, draw: (n,) their chain and draw;
    scalars: group -> var -> (n, *entity); drivers: (n, n_drivers) (columns ``driver_names``);
    trajectories: group -> var -> (n, years, *entity).
    """

    index: np.ndarray
    chain: np.ndarray
    draw: np.ndarray
    scalars: dict
    drivers: np.ndarray
    driver_names: tuple
    trajectories: dict


def replay_paths(cfg, table, params, indices) -> Replay:
    """Re-simulate the global paths ``indices`` of the run configured by ``cfg``.

    Raises ValueError naming the first index outside ``0 .. n_paths - 1``.
    """
    from engine.chunks import x64_scope

    e = cfg.engine
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    bad = idx[(idx < 0) | (idx >= e.n_paths)]
    if bad.size:
        raise ValueError(f"replay: path index {int(bad[0])} is outside 0..{e.n_paths - 1}")
    with x64_scope(e.dtype):  # float64: JAX's 64-bit mode for this call only
        return _replay(cfg, table, params, idx)


def _replay(cfg, table, params, idx: np.ndarray) -> Replay:
    from engine.chunks import chunk_program, layout, placer, run_dtype, trajectory_rows
    from engine.run import mesh_devices

    e = cfg.engine
    dtype = run_dtype(cfg)
    per_chain, chunk = layout(cfg)
    rows = trajectory_rows(cfg, chunk)
    program = chunk_program(table, params, dtype, e.histogram_bins)
    devices = mesh_devices(cfg, chunk)
    place = placer(devices)

    edges = jax.tree_util.tree_map(
        lambda s: (jnp.zeros(s, dtype), jnp.ones(s, dtype)),
        program.shapes,
        is_leaf=lambda z: isinstance(z, tuple),
    )
    success_prob = jnp.asarray(params.success_prob, dtype)
    root = root_key(e.seed)
    unique = np.unique(idx)
    pos = unique % chunk
    # calls: each takes at most one path per row and at most ``rows`` paths
    order = np.lexsort((unique, pos))
    rank = np.zeros(len(unique), np.int64)
    same = np.r_[False, pos[order][1:] == pos[order][:-1]]
    run_start = np.maximum.accumulate(np.where(~same, np.arange(len(order)), 0))
    rank[order] = np.arange(len(order)) - run_start
    found: dict = {}
    for r in range(int(rank.max()) + 1 if len(unique) else 0):
        members = unique[rank == r]
        for start in range(0, len(members), rows):
            batch = members[start : start + rows]
            p = batch % chunk
            g = np.zeros(chunk, np.int64)
            g[p] = batch
            mask = np.zeros(chunk, np.dtype(dtype))
            mask[p] = 1
            traj_rows = np.zeros(rows, np.int32)
            traj_rows[: len(p)] = np.sort(p)
            out = program.run(
                root,
                place((g // per_chain).astype(np.uint32)),
                place((g % per_chain).astype(np.uint32)),
                place(mask),
                jnp.asarray(traj_rows),
                edges,
                None,
                success_prob,
            )
            scal, values, traj, _ = jax.device_get(out)
            sorted_p = np.sort(p)
            for j, gi in enumerate(g[sorted_p]):
                row = sorted_p[j]
                found[int(gi)] = (
                    jax.tree_util.tree_map(lambda x, row=row: np.asarray(x)[row], scal),
                    np.asarray(values)[row],
                    jax.tree_util.tree_map(lambda x, j=j: np.asarray(x)[j], traj),
                )
    picked = [found[int(i)] for i in idx]

    def stack(k):
        if not picked:
            return {}
        return jax.tree_util.tree_map(lambda *xs: np.stack(xs), *[p[k] for p in picked])

    drivers = np.stack([p[1] for p in picked]) if picked else np.zeros((0, table.n_drivers))
    return Replay(
        index=idx,
        chain=idx // per_chain,
        draw=idx % per_chain,
        scalars=stack(0),
        drivers=drivers,
        driver_names=tuple(table.names),
        trajectories=stack(2),
    )
