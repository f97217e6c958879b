"""Test-wide settings: CPU, float32, a persistent compile cache shared with the subprocesses that
tests start (identical programs compile once per machine), glibc's default malloc, no
host-device splitting unless a test asks for it (the device-count tests run in subprocesses)."""

import os

CACHE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".jax_cache"))
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")
os.environ.setdefault("JP2040_CACHE", CACHE)
# glibc's default malloc for the suite: jp2040.malloc's single arena slows XLA's multi-threaded
# compile by up to ~3 s a program (bench/malloc.py), a fresh clone compiles every program cold,
# and the numbers do not depend on it. tests/jp2040/test_malloc.py runs the engine's settings.
os.environ.setdefault("JP2040_MALLOC", "default")

import jax  # noqa: E402

jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
