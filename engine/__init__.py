"""The 2040 path engine: drivers -> yearly scan -> outcomes.

    from engine import compose, simulate
    cfg = compose(["scenario=not_so_bright", "engine.n_paths=20000"])
    result = simulate(cfg)
    dt = result.to_datatree()

Heavy modules (JAX) are imported on first use, so config validation errors come fast. Importing
the package changes nothing process-wide. The command line asks glibc to keep freed memory for
reuse (``jp2040.malloc.keep_freed_memory``, about a fifth faster per chunk on CPU,
``bench/malloc.py``); a library user opts in by calling it before JAX starts its CPU client.
"""

from engine.config import Config, ConfigError, compose

__all__ = ["Config", "ConfigError", "SimulationError", "compose", "simulate"]


def __getattr__(name):
    if name == "simulate":
        from engine.api import simulate

        return simulate
    if name == "SimulationError":
        from engine.run import SimulationError

        return SimulationError
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
