"""The project's randomness convention (used by every module that draws random numbers).

* ``root_key(seed)`` -> a typed JAX key (``jax.random.key``; works on jax 0.11 and 0.12). Use
  ``jax.random.key_data`` if raw uint32 words are needed.
* Path ``i`` (global index over the whole run) gets ``fold_in(root, i)``. Because the key depends
  only on the root and the global index, results for a path never depend on batch size, on how
  paths are split across batches/devices, or on how many paths are generated in total.
* Driver ``name`` on a path gets ``fold_in(path_key, stable_id(name))`` where ``stable_id`` is the
  CRC32 of the UTF-8 name (31 bits). Adding, removing or reordering drivers never changes another
  driver's numbers.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import jax
import jax.numpy as jnp


def root_key(seed: int):
    """Typed root key for ``seed`` (a non-negative python int). Shape ``()``."""
    return jax.random.key(int(seed))


def path_keys(root, start: int, count: int):
    """Keys of global paths ``start .. start + count - 1``: shape ``(count,)``.

    ``path_keys(root, s, n)[j]`` is ``fold_in(root, s + j)``, identical whatever ``s``/``n``.
    """
    idx = jnp.asarray(start, dtype=jnp.uint32) + jnp.arange(count, dtype=jnp.uint32)
    return jax.vmap(lambda i: jax.random.fold_in(root, i))(idx)


def stable_id(name: str) -> int:
    """Stable 31-bit integer id of a driver name: ``zlib.crc32(name.encode()) & 0x7FFFFFFF``."""
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF


def driver_key(path_key, name: str):
    """Key for driver ``name`` on one path: ``fold_in(path_key, stable_id(name))``."""
    return jax.random.fold_in(path_key, stable_id(name))


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


def driver_uniforms(path_key, names: Sequence[str]):
    """Independent uniforms in the open interval (0, 1), one per driver name.

    ``path_key``: a key of shape ``batch`` (``()`` for one path, ``(n,)`` from :func:`path_keys`).
    Returns float array of shape ``batch + (len(names),)``; column ``j`` depends only on the path
    key and ``names[j]``. The uniform is read straight from the bits of the driver's key
    (``driver_key(path_key, name)``, itself a threefry hash): one hash per driver rather than
    two, which halves the cost of random numbers on CPU.
    """
    ids = jnp.asarray([stable_id(n) for n in names], dtype=jnp.uint32)

    def one(k):
        keys = jax.vmap(lambda i: jax.random.fold_in(k, i))(ids)
        return bits_to_open_uniform(jax.random.key_data(keys))

    fn = one
    for _ in range(jnp.ndim(path_key)):
        fn = jax.vmap(fn)
    return fn(path_key)
