"""The project's randomness convention (used by every module that draws random numbers).

* ``root_key(seed)`` -> a typed JAX key (``jax.random.key``; works on jax 0.11 and 0.12). Use
  ``jax.random.key_data`` if raw uint32 words are needed.
* The engine numbers paths by chain and draw: path (chain ``c``, draw ``d``) gets
  ``fold_in(fold_in(root, c), d)`` (``chain_draw_uniforms``), so chains never share keys. Because
  the key depends only on the root and the path's global position, results for a path never
  depend on batch size, on how paths are split across batches/devices/processes, or on how many
  paths are generated in total.
* Driver ``name`` on a path gets ``fold_in(path_key, stable_id(name))`` where ``stable_id`` is the
  CRC32 of the UTF-8 name (31 bits). Adding, removing or reordering drivers never changes another
  driver's numbers.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def root_key(seed: int):
    """Typed root key for ``seed`` (a non-negative python int). Shape ``()``."""
    return jax.random.key(int(seed))


def stable_id(name: str) -> int:
    """Stable 31-bit integer id of a driver name: ``zlib.crc32(name.encode()) & 0x7FFFFFFF``."""
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF


def bits_to_open_uniform(bits):
    """Map random bits (uint32 words, last axis) to uniforms strictly inside (0, 1).

    float32: the top 23 bits of the first word, ``(k + 0.5) * 2**-23`` (exact, in
    [2**-24, 1 - 2**-24]); float64 (x64 on): 52 bits from both words, ``(k + 0.5) * 2**-52``.
    """
    if jax.config.jax_enable_x64:
        hi = (bits[..., 0] >> 6).astype(jnp.uint64)  # 26 bits
        lo = (bits[..., 1] >> 6).astype(jnp.uint64)  # 26 bits
        k = (hi << 26) | lo
        return (k.astype(jnp.float64) + 0.5) * 2.0**-52
    k = bits[..., 0] >> 9
    return (k.astype(jnp.float32) + 0.5) * jnp.float32(2.0**-23)


_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def threefry2x32(k1, k2, x1, x2):
    """The Threefry-2x32 hash (20 rounds), as plain ``uint32`` array arithmetic.

    Bit-identical to JAX's own; written out because on CPU JAX lowers it as a rolled 5-step loop
    that XLA cannot fuse with anything (7x slower here for a chunk of driver uniforms).
    All arguments broadcast; returns the two output words.
    """
    ks = (k1, k2, k1 ^ k2 ^ np.uint32(0x1BD11BDA))
    x1, x2 = x1 + ks[0], x2 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x1 = x1 + x2
            x2 = x1 ^ ((x2 << np.uint32(r)) | (x2 >> np.uint32(32 - r)))
        x1 = x1 + ks[(i + 1) % 3]
        x2 = x2 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x1, x2


def fold_in_words(k1, k2, data):
    """``jax.random.fold_in`` on raw key words: ``(k1, k2)`` uint32 arrays, ``data`` uint32.
    Returns the folded key's two words (broadcast shape)."""
    data = jnp.asarray(data, jnp.uint32)
    return threefry2x32(k1, k2, jnp.zeros_like(data), data)


def driver_uniforms(path_key, names: Sequence[str]):
    """Independent uniforms in the open interval (0, 1), one per driver name.

    ``path_key``: a typed key of shape ``batch`` (``()`` for one path). Returns float array of
    shape ``batch + (len(names),)``; column ``j`` depends only on the path key and ``names[j]``.
    The uniform is read straight from the bits of the driver's key ``fold_in(path_key,
    stable_id(name))`` (itself a threefry hash): one hash per driver rather than two, which
    halves the cost of random numbers on CPU.
    """
    words = jax.random.key_data(path_key)
    return uniforms_from_words(words[..., 0], words[..., 1], names)


def uniforms_from_words(k1, k2, names: Sequence[str]):
    """:func:`driver_uniforms` from a path key's raw words ``k1, k2`` (uint32, shape ``batch``)."""
    ids = jnp.asarray([stable_id(n) for n in names], dtype=jnp.uint32)
    o1, o2 = fold_in_words(k1[..., None], k2[..., None], ids)
    return bits_to_open_uniform(jnp.stack([o1, o2], axis=-1))


def chain_draw_uniforms(root, chain, draw, names: Sequence[str]):
    """Driver uniforms of paths ``fold_in(fold_in(root, chain), draw)``: shape ``chain.shape +
    (len(names),)``; the engine's convention for path keys (see ``engine.run``)."""
    rk = jax.random.key_data(root)
    c1, c2 = fold_in_words(rk[0], rk[1], chain)
    p1, p2 = fold_in_words(c1, c2, draw)
    return uniforms_from_words(p1, p2, names)
