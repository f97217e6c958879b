"""What drives the downside: sensitivity indices and PRIM boxes for the headline outcomes of a run.

Works on the arrays a run already has (the DataTree's kept driver draws and per-path outcomes):
no extra simulation. Writes ``sensitivity.csv`` (every index with its interval, per outcome),
``discovery.csv`` (the chosen PRIM box per downside definition), ``discovery_text.txt``
(sentences generated from the numbers), and figures (tornado, index bars, PRIM trade-off).

Every driver is screened (first-order index and tail KS distance, no bootstrap); the
``TOP_DRIVERS`` strongest per outcome get bootstrap intervals, a tornado and enter PRIM (the 12
with the largest tail KS). ``policy_success.*`` drivers are 0/1 indicators (1: policy arrived).

Given the true tails (the worst paths of *all* n paths, replayed from the engine's exact tail
buffers: ``jp2040.tails``; ``reports.tail_replay``): ``discovery.csv`` gains a PRIM box on that true tail (``sample`` column;
coverage exact, density and mass reweighted to all paths), ``sensitivity.csv`` gains
``true_tail_ks`` (each driver's KS distance
between that true tail and the kept sample, tail probability ``true_tail_alpha``) and each
outcome with a yearly series gets a tail fan chart (``figures/tail_fan_<i>``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from reports.discovery import prim
from reports.downside import bad_side
from reports.figures import save_figure
from reports.figures_sensitivity import plot_indices, plot_prim_tradeoff, plot_tornado
from reports.io import write_csv_atomic, write_text_atomic
from reports.sensitivity import first_order, given_data_indices, tail_sensitivity, tornado

log = logging.getLogger("jp2040.reports")

MIN_PATHS = 20_000  # below this the indices are mostly noise: the section says so instead
MAX_ROWS = 40_000  # indices and PRIM on at most this many kept paths (a prefix of every chain)
TAIL = 0.05
INDEX_COLUMNS = ("first_order", "spearman", "pawn", "tail_ks", "true_tail_ks")  # in the figure
TOP_DRIVERS = 20  # drivers kept per outcome after screening (first-order index and tail KS)


@dataclass(frozen=True)
class Outcome:
    """An outcome the sensitivity section explains: ``group/variable[entity]``. Its bad side
    and units are the engine's (the variable's ``bad_side`` and ``units`` attrs):
    :meth:`resolved` reads them from the run's DataTree."""

    group: str
    variable: str
    entity: str | None
    label: str
    side: str | None = None
    units: str | None = None

    def resolved(self, dt: xr.DataTree) -> Outcome:
        attrs = dt[self.group][self.variable].attrs
        side = bad_side(f"{self.group}/{self.variable}", attrs)
        return replace(self, side=side, units=str(attrs.get("units", "")))


SENSITIVITY_OUTCOMES = (
    Outcome("macro", "digital_deficit_2040", None, "digital deficit 2040"),
    Outcome("macro", "investment_total_cum_2040", None, "total investment 2026-40"),
    Outcome(
        "strategy",
        "operating_profit_2040",
        "competitive_advantage",
        "operating profit 2040, competitive_advantage",
    ),
    Outcome(
        "strategy",
        "operating_profit_2040",
        "social_infrastructure",
        "operating profit 2040, social_infrastructure",
    ),
)


def _flat(da: xr.DataArray, rows: np.ndarray) -> np.ndarray:
    return np.asarray(da.stack(path=("chain", "draw")).transpose("path", ...).values)[rows]


