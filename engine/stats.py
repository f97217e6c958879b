"""Mergeable streaming statistics: count, mean, M2 (variance), min, max and a histogram.

The per-chunk part runs inside ``jit`` (``chunk_stats``); chunks merge on the host in float64 with
Chan's parallel formula (``merge``), so memory does not grow with the path count and the result
does not depend on the chunk layout beyond float rounding. Histogram edges are fixed per element
from a pilot sample of fixed global paths (``pilot_edges``, ``engine.pilot``); values outside go to an under- or overflow bin whose far end
is the running min / max, so quantiles stay bracketed.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np


@dataclass
class Stats:
    """Streaming statistics of one output leaf; arrays have the leaf's per-path shape ``s``.

    ``hist`` has shape ``s + (bins + 2,)``: [underflow, bins..., overflow].
    """

    n: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    min: np.ndarray
    max: np.ndarray
    hist: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    @property
    def variance(self) -> np.ndarray:
        return self.m2 / np.maximum(self.n - 1, 1)

    @property
    def sd(self) -> np.ndarray:
        return np.sqrt(self.variance)

    def finite(self) -> bool:
        """True when the sums are finite: a NaN or infinity in any path shows in mean and M2."""
        return bool(np.isfinite(self.mean).all() and np.isfinite(self.m2).all())

    def quantile(self, q: float) -> np.ndarray:
        """Quantile from the histogram, linear within a bin; error at most one bin width
        ``(hi - lo) / bins`` for values inside [lo, hi]."""
        bins = self.hist.shape[-1] - 2
        width = (self.hi - self.lo) / bins
        inner = self.lo[..., None] + width[..., None] * np.arange(bins + 1)
        left = np.concatenate([self.min[..., None], inner], axis=-1)
        right = np.concatenate([inner, self.max[..., None]], axis=-1)
        counts = self.hist.astype(np.float64)
        cum = np.cumsum(counts, axis=-1)
        target = q * cum[..., -1:]
        k = np.minimum((cum < target).sum(-1, keepdims=True), counts.shape[-1] - 1)
        before = np.take_along_axis(cum, k, -1) - np.take_along_axis(counts, k, -1)
        inside = np.take_along_axis(counts, k, -1)
        frac = np.where(inside > 0, (target - before) / np.maximum(inside, 1), 0.5)
        lo_edge = np.take_along_axis(left, k, -1)
        hi_edge = np.take_along_axis(right, k, -1)
        return (lo_edge + np.clip(frac, 0, 1) * (hi_edge - lo_edge))[..., 0]


def chunk_stats(x, mask, lo, hi, bins: int):
    """Statistics of one chunk of one leaf, inside jit.

    Rows with ``mask == 0`` (padding, or rows left out while searching for a bad path) must be
    copies of the first counted row: the engine gives them that row's driver values. The sums,
    extremes and histogram then run over all rows, unmasked (XLA:CPU reduces a plain array several
    times faster than a masked one), and the copies are taken out again exactly: counts and sums
    lose ``B - n`` times the first counted row, and a copy never changes a minimum or maximum.

    Args:
        x: (B, *s) values; mask: (B,) 1.0 for counted rows, 0.0 for copies. With no row counted
            the result is merge's identity (n 0, min +inf, max -inf, empty histogram).
        lo, hi: (*s,) histogram range; bins: static bin count.
    Returns:
        dict of arrays: n (), mean, m2, min, max (*s,), hist (*s, bins + 2) int32.
    """
    acc = jnp.float64 if x.dtype == jnp.float64 else jnp.float32
    xs = x.astype(acc)
    n = jnp.sum(mask.astype(acc))
    first = jnp.argmax(mask > 0)
    x_first = xs[first]  # (*s,)
    copies = x.shape[0] - n
    some = n > 0  # a chunk with nothing counted gives the identity of ``merge``
    mean = jnp.where(some, (jnp.sum(xs, axis=0) - copies * x_first) / jnp.maximum(n, 1), 0.0)
    m2 = jnp.sum((xs - mean) ** 2, axis=0) - copies * (x_first - mean) ** 2
    m2 = jnp.where(some, jnp.maximum(m2, 0.0), 0.0)  # rounding can take it below 0
    vmin = jnp.where(some, jnp.min(xs, axis=0), jnp.inf)
    vmax = jnp.where(some, jnp.max(xs, axis=0), -jnp.inf)
    if bins == 0:  # no histogram for this leaf: quantiles come from kept paths instead
        hist = jnp.zeros(x.shape[1:] + (2,), jnp.int32)
        return {"n": n, "mean": mean, "m2": m2, "min": vmin, "max": vmax, "hist": hist}
    width = (hi - lo) / bins
    k = jnp.clip(jnp.floor((xs - lo) / width).astype(jnp.int32) + 1, 0, bins + 1)
    n_elem = int(np.prod(x.shape[1:], dtype=np.int64))
    offset = jnp.arange(n_elem, dtype=jnp.int32) * (bins + 2)
    flat = k.reshape(x.shape[0], n_elem) + offset
    hist = jnp.zeros(n_elem * (bins + 2), jnp.int32).at[flat.reshape(-1)].add(1)
    hist = hist.at[flat[first]].add(-copies.astype(jnp.int32))
    hist = hist.reshape(x.shape[1:] + (bins + 2,))
    return {"n": n, "mean": mean, "m2": m2, "min": vmin, "max": vmax, "hist": hist}


def from_chunk(part: dict, lo: np.ndarray, hi: np.ndarray) -> Stats:
    """Host-side Stats (float64) from one chunk's ``chunk_stats`` output."""
    shape = np.shape(part["mean"])
    return Stats(
        n=np.full(shape, float(part["n"])),
        mean=np.asarray(part["mean"], np.float64),
        m2=np.asarray(part["m2"], np.float64),
        min=np.asarray(part["min"], np.float64),
        max=np.asarray(part["max"], np.float64),
        hist=np.asarray(part["hist"], np.int64),
        lo=np.asarray(lo, np.float64),
        hi=np.asarray(hi, np.float64),
    )


