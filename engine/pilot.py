"""The inputs of one chunk call, and the pilot that sets the histogram edges.

The pilot runs the run's own compiled chunk program (no extra compile) on global paths
``0 .. min(n_paths, engine.pilot_paths) - 1`` with placeholder edges; the edges are quantiles of
those values (``engine.stats.pilot_edges``). A fixed set of global paths, not "the first chunk",
so the edges, and every histogram quantile, are the same at any chunk size, device count or
process split.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from engine.stats import pilot_edges

PILOT_YEARLY = 4096  # yearly histogram edges from the first min(this, pilot_paths) global paths


class ChunkInputs(NamedTuple):
    """Device inputs of one chunk call and the host arrays that describe it.

    chain, draw (B,) uint32; mask (B,) 1.0 for counted rows; traj_rows (R,) rows whose
    trajectories are returned; supplied (B, n_uniforms) or None. Host: chain_h, draw_h (B,) of the
    global path index (0 on padding), real (B,) bool, sel the trajectory rows in use.
    """

    chain: object
    draw: object
    mask: object
    traj_rows: object
    supplied: object
    chain_h: np.ndarray
    draw_h: np.ndarray
    real: np.ndarray
    sel: np.ndarray

    @property
    def device_args(self) -> tuple:
        return self.chain, self.draw, self.mask, self.traj_rows


@dataclass
class Pilot:
    """What the pilot returns: histogram edges ``{group: {var: (lo, hi)}}`` (device arrays of
    the run's dtype), one call's scalars and trajectories (templates for shapes and dtypes), and
    the time of the first call (trace, compile or load, and run)."""

    edges: dict
    scalars: dict
    trajectories: dict
    first_call_s: float


def run_pilot(run, chunk_inputs, shapes, dtype, n_pilot: int, chunk: int, rows: int) -> Pilot:
    """Histogram edges from the values of global paths ``0 .. n_pilot - 1`` (yearly outputs: the
    first ``min(n_pilot, PILOT_YEARLY)``), computed by the run's own compiled chunk program with
    placeholder edges. The set of paths never depends on the chunk size, the device count or the
    process split, so neither do the edges (nor the histogram quantiles, beyond float rounding).

    ``run(chain, draw, mask, traj_rows, edges, supplied)`` is the chunk program;
    ``chunk_inputs(i, traj_sel)`` builds chunk ``i``'s inputs with the given trajectory rows (at
    most ``rows``).
    """
    t0 = time.perf_counter()
    first_call = None
    dummy = jax.tree_util.tree_map(
        lambda s: (jnp.zeros(s, dtype), jnp.ones(s, dtype)),
        shapes,
        is_leaf=lambda z: isinstance(z, tuple),
    )
    n_yearly = min(n_pilot, PILOT_YEARLY)
    scal_parts, traj_parts, templates = [], [], None
    for i in range(-(-n_pilot // chunk)):
        lo = i * chunk
        need = np.arange(lo, min(lo + chunk, n_yearly)) - lo
        batches = [need[j : j + rows] for j in range(0, len(need), rows)] or [need]
        for bi, sel in enumerate(batches):
            inp = chunk_inputs(i, traj_sel=sel)
            scal, _, traj, _ = jax.block_until_ready(run(*inp.device_args, dummy, inp.supplied))
            if first_call is None:
                first_call = time.perf_counter() - t0
                templates = (scal, traj)
            if bi == 0:
                take = min(chunk, n_pilot - lo)
                scal_parts.append(_head(scal, take))
            traj_parts.append(_head(traj, len(sel)))

    def cat(parts):
        return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *parts)

    sample = {**cat(scal_parts), **cat(traj_parts)}
    edges = jax.tree_util.tree_map(
        lambda x: tuple(jnp.asarray(a, dtype) for a in pilot_edges(x)), sample
    )
    return Pilot(edges, templates[0], templates[1], first_call)


def _head(tree, n: int):
    """The first ``n`` rows of every leaf, on the host."""
    return jax.tree_util.tree_map(lambda x: np.asarray(x)[:n], tree)