def sample_frame(dt: xr.DataTree, max_rows: int = MAX_ROWS) -> tuple[pd.DataFrame, np.ndarray]:
    """Driver draws (varying drivers only) of up to ``max_rows`` paths, and their row index."""
    ds = dt["drivers"].to_dataset()
    n_chain, n_draw = ds.sizes["chain"], ds.sizes["draw"]
    per_chain = min(n_draw, max(1, max_rows // n_chain))
    rows = (np.arange(n_chain)[:, None] * n_draw + np.arange(per_chain)[None, :]).ravel()
    X = pd.DataFrame({name: _flat(ds[name], rows) for name in ds.data_vars})
    varying = X.columns[X.nunique() > 1]
    return X[varying], rows


def _box_rows(result, stats: dict, outcome: Outcome, sample: str) -> pd.DataFrame:
    """discovery.csv rows of one PRIM box: its restrictions, then coverage, density, mass."""
    box = result.box().reset_index().rename(columns={"index": "driver"})
    box.insert(0, "outcome", outcome.label)
    box["coverage"], box["density"], box["mass"] = (
        stats["coverage"],
        stats["density"],
        stats["mass"],
    )
    box["sample"] = sample
    return box


def outcome_values(dt: xr.DataTree, outcome: Outcome, rows: np.ndarray) -> np.ndarray:
    da = dt[outcome.group].to_dataset()[outcome.variable]
    if outcome.entity is not None:
        dim = next(d for d in da.dims if d not in ("chain", "draw"))
        da = da.sel({dim: outcome.entity})
    return _flat(da, rows).astype(np.float64)


def explain(
    dt: xr.DataTree,
    outcomes=SENSITIVITY_OUTCOMES,
    n_boot: int = 50,
    seed: int = 0,
    max_rows: int = MAX_ROWS,
    true_tails: dict | None = None,
):
    """Sensitivity table, PRIM results and sentences for each outcome.

    ``true_tails``: ``{outcome label: reports.tail_replay.TrueTail}``; their KS distances join
    the table as ``true_tail_ks`` / ``true_tail_alpha`` (NaN for outcomes without one).
    Returns (sensitivity DataFrame, discovery DataFrame, {outcome label: PrimResult}, tornado
    tables, sentences).
    """
    from reports.tail_replay import true_tail_ks, true_tail_prim

    X, rows = sample_frame(dt, max_rows)
    sens, boxes, prims, tornados, sentences = [], [], {}, {}, []
    true_tails = true_tails or {}
    for out in (o.resolved(dt) for o in outcomes):
        y = outcome_values(dt, out, rows)
        # screen every driver cheaply, then bootstrap the indices of the strongest ones
        screen = first_order(X, y).clip(lower=0)
        tail = tail_sensitivity(X, y, tail=TAIL, side=out.side)
        score = screen.rank(ascending=False).combine(tail["ks"].rank(ascending=False), min)
        top = score.sort_values().index[:TOP_DRIVERS]
        gd = given_data_indices(X[top], y, n_boot=n_boot, seed=seed)
        table = gd.join(
            tail[["ks", "p_value"]].rename(columns={"ks": "tail_ks", "p_value": "tail_p"})
        )
        table.insert(0, "outcome", out.label)
        tt = true_tails.get(out.label)
        table["true_tail_ks"] = true_tail_ks(X[top], tt) if tt is not None else np.nan
        table["true_tail_alpha"] = tt.alpha if tt is not None else np.nan
        table.index.name = "driver"
        sens.append(table.reset_index())
        tornados[out.label] = tornado(X[top], y, side=out.side)
        cut = np.quantile(y, 1 - TAIL if out.side == "high" else TAIL)
        bad = y >= cut if out.side == "high" else y <= cut
        cols = tail.loc[top, "ks"].sort_values(ascending=False).index[:12]
        result = prim(X[cols], bad)
        prims[out.label] = result
        boxes.append(_box_rows(result, result.stats(), out, f"kept paths, worst {TAIL:.0%}"))
        if tt is not None and tt.values is not None:
            # the same question on the true tail: the worst of all n paths, replayed
            t_res, t_stats = true_tail_prim(X, y, tt, out, cols)
            sample = f"true tail: worst {tt.alpha:.3g} of all paths"
            boxes.append(_box_rows(t_res, t_stats, out, sample))
        worst = "highest" if out.side == "high" else "lowest"
        sentences.append(
            f"Worst {TAIL:.0%} of {out.label} ({worst} values, beyond {cut:.3g} {out.units}): "
            + result.describe()
        )
    return (
        pd.concat(sens, ignore_index=True),
        pd.concat(boxes, ignore_index=True),
        prims,
        tornados,
        sentences,
    )


def explanation_enabled(n_paths: int, setting="auto") -> bool:
    """Whether ``report.sensitivity`` (True, False or ``"auto"``: from MIN_PATHS paths) asks for
    the indices and PRIM boxes of a run of ``n_paths``."""
    return not (setting is False or (setting == "auto" and n_paths < MIN_PATHS))


def write_explanation(
    run_dir: Path,
    dt: xr.DataTree,
    n_paths: int,
    setting="auto",
    formats=("png",),
    true_tails: dict | None = None,
) -> list[Path]:
    """Write sensitivity.csv, discovery.csv, discovery_text.txt and figures into ``run_dir``.

    ``true_tails``: ``{outcome label: reports.tail_replay.TrueTail}`` (``jp2040.tails``), the
    true tails' PRIM boxes, KS distances and fan charts (module docstring)."""
    run_dir = Path(run_dir)
    if not explanation_enabled(n_paths, setting):
        why = (
            "off (report.sensitivity=false)"
            if setting is False
            else f"skipped: {n_paths} paths is below {MIN_PATHS}, where the indices would be noise"
        )
        return [write_text_atomic(f"Sensitivity analysis {why}.\n", run_dir / "discovery_text.txt")]
    true_tails = true_tails or {}
    sens, boxes, prims, tornados, sentences = explain(dt, true_tails=true_tails)
    written = [
        write_csv_atomic(sens, run_dir / "sensitivity.csv"),
        write_csv_atomic(boxes, run_dir / "discovery.csv"),
        write_text_atomic("\n".join(sentences) + "\n", run_dir / "discovery_text.txt"),
    ]
    figdir = run_dir / "figures"
    for i, out in enumerate(o.resolved(dt) for o in SENSITIVITY_OUTCOMES):
        tab = sens[sens["outcome"] == out.label].set_index("driver")
        top = tab.reindex(tab["first_order"].abs().sort_values(ascending=False).index[:12])
        shown = [c for c in INDEX_COLUMNS if c in top.columns and top[c].notna().any()]
        written += save_figure(
            plot_indices(top, indices=shown), figdir / f"sensitivity_{i}", formats
        )
        written += save_figure(
            plot_tornado(tornados[out.label], out.label, out.units),
            figdir / f"tornado_{i}",
            formats,
        )
        written += save_figure(plot_prim_tradeoff(prims[out.label]), figdir / f"prim_{i}", formats)
        if out.label in true_tails:
            from reports.tail_replay import tail_fan_chart

            fig = tail_fan_chart(dt, out, true_tails[out.label])
            if fig is not None:
                written += save_figure(fig, figdir / f"tail_fan_{i}", formats)
    return written
