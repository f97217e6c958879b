"""The 2040 path engine: drivers -> yearly scan -> outcomes.

    from engine import compose, simulate
    cfg = compose(["scenario=not_so_bright", "engine.n_paths=20000"])
    result = simulate(cfg)
    dt = result.to_datatree()

Heavy modules (JAX) are imported on first use, so config validation errors come fast. Importing
the package asks glibc to keep freed memory for reuse (``engine.malloc``): it must happen before
JAX starts its CPU client, and makes each chunk about a fifth faster (``bench/malloc.py``).
"""

from engine.malloc import keep_freed_memory

keep_freed_memory()

from engine.config import Config, ConfigError, compose  # noqa: E402

__all__ = ["Config", "ConfigError", "SimulationError", "compose", "simulate"]


def __getattr__(name):
    if name == "simulate":
        from engine.api import simulate

        return simulate
    if name == "SimulationError":
        from engine.run import SimulationError

        return SimulationError
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
