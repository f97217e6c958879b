"""``jp2040 mode=reverse``: the reverse stress test of one outcome beyond a threshold.

    jp2040 mode=reverse reverse.outcome=macro/digital_deficit_2040 reverse.threshold=40

Simulates the configured scenario, takes the kept paths' drivers and the outcome
(``group/variable`` or ``group/variable/entity``), runs :func:`reports.reverse.reverse_stress`
and writes ``reverse.csv`` (layout in :mod:`reports.reverse`) and ``manifest.json`` to the run
directory; prints the probability, the drivers that moved most and the most likely combination.
The outcome's name is checked against the model's outputs (traced, not compiled) before any
path runs. With ``engine.n_paths`` above ``engine.keep_paths`` the test uses the kept paths.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from engine.config import Config, ConfigError

log = logging.getLogger("jp2040.reverse")


def resolve_outcome(cfg: Config, shapes: dict) -> tuple[str, str, str | None]:
    """(group, variable, entity or None) of ``cfg.reverse.outcome``, checked against the model's
    per-path outputs ``shapes`` (``{group: {var: per-path shape}}``); ConfigError naming the valid
    ones otherwise."""
    from engine.results import VECTOR_DIMS, base_name

    parts = cfg.reverse.outcome.split("/")
    group, var = parts[0], parts[1]
    entity = parts[2] if len(parts) == 3 else None
    names = shapes.get(group, {})
    if var not in names:
        valid = ", ".join(f"{group}/{v}" for v in sorted(names))
        raise ConfigError(f"reverse.outcome: unknown outcome '{group}/{var}' (valid: {valid})")
    if group == "domain":
        entities = cfg.domain_ids
    elif group == "strategy":
        entities = cfg.strategy_ids
    elif group == "area":
        entities = cfg.area_ids
    else:
        entities = VECTOR_DIMS.get(base_name(var), (None, ()))[1] if names[var] else ()
    if entity is None and entities:
        raise ConfigError(
            f"reverse.outcome: {group}/{var} has one value per entity; name one as "
            f"{group}/{var}/<entity> (valid: {', '.join(entities)})"
        )
    if entity is not None and entity not in entities:
        valid = ", ".join(entities) if entities else "none: it is a single value"
        raise ConfigError(
            f"reverse.outcome: unknown entity {entity!r} of {group}/{var} (valid: {valid})"
        )
    return group, var, entity


def run_reverse(cfg: Config, run_dir: Path, overrides=()) -> int:
    """Run ``mode=reverse`` for a validated config; returns the exit status (2 when the
    threshold cannot be analysed, e.g. never reached)."""
    import jax.numpy as jnp

    from engine import simulate
    from engine.drivers import build_driver_table
    from engine.params import build_params
    from engine.results import bad_side
    from engine.run import chunk_program
    from reports.io import write_csv_atomic, write_text_atomic
    from reports.reverse import ReverseStressError, reverse_stress

    table, params = build_driver_table(cfg), build_params(cfg)
    dtype = jnp.float64 if cfg.engine.dtype == "float64" else jnp.float32
    program = chunk_program(table, params, dtype, cfg.engine.histogram_bins)  # reused by simulate
    group, var, entity = resolve_outcome(cfg, program.shapes)
    if cfg.engine.keep_paths < cfg.engine.n_paths:
        log.warning(
            "reverse stress test on the %d kept paths of %d (engine.keep_paths)",
            cfg.engine.keep_paths,
            cfg.engine.n_paths,
        )
    result = simulate(cfg, overrides=overrides)
    frame = result.scalars(group, var)
    outcome = frame[entity] if entity is not None else frame.iloc[:, 0]
    outcome = outcome.rename(cfg.reverse.outcome)
    side = bad_side(var) if cfg.reverse.side == "auto" else cfg.reverse.side
    try:
        res = reverse_stress(result.drivers(), outcome, float(cfg.reverse.threshold), side)
    except ReverseStressError as err:
        log.error("reverse stress test: %s", err)
        return 2
    run_dir.mkdir(parents=True, exist_ok=True)
    written = [
        write_csv_atomic(res.to_frame(), run_dir / "reverse.csv"),
        write_text_atomic(
            json.dumps(result.manifest, indent=2, default=str), run_dir / "manifest.json"
        ),
    ]
    log.info("wrote %s", ", ".join(str(p) for p in written))
    print(res.table(top=cfg.reverse.top))
    print(f"outputs: {run_dir}")
    return 0
