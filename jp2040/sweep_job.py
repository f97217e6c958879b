"""``jp2040 mode=sweep``: many parameter points in one process, on common random numbers.

    jp2040 mode=sweep 'sweep.grid={drivers.agi.median:[2031,2034,2037,2040]}'
    jp2040 mode=sweep 'sweep.grid={drivers.agi.median:[2031,2040],scenario.failure_share_factor:[0.2,0.4]}'
    jp2040 mode=sweep sweep.mode=paired 'sweep.grid={drivers.agi.median:[2031,2040],drivers.ftqc.median:[2030,2045]}'

Every point is the configured run with the point's overrides on top and the same seed, so every
point sees the same paths: differences between points are paired and their Monte Carlo error is
small. The points share one compiled chunk program (parameters are jit arguments, see
``engine.run``), so a point costs its simulation, not a compile. Every point is exactly the
single run with the same overrides and seed.

Writes ``sweep.csv`` (one row per point: the overrides, then for each headline outcome its mean
with MCSE, p05/p50/p95, and the paired difference against the first point with its paired and
unpaired MCSE), ``sweep_<outcome>.png`` response curves with 2-MCSE bands, and
``manifest.json``. Bad grids (unknown key, empty list, paired lists of different lengths, a
value the config refuses) are refused before any compute, naming the key.
"""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from engine.config import Config, ConfigError

log = logging.getLogger("jp2040.sweep")


def _format(value) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def sweep_points(grid: dict, mode: str) -> list[dict]:
    """The points of a grid: the full product of the lists (``grid``) or the lists zipped
    (``paired``). Refuses an empty grid, an empty or scalar list, or paired lists of different
    lengths, naming the key."""
    if not isinstance(grid, dict) or not grid:
        raise ConfigError(
            "sweep.grid: empty (e.g. 'sweep.grid={drivers.agi.median:[2031,2034,2037,2040]}')"
        )
    for key, values in grid.items():
        if not isinstance(values, (list, tuple)):
            raise ConfigError(f"sweep.grid.{key}: expected a list of values, got {values!r}")
        if len(values) == 0:
            raise ConfigError(f"sweep.grid.{key}: empty list of values")
    keys = list(grid)
    if mode == "paired":
        lengths = {k: len(v) for k, v in grid.items()}
        if len(set(lengths.values())) > 1:
            raise ConfigError(
                "sweep.grid: paired lists must have the same length, got "
                + ", ".join(f"{k}: {n}" for k, n in lengths.items())
            )
        combos = list(zip(*(grid[k] for k in keys), strict=True))
    elif mode == "grid":
        combos = list(itertools.product(*(grid[k] for k in keys)))
    else:
        raise ConfigError(f"sweep.mode: unknown mode {mode!r} (valid: grid, paired)")
    return [dict(zip(keys, combo, strict=True)) for combo in combos]


def point_configs(cfg: Config, overrides, points: list[dict]) -> list[Config]:
    """A validated config per point: the run's own overrides, then the point's. Any key or value
    the config refuses stops here, before compute, with the key named."""
    from engine.config import compose
    from engine.drivers import build_driver_table

    base = [o for o in overrides if not o.split("=", 1)[0].lstrip("+~").startswith("sweep.")]
    base = [o for o in base if not o.startswith(("mode=", "hydra."))]
    out = []
    for point in points:
        extra = []
        for key, value in point.items():
            if key.startswith("sweep.") or key in ("mode", "engine.seed"):
                raise ConfigError(f"sweep.grid.{key}: cannot be swept in mode=sweep")
            extra.append(f"{key}={_format(value)}")
        try:
            point_cfg = compose([*base, *extra, "mode=run"])
            build_driver_table(point_cfg)  # driver specs are checked here, not by compose
        except ConfigError as err:
            raise ConfigError(f"sweep.grid: {', '.join(extra)}: {err}") from None
        out.append(point_cfg)
    return out


