"""Prior check: sample the configured drivers alone (no simulation) and tabulate them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from distributions.keys import chain_draw_uniforms, root_key
from engine.config import Config
from engine.drivers import DriverTable, build_driver_table, prior_table


def sample_drivers(cfg: Config, n: int, table: DriverTable | None = None) -> np.ndarray:
    """Driver values of the first ``n`` paths of chain 0 (the same numbers the engine uses).

    Returns shape (n, n_drivers).
    """
    table = table or build_driver_table(cfg)
    root = root_key(cfg.engine.seed)
    names = table.uniform_names

    @jax.jit
    def draw(idx):
        return table.values(chain_draw_uniforms(root, jnp.zeros_like(idx), idx, names))

    return np.asarray(draw(jnp.arange(n, dtype=jnp.uint32)))


def prior_check(cfg: Config, n: int = 100_000):
    """Median, 5%/95% quantiles and P(after 2040) of every driver (a pandas DataFrame)."""
    table = build_driver_table(cfg)
    return prior_table(table, sample_drivers(cfg, n, table))