def merge_fields(a, b, xp=np) -> dict:
    """Chan et al.'s parallel merge of two sets of streaming fields (mappings with n, mean, m2,
    min, max, hist), with ``xp`` = numpy (the host, float64) or jax.numpy (on a device)."""
    n = a["n"] + b["n"]
    delta = b["mean"] - a["mean"]
    safe = xp.maximum(n, 1)
    return {
        "n": n,
        "mean": a["mean"] + delta * b["n"] / safe,
        "m2": a["m2"] + b["m2"] + delta**2 * a["n"] * b["n"] / safe,
        "min": xp.minimum(a["min"], b["min"]),
        "max": xp.maximum(a["max"], b["max"]),
        "hist": a["hist"] + b["hist"],
    }


def merge(a: Stats | None, b: Stats) -> Stats:
    """Merge two Stats with the same histogram edges (``merge_fields`` on the host)."""
    if a is None:
        return b
    return Stats(**merge_fields(vars(a), vars(b)), lo=a.lo, hi=a.hi)


def pilot_edges(sample: np.ndarray, widen: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Histogram range per element from a pilot sample of shape (n, *s).

    [q0.001, q0.999] of the pilot, widened by ``widen`` of its width on each side and snapped
    outwards to multiples of 2**(floor(log2(width)) - 6); constant elements get a tiny positive
    width.
    """
    sample = np.asarray(sample, np.float64)
    lo, hi = np.quantile(sample, [0.001, 0.999], axis=0)
    span = hi - lo
    lo, hi = lo - widen * span, hi + widen * span
    tiny = np.maximum(np.abs(lo) * 1e-6, 1e-9)
    hi = np.where(hi - lo < tiny, lo + tiny, hi)
    # snap outwards to a grid of 1/64 of the span's power of two: pilot values that differ by
    # float rounding (another chunk size or device count) give the same edges
    with np.errstate(divide="ignore"):
        step = np.exp2(np.floor(np.log2(hi - lo)) - 6)
    return np.floor(lo / step) * step, np.ceil(hi / step) * step


NO_HISTOGRAM_GROUPS = ("domain_yearly",)
"""Groups streamed without histograms: 25 domains x 4 variables x years is over half of all
cells, and the histogram scatter-add is half the cost of a chunk on CPU. Their quantiles come
from the kept trajectories (``summary.csv`` says so in ``quantiles_from``)."""


def has_histogram(stats: Stats) -> bool:
    return stats.hist.shape[-1] > 2


_leaf_stats = jax.jit(chunk_stats, static_argnames="bins")
"""``chunk_stats`` as a nested jit: traced and lowered once per distinct leaf shape instead of
once per leaf (~60), which cuts a run's trace + lowering time by ~0.5 s; XLA inlines it, so the
compiled chunk is as fast."""


def tree_chunk_stats(tree: dict, mask, edges: dict, bins: int):
    """``chunk_stats`` over every leaf of ``{group: {var: array}}``; ``edges`` matches it with
    (lo, hi) pairs. Groups in NO_HISTOGRAM_GROUPS get no histogram."""
    return {
        group: {
            var: _leaf_stats(
                x,
                mask,
                edges[group][var][0],
                edges[group][var][1],
                bins=0 if group in NO_HISTOGRAM_GROUPS else bins,
            )
            for var, x in vars_.items()
        }
        for group, vars_ in tree.items()
    }


HIST, PLAIN = "hist", "plain"
"""The two flat blocks a chunk's statistics travel to the host in: elements with histograms, and
elements of NO_HISTOGRAM_GROUPS."""
FIELDS = ("n", "mean", "m2", "min", "max", "lo", "hi")


@dataclass(frozen=True)
class StatsLayout:
    """Where each output leaf's elements sit in the flat blocks HIST and PLAIN.

    The statistics are computed per leaf on the device (XLA:CPU runs the ~60 small reductions
    and histogram scatters concurrently), then packed into two flat blocks, so the host converts,
    checks and merges two Stats per chunk instead of ~60. ``leaves`` holds
    (group, var, shape, block, offset) in output order.
    """

    leaves: tuple
    sizes: dict

    @classmethod
    def of(cls, shapes: dict) -> StatsLayout:
        """Layout from ``{group: {var: per-path shape}}``."""
        leaves, sizes = [], {HIST: 0, PLAIN: 0}
        for group, vars_ in shapes.items():
            block = PLAIN if group in NO_HISTOGRAM_GROUPS else HIST
            for var, shape in vars_.items():
                shape = tuple(int(d) for d in shape)
                leaves.append((group, var, shape, block, sizes[block]))
                sizes[block] += int(np.prod(shape, dtype=np.int64))
        return cls(tuple(leaves), {b: n for b, n in sizes.items() if n})

    def _in(self, block: str, tree: dict) -> list:
        return [tree[g][v] for g, v, _, b, _ in self.leaves if b == block]

    def pack(self, parts: dict) -> dict:
        """Per-leaf ``chunk_stats`` dicts -> ``{block: dict over flat elements}`` (inside jit)."""
        out = {}
        for b in self.sizes:
            leaves = self._in(b, parts)
            d = {f: jnp.concatenate([jnp.ravel(p[f]) for p in leaves]) for f in FIELDS[1:5]}
            d["n"] = leaves[0]["n"]
            d["hist"] = jnp.concatenate(
                [p["hist"].reshape(-1, p["hist"].shape[-1]) for p in leaves]
            )
            out[b] = d
        return out

    def flatten_edges(self, edges: dict) -> dict:
        """Per-leaf ``(lo, hi)`` pairs -> ``{block: (lo, hi)}`` flat float64 arrays."""
        return {
            b: tuple(
                np.concatenate([np.ravel(np.asarray(p[k], np.float64)) for p in self._in(b, edges)])
                for k in (0, 1)
            )
            for b in self.sizes
        }

    def unflatten(self, blocks: dict) -> dict:
        """``{block: Stats}`` over flat elements -> ``{group: {var: Stats}}`` with leaf shapes."""
        out: dict = {}
        for group, var, shape, block, offset in self.leaves:
            st = blocks[block]
            cut = slice(offset, offset + int(np.prod(shape, dtype=np.int64)))
            fields = {f: getattr(st, f)[cut].reshape(shape) for f in FIELDS}
            hist = st.hist[cut].reshape(shape + st.hist.shape[-1:])
            out.setdefault(group, {})[var] = Stats(hist=hist, **fields)
        return out

    def flatten_stats(self, tree: dict) -> dict:
        """Inverse of :meth:`unflatten`."""
        out = {}
        for b in self.sizes:
            sts = self._in(b, tree)
            fields = {f: np.concatenate([np.ravel(getattr(st, f)) for st in sts]) for f in FIELDS}
            hist = np.concatenate([st.hist.reshape(-1, st.hist.shape[-1]) for st in sts])
            out[b] = Stats(hist=hist, **fields)
        return out
