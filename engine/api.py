"""``simulate(cfg)``: the Python entry point of the engine."""

from __future__ import annotations

import numpy as np

from engine.config import Config
from engine.drivers import build_driver_table
from engine.manifest import build_manifest
from engine.params import build_params
from engine.results import SimulationResult
from engine.run import simulate_raw


def simulate(
    cfg: Config,
    uniforms: np.ndarray | None = None,
    apply_copula: bool = True,
    overrides=(),
    checkpoint=None,
) -> SimulationResult:
    """Simulate ``cfg.engine.n_paths`` paths of the model in ``cfg``.

    Args:
        cfg: a validated config (``engine.compose([...])``).
        uniforms: optional driver uniforms, shape (n_paths, n_uniforms), replacing the random
            draws (e.g. a Saltelli design); ``apply_copula=False`` keeps them independent.
    Returns:
        a :class:`SimulationResult` (``.to_datatree()``, ``.summary()``, ``.scalars()``,
        ``.drivers()``).
    """
    table = build_driver_table(cfg)
    params = build_params(cfg)
    raw = simulate_raw(
        cfg, table, params, uniforms=uniforms, apply_copula=apply_copula, checkpoint=checkpoint
    )
    return SimulationResult(cfg, table, params, raw, build_manifest(cfg, raw, overrides))
