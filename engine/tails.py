"""Exact tails from every path: the worst (and optionally best) k values of chosen per-path
scalars, with their global path indices, over all paths of a run.

Per chunk, a small jitted function lays out the badness ``y`` of each element (the value where
high is bad, minus the value where low is bad); the host inserts the values at least as bad as
the current k-th worst into buffers holding the k worst values seen so far (TailAccumulator). Buffers are ordered by badness,
then by global path index, so a merge does not depend on the order in which chunks, devices,
processes or a resumed run deliver them: the buffers are the k worst paths of the whole run.

k = ceil(alpha * n_paths) + margin, alpha = min(``engine.tail_alpha``, ``engine.tail_max_paths`` /
n_paths) (0.01 up to 1e6 paths, 0.001 at 1e7 by default): VaR and ES at any tail probability
<= alpha and exceedance probabilities up to about alpha come from all n_paths exactly
(reports.tails); the margin, 16 + 4 sqrt(alpha n), covers the order statistics the quantile
MCSE reads (one standard deviation of the rank around alpha n).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

EMPTY = np.iinfo(np.uint64).max
_HI32 = np.uint64(32)


def tail_size(alpha: float, n_paths: int) -> int:
    """Buffer length k for tail probability ``alpha`` over ``n_paths`` paths (0: no tails)."""
    if alpha <= 0:
        return 0
    m = alpha * n_paths
    return int(min(n_paths, math.ceil(m) + 16 + math.ceil(4 * math.sqrt(m))))


@dataclass(frozen=True)
class TailLayout:
    """Which outputs have tails, and where their elements sit in the flat ``(E, k)`` buffers.

    ``leaves``: ``(group, var, shape, side, offset)`` per output, ``side`` "low" or "high" (the bad
    side, ``engine.results.bad_side``); ``k`` the buffer length, ``alpha`` the tail probability
    it covers.
    """

    leaves: tuple
    n_elem: int
    k: int
    alpha: float
    best: bool

    @classmethod
    def of(cls, shapes: dict, names, alpha: float, n_paths: int, best: bool, max_paths: int):
        """Layout from ``{group: {var: per-path shape}}`` and names (``group`` or ``group/var``).
        An unknown name raises ConfigError naming it."""
        from engine.config import ConfigError
        from engine.results import bad_side

        wanted = []
        for name in names:
            group, _, var = name.partition("/")
            if group not in shapes or (var and var not in shapes[group]):
                valid = sorted(f"{g}/{v}" for g in shapes for v in shapes[g] if "_yearly" not in g)
                raise ConfigError(f"engine.tail_outputs: unknown output {name!r}; valid: {valid}")
            for v in [var] if var else list(shapes[group]):
                if (group, v) not in wanted:
                    wanted.append((group, v))
        alpha = min(alpha, max_paths / n_paths)
        k = tail_size(alpha, n_paths)
        leaves, off = [], 0
        for group, var in wanted if k else []:
            shape = tuple(int(d) for d in shapes[group][var])
            leaves.append((group, var, shape, bad_side(var), off))
            off += int(np.prod(shape, dtype=np.int64))
        return cls(tuple(leaves), off, k, alpha, best)

    @property
    def sign(self) -> np.ndarray:
        """(E,) +1 where high values are bad, -1 where low values are: badness = sign * value."""
        out = np.ones(self.n_elem)
        for _, _, shape, side, off in self.leaves:
            if side == "low":
                out[off : off + int(np.prod(shape, dtype=np.int64))] = -1.0
        return out

    def empty(self) -> TailBuffers:
        def pair():
            return np.full((self.n_elem, self.k), np.nan), np.full((self.n_elem, self.k), -1)

        wv, wi = pair()
        bv, bi = pair() if self.best else (None, None)
        return TailBuffers(wv, wi, bv, bi)

    def unflatten(self, bufs: TailBuffers) -> dict:
        """``{group: {var: {"worst": (values, index), "best": ... or None, "side": side}}}``,
        arrays shaped ``(*entity, k)``, sorted worst (or best) first."""
        bufs = bufs.sorted(self.sign)
        out: dict = {}
        for group, var, shape, side, off in self.leaves:
            cut = slice(off, off + int(np.prod(shape, dtype=np.int64)))

            def part(v, i, cut=cut, shape=shape):
                if v is None:
                    return None
                return v[cut].reshape(shape + (-1,)), i[cut].reshape(shape + (-1,))

            out.setdefault(group, {})[var] = {
                "worst": part(bufs.worst_value, bufs.worst_index),
                "best": part(bufs.best_value, bufs.best_index),
                "side": side,
            }
        return out


@dataclass
class TailBuffers:
    """Flat tail buffers: values (E, k) float64 in the outputs' units and global path indices
    (E, k) int64 (-1: empty). ``best_*`` are None unless best values are kept."""

    worst_value: np.ndarray
    worst_index: np.ndarray
    best_value: np.ndarray | None = None
    best_index: np.ndarray | None = None

    def merge(self, other: TailBuffers, sign: np.ndarray, exact32: bool) -> TailBuffers:
        """The k worst (best) of both; ``sign`` (E,) as :attr:`TailLayout.sign`."""
        k = self.worst_value.shape[1]
        wv, wi = merge_top(
            self.worst_value,
            self.worst_index,
            other.worst_value,
            other.worst_index,
            sign,
            k,
            exact32,
        )
        if self.best_value is None:
            return TailBuffers(wv, wi)
        bv, bi = merge_top(
            self.best_value, self.best_index, other.best_value, other.best_index, -sign, k, exact32
        )
        return TailBuffers(wv, wi, bv, bi)

    def sorted(self, sign: np.ndarray) -> TailBuffers:
        """Each row ordered worst (best) first, ties by path index; empty slots last."""
        wv, wi = _sort_rows(self.worst_value, self.worst_index, sign)
        if self.best_value is None:
            return TailBuffers(wv, wi)
        bv, bi = _sort_rows(self.best_value, self.best_index, -sign)
        return TailBuffers(wv, wi, bv, bi)


def _keys32(value, index, sign) -> np.ndarray:
    """uint64 sort keys: smaller = worse (badness descending), ties by path index ascending.
    Exact for values representable in float32."""
    y = (sign[:, None] * value).astype(np.float32)
    bits = y.view(np.uint32)
    order = np.where(bits & np.uint32(0x80000000), ~bits, bits | np.uint32(0x80000000))
    key = ((~order).astype(np.uint64) << _HI32) | index.astype(np.uint64)
    return np.where(index < 0, EMPTY, key)


def _from_keys32(key, sign) -> tuple[np.ndarray, np.ndarray]:
    empty = key == EMPTY
    index = np.where(empty, -1, (key & np.uint64(0xFFFFFFFF)).astype(np.int64))
    order = ~(key >> _HI32).astype(np.uint32)
    bits = np.where(order & np.uint32(0x80000000), order & np.uint32(0x7FFFFFFF), ~order)
    y = bits.astype(np.uint32).view(np.float32).astype(np.float64)
    return np.where(empty, np.nan, sign[:, None] * y), index


def merge_top(va, ia, vb, ib, sign, k: int, exact32: bool) -> tuple[np.ndarray, np.ndarray]:
    """The k worst (largest ``sign * value``, ties by smaller index) per row of two buffers.

    ``exact32``: values are float32 numbers; the merge is then a partition of one uint64 key
    per value (badness bits and path index), O(k) per row. Otherwise a lexsort.
    """
    if exact32:
        key = np.concatenate([_keys32(va, ia, sign), _keys32(vb, ib, sign)], axis=1)
        if key.shape[1] > k:
            key = np.partition(key, k - 1, axis=1)[:, :k]
        return _from_keys32(key, sign)
    v, i = np.concatenate([va, vb], axis=1), np.concatenate([ia, ib], axis=1)
    bad = np.where(i < 0, -np.inf, sign[:, None] * v)
    order = np.lexsort((np.where(i < 0, np.iinfo(np.int64).max, i), -bad), axis=-1)[:, :k]
    return np.take_along_axis(v, order, 1), np.take_along_axis(i, order, 1)


def _sort_rows(value, index, sign):
    bad = np.where(index < 0, -np.inf, sign[:, None] * value)
    order = np.lexsort((np.where(index < 0, np.iinfo(np.int64).max, index), -bad), axis=-1)
    return np.take_along_axis(value, order, 1), np.take_along_axis(index, order, 1)


@lru_cache(maxsize=8)
def badness_fn(select: tuple, best: bool):
    """Jitted ``(scalars, mask, sign) -> (badness[, best-side badness])``, each (E, B) in the
    chunk's dtype: ``sign * value`` per element of the outputs ``select`` (``((group, var),
    ...)``), -inf on rows not counted. A gather and a transpose; the selection is on the host
    (:class:`TailAccumulator`): XLA:CPU's ``lax.top_k`` took 180 ms (k 2048) to 460 ms (k 16384)
    per 16384-path chunk of 81 elements, longer than the chunk itself."""
    import jax
    import jax.numpy as jnp

    def fn(scalars, mask, sign):
        b = mask.shape[0]
        x = jnp.concatenate([scalars[g][v].reshape(b, -1) for g, v in select], axis=1).T
        counted = mask[None, :] > 0
        out = [jnp.where(counted, sign[:, None] * x, -jnp.inf)]
        if best:
            out.append(jnp.where(counted, -sign[:, None] * x, -jnp.inf))
        return tuple(out)

    return jax.jit(fn)


def _bad_keys(bad32: np.ndarray, index: np.ndarray) -> np.ndarray:
    """uint64 keys of float32 badness (ascending key = descending badness), ties by index."""
    bits = bad32.view(np.uint32)
    order = np.where(bits & np.uint32(0x80000000), ~bits, bits | np.uint32(0x80000000))
    return ((~order).astype(np.uint64) << _HI32) | index.astype(np.uint64)


def _key_badness(key: np.ndarray) -> np.ndarray:
    order = ~(key >> _HI32).astype(np.uint32)
    bits = np.where(order & np.uint32(0x80000000), order & np.uint32(0x7FFFFFFF), ~order)
    return bits.astype(np.uint32).view(np.float32).astype(np.float64)


class TailAccumulator:
    """The k worst paths so far of each of E elements, on one side (``sign``), fed chunk by
    chunk with badness arrays from :func:`badness_fn`.

    Only values at least as bad as the current k-th worst are looked at (after the first k paths,
    about ``k * B / g`` per chunk at global index g); each row's candidates are inserted into its
    sorted buffer. float32 runs keep one uint64 key per value (badness bits, then path index), so
    an insertion is a ``searchsorted``; float64 runs merge with a lexsort. The result does not
    depend on the order chunks arrive.
    """

    def __init__(self, sign: np.ndarray, values: np.ndarray, index: np.ndarray, exact32: bool):
        self.sign, self.exact32, self.k = sign, exact32, values.shape[1]
        values, index = _sort_rows(values, index, sign)
        if exact32:
            self.keys = _keys32(values, index, sign)
        else:
            self.values, self.index = values, index

    def threshold(self) -> np.ndarray:
        """(E,) badness of the k-th worst value held, -inf where the buffer is not full."""
        if self.exact32:
            last = self.keys[:, -1]
            return np.where(last == EMPTY, -np.inf, _key_badness(last))
        last = self.index[:, -1]
        return np.where(last < 0, -np.inf, self.sign * self.values[:, -1])

    def add(self, bad: np.ndarray, offset: int) -> None:
        """Merge one chunk: ``bad`` (E, B) badness (-inf: not counted), row j is global path
        ``offset + j``."""
        thr = self.threshold()
        hit = (bad >= thr[:, None]) & (bad > -np.inf)
        rows, cols = np.nonzero(hit)
        if not rows.size:
            return
        bounds = np.r_[0, np.cumsum(np.bincount(rows, minlength=bad.shape[0]))]
        for r in np.flatnonzero(np.diff(bounds)):
            c = cols[bounds[r] : bounds[r + 1]]
            y, g = bad[r, c], offset + c.astype(np.int64)
            if self.exact32:
                self._insert_keys(r, np.sort(_bad_keys(y.astype(np.float32), g)))
            else:
                v = np.concatenate([self.values[r], self.sign[r] * y.astype(np.float64)])
                i = np.concatenate([self.index[r], g])
                vv, ii = _sort_rows(v[None], i[None], self.sign[r : r + 1])
                self.values[r], self.index[r] = vv[0, : self.k], ii[0, : self.k]

    def _insert_keys(self, r: int, new: np.ndarray) -> None:
        row = self.keys[r]
        new = new[new < row[-1]]
        if not new.size:
            return
        if new.size * 8 < self.k:
            self.keys[r] = np.insert(row, np.searchsorted(row, new), new)[: self.k]
        else:
            self.keys[r] = np.sort(np.concatenate([row, new]))[: self.k]

    def buffers(self) -> tuple[np.ndarray, np.ndarray]:
        """(values (E, k) float64, path index (E, k) int64), worst first, -1 / NaN empty."""
        if self.exact32:
            return _from_keys32(self.keys, self.sign)
        return self.values.copy(), self.index.copy()


class TailState:
    """The running tails of a simulation: worst (and best) :class:`TailAccumulator`."""

    def __init__(self, layout: TailLayout, start: TailBuffers, exact32: bool):
        sign = layout.sign
        self.worst = TailAccumulator(sign, start.worst_value, start.worst_index, exact32)
        self.best = None
        if layout.best:
            self.best = TailAccumulator(-sign, start.best_value, start.best_index, exact32)

    def add(self, out, offset: int) -> None:
        """Merge one chunk's :func:`badness_fn` output (device arrays)."""
        self.worst.add(np.asarray(out[0]), offset)
        if self.best is not None:
            self.best.add(np.asarray(out[1]), offset)

    def buffers(self) -> TailBuffers:
        wv, wi = self.worst.buffers()
        if self.best is None:
            return TailBuffers(wv, wi)
        return TailBuffers(wv, wi, *self.best.buffers())


def layout_to_json(layout: TailLayout) -> str:
    import json

    leaves = [[g, v, list(s), side, off] for g, v, s, side, off in layout.leaves]
    return json.dumps([leaves, layout.n_elem, layout.k, layout.alpha, layout.best])


def layout_from_json(text: str) -> TailLayout:
    import json

    leaves, n_elem, k, alpha, best = json.loads(text)
    leaves = tuple((g, v, tuple(s), side, off) for g, v, s, side, off in leaves)
    return TailLayout(leaves, n_elem, k, alpha, best)