def sweep_table(points: list[dict], values: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """One row per point: the overrides, then the paired statistics of
    :func:`reports.sweep.paired_statistics` (the same columns a seed-sharing multirun gets)."""
    from reports.sweep import paired_statistics

    stats = paired_statistics(values)
    rows = [
        {**{f"override:{k}": _format(v) for k, v in point.items()}, **row}
        for point, row in zip(points, stats, strict=True)
    ]
    return pd.DataFrame(rows)


def response_figures(table: pd.DataFrame, run_dir: Path, formats=("png",)) -> list[Path]:
    """One figure per headline outcome: mean with 2-MCSE band against the point, and the paired
    difference from the first point with its 2-MCSE band (the unpaired band dashed)."""
    import io

    from matplotlib.figure import Figure  # no pyplot: no process-wide backend or figure state

    from reports.io import write_bytes_atomic

    keys = [c for c in table.columns if c.startswith("override:")]
    if len(keys) == 1:
        try:
            x = table[keys[0]].astype(float).to_numpy()
            xlabel = keys[0].removeprefix("override:")
        except ValueError:
            x, xlabel = np.arange(len(table)), "point"
    else:
        x, xlabel = np.arange(len(table)), "point (see sweep.csv)"
    outcomes = sorted({c.split(":")[0] for c in table.columns if c.endswith(":mean")})
    written = []
    for name in outcomes:
        fig = Figure(figsize=(9, 3.2), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2)
        m, s = table[f"{name}:mean"], table[f"{name}:mcse"]
        ax1.plot(x, m, "o-")
        ax1.fill_between(x, m - 2 * s, m + 2 * s, alpha=0.3, label="mean +/- 2 MCSE")
        ax1.fill_between(x, table[f"{name}:p05"], table[f"{name}:p95"], alpha=0.1, label="p05-p95")
        ax1.set(title=f"{name}", xlabel=xlabel)
        ax1.legend(fontsize=7)
        d, ds = table[f"{name}:diff"], table[f"{name}:diff_mcse"]
        du = table[f"{name}:diff_mcse_unpaired"]
        ax2.plot(x, d, "o-", color="C1")
        ax2.fill_between(x, d - 2 * ds, d + 2 * ds, color="C1", alpha=0.3, label="paired 2 MCSE")
        ax2.plot(x, d - 2 * du, "k--", lw=0.7, label="unpaired 2 MCSE")
        ax2.plot(x, d + 2 * du, "k--", lw=0.7)
        ax2.axhline(0, color="grey", lw=0.5)
        ax2.set(title="difference from the first point (same paths)", xlabel=xlabel)
        ax2.legend(fontsize=7)
        safe = name.replace("[", "_").replace("]", "")
        for fmt in formats:
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=110)
            written.append(write_bytes_atomic(buf.getvalue(), run_dir / f"sweep_{safe}.{fmt}"))
    return written


def run_sweep(cfg: Config, run_dir: Path, overrides=()) -> int:
    """Validate every point, simulate them on the same seed, write sweep.csv and figures."""
    from engine import simulate
    from reports.io import write_csv_atomic, write_text_atomic
    from reports.sweep import per_path_values

    points = sweep_points(dict(cfg.sweep.grid or {}), cfg.sweep.mode)
    configs = point_configs(cfg, overrides, points)  # every refusal happens here, before compute
    log.info("sweep: %d points, %d paths each, seed %d", len(points), cfg.engine.n_paths,
             cfg.engine.seed)  # fmt: skip
    values = []
    for i, (point, pcfg) in enumerate(zip(points, configs, strict=True)):
        pcfg = pcfg.with_engine(keep_paths=max(pcfg.engine.keep_paths, pcfg.engine.n_paths))
        res = simulate(pcfg)
        values.append(per_path_values(res.to_datatree()))
        log.info("sweep point %d/%d done: %s", i + 1, len(points), point)
    table = sweep_table(points, values)
    run_dir.mkdir(parents=True, exist_ok=True)
    written = [write_csv_atomic(table, run_dir / "sweep.csv")]
    written += response_figures(table, run_dir)
    manifest = {
        "mode": "sweep",
        "points": points,
        "sweep_mode": cfg.sweep.mode,
        "n_paths": cfg.engine.n_paths,
        "seed": cfg.engine.seed,
        "overrides": list(overrides),
    }
    written.append(
        write_text_atomic(json.dumps(manifest, indent=2, default=str), run_dir / "manifest.json")
    )
    head = ["digital_deficit_2040", "operating_profit_2040[competitive_advantage]"]
    cols = [c for c in table.columns if c.startswith("override:")]
    for name in head:
        cols += [f"{name}:mean", f"{name}:diff", f"{name}:diff_mcse"]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"{len(points)} points; wrote {len(written)} files in {run_dir} (sweep.csv)")
    return 0
