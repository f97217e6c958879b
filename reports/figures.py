"""Figures of a results DataTree (matplotlib, no pyplot: figures are plain ``Figure`` objects).

Each plotting function returns a :class:`matplotlib.figure.Figure`; :func:`save_figure` writes it
atomically; :func:`make_figures` draws and writes the standard set for a run.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from reports.downside import bad_side, downside, run_paths, select_cells
from reports.figures_headline import DOWNSIDE, DOWNSIDE_ALPHA, REPORT_MARKER, kept_note
from reports.io import write_bytes_atomic
from reports.summaries import SAMPLE_DIMS, YEAR_DIM, ReportOptionError, entity_dim

__all__ = [
    "driver_distributions",
    "exceedance_curve",
    "fan_chart",
    "forest_plot",
    "make_figures",
    "save_figure",
]

LEVELS = ("strategy", "domain", "area")
FORMATS = ("png", "svg", "pdf")
MAX_CURVE_POINTS = 2000


def _units(da: xr.DataArray) -> str:
    return str(da.attrs.get("units", "")) or "units not given"


def _group_var(dt: xr.DataTree, group: str, variable: str) -> xr.DataArray:
    if group not in dt.children:
        raise ReportOptionError(f"unknown group {group!r}; valid groups: {list(dt.children)}")
    ds = dt[group].to_dataset()
    if variable not in ds.data_vars:
        raise ReportOptionError(
            f"unknown variable {variable!r} in {group}; valid: {sorted(map(str, ds.data_vars))}"
        )
    return ds[variable]


def forest_plot(
    dt: xr.DataTree, variable: str, level: str = "strategy", report: dict | None = None
) -> Figure:
    """Median, 50% and 90% intervals of a per-path scalar for each entity of ``level``.

    ``level`` is ``strategy``, ``domain`` or ``area``; e.g. ``operating_profit_2040`` or
    ``investment_cum_2040``. Units come from the variable's ``units`` attr. ``report``:
    {entity: the report's figure}, drawn as red diamonds.
    """
    if level not in LEVELS:
        raise ReportOptionError(f"level must be one of {LEVELS}, got {level!r}")
    da = _group_var(dt, level, variable)
    flat = da.stack(sample=SAMPLE_DIMS).transpose(level, "sample").values
    q05, q25, q50, q75, q95 = np.quantile(flat, [0.05, 0.25, 0.5, 0.75, 0.95], axis=1)
    names = [str(v) for v in da[level].values]
    ypos = np.arange(len(names))[::-1]
    fig = Figure(figsize=(7.0, 1.2 + 0.32 * len(names)), layout="constrained")
    ax = fig.add_subplot()
    ax.hlines(ypos, q05, q95, color="C0", linewidth=1.2, label="90% interval")
    ax.hlines(ypos, q25, q75, color="C0", linewidth=4.0, label="50% interval")
    ax.plot(q50, ypos, "o", color="white", markeredgecolor="C0", label="median")
    marked = [(report[n], y) for n, y in zip(names, ypos) if report and n in report]
    if marked:
        ax.plot(*zip(*marked), label="report", **REPORT_MARKER)
    if q05.min() < 0 < q95.max():
        ax.axvline(0.0, color="grey", linewidth=0.8, linestyle=":")
        if bad_side(variable, da.attrs) == "low":
            ax.axvspan(q05.min(), 0, color=DOWNSIDE, alpha=DOWNSIDE_ALPHA, linewidth=0)
    ax.set_yticks(ypos, names)
    ax.set_xlabel(f"{variable} [{_units(da)}]")
    ax.set_title(f"{variable} by {level}" + kept_note(flat.shape[1], run_paths(dt)))
    ax.legend(loc="best", fontsize="small")
    return fig


def fan_chart(
    dt: xr.DataTree,
    variable: str,
    entity: str | None = None,
    group: str = "strategy",
    report_last_year: float | None = None,
    summary: pd.DataFrame | None = None,
) -> Figure:
    """Median with 50% and 90% bands by year, from the ``<group>_yearly`` trajectories;
    ``report_last_year``: the report's figure for the last year, drawn as a red diamond.

    ``summary`` (``summary.csv``): where its yearly rows of this variable have quantiles from
    all paths (``quantiles_from`` not "... kept paths"), the bands it has (``p05``/``p95``,
    ``p25``/``p75``) and the median come from there; the rest from the kept trajectories.
    """
    yearly = group if group.endswith("_yearly") else f"{group}_yearly"
    da = _group_var(dt, yearly, variable)
    ent_dim = entity_dim(da)
    if ent_dim is not None:
        ids = [str(v) for v in da[ent_dim].values]
        if entity not in ids:
            raise ReportOptionError(f"unknown {ent_dim} {entity!r}; valid: {ids}")
        da = da.isel({ent_dim: ids.index(entity)})
    da = da.stack(sample=SAMPLE_DIMS).transpose(YEAR_DIM, "sample")
    years = da[YEAR_DIM].values
    kept = dict(zip(PROBS, np.quantile(da.values, [p / 100 for p in PROBS], axis=1)))
    streamed = _streamed_quantiles(summary, group, variable, entity if ent_dim else "", years)
    source = {p: "all paths" if p in streamed else "kept paths" for p in PROBS}
    q = {p: streamed.get(p, kept[p]) for p in PROBS}
    fig = Figure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for (lo, hi), alpha in (((5, 95), 0.2), ((25, 75), 0.4)):
        label = f"{hi - lo}% band" + ("" if source[lo] == "all paths" else " (kept paths)")
        ax.fill_between(years, q[lo], q[hi], color="C0", alpha=alpha, linewidth=0, label=label)
    ax.plot(years, q[50], color="C0", label="median")
    if report_last_year is not None:
        ax.plot([years[-1]], [report_last_year], label="report", **REPORT_MARKER)
    ax.set_xlabel("year")
    ax.set_ylabel(f"{variable} [{_units(da)}]")
    title = f"{variable}" + (f" ({entity})" if ent_dim else "")
    n_kept = da.sizes["sample"]
    how = "all paths" if streamed else f"{n_kept} kept paths"
    if streamed and len(streamed) < len(PROBS):
        how += f" ({n_kept} kept paths for the rest)"
    ax.set_title(f"{title}: {how}")
    ax.legend(loc="upper left", fontsize="small")
    return fig


PROBS = (5, 25, 50, 75, 95)  # percentiles of the fan charts


def _streamed_quantiles(summary, group, variable, entity, years) -> dict[int, np.ndarray]:
    """{percentile: values by year} from summary rows whose quantiles cover all paths."""
    if summary is None or not {"variable", "year", "quantiles_from"} <= set(summary.columns):
        return {}
    base = group.removesuffix("_yearly")
    rows = summary[
        (summary["group"].astype(str).isin([base, f"{base}_yearly"]))
        & (summary["variable"] == variable)
        & (summary["entity"].fillna("").astype(str) == (entity or ""))
        & summary["year"].notna()
    ]
    rows = rows[~rows["quantiles_from"].astype(str).str.contains("kept")]
    rows = rows.set_index(rows["year"].astype(int)).reindex([int(y) for y in years])
    out = {}
    for p in PROBS:
        col = f"p{p:02d}"
        if col in rows.columns and rows[col].notna().all():
            out[p] = rows[col].to_numpy(dtype=np.float64)
    return out if 50 in out else {}


def exceedance_curve(
    x,
    side: str = "high",
    var: float | None = None,
    es: float | None = None,
    label: str = "",
    units: str = "",
    source: str = "",
) -> Figure:
    """Empirical exceedance curve of the draws ``x`` with VaR and ES marked.

    ``side="high"`` plots P(X > t), ``side="low"`` P(X < t), against t, on a log scale.
    ``source``: where VaR and ES come from (``downside.csv``'s source), shown in the legend.
    """
    values = np.sort(np.asarray(x, dtype=np.float64).ravel())
    n = values.size
    idx = np.unique(np.linspace(0, n - 1, min(n, MAX_CURVE_POINTS)).astype(int))
    t = values[idx]
    prob = 1.0 - (idx + 1) / n if side == "high" else idx / n
    keep = prob > 0
    fig = Figure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.step(t[keep], prob[keep], where="post", color="C0")
    ax.set_yscale("log")
    if var is not None and keep.any():
        tail = (var, t[keep].max()) if side == "high" else (t[keep].min(), var)
        ax.axvspan(*tail, color=DOWNSIDE, alpha=DOWNSIDE_ALPHA, linewidth=0)
    if var is not None:
        ax.axvline(var, color="C1", linestyle="--", label=f"VaR = {var:.4g}")
    if es is not None:
        ax.axvline(es, color="C3", linestyle="-.", label=f"ES = {es:.4g}")
    if source and (var is not None or es is not None):
        ax.plot([], [], " ", label=f"VaR, ES: {source}; curve: {n} kept paths")
    ax.set_xlabel(f"{label} [{units}]" if units else label)
    ax.set_ylabel("P(X > t)" if side == "high" else "P(X < t)")
    ax.set_title(f"{label}: exceedance ({'high' if side == 'high' else 'low'} is bad)")
    if var is not None or es is not None:
        ax.legend(loc="best", fontsize="small")
    return fig


def driver_distributions(
    dt: xr.DataTree, names: Sequence[str] | None = None, max_panels: int = 16
) -> Figure:
    """Small multiples of driver draws (``/drivers``): the prior check."""
    ds = _group_var_ds(dt, "drivers")
    available = [str(v) for v in ds.data_vars]
    names = available[:max_panels] if names is None else list(names)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ReportOptionError(f"unknown driver(s) {unknown}; valid: {available}")
    ncols = min(4, max(1, len(names)))
    nrows = max(1, -(-len(names) // ncols))
    fig = Figure(figsize=(3.0 * ncols, 2.3 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        ax.hist(np.asarray(ds[name].values, dtype=np.float64).ravel(), bins=50, color="C0")
        ax.set_title(name, fontsize="small")
        ax.set_yticks([])
    for ax in axes.ravel()[len(names) :]:
        ax.set_visible(False)
    fig.suptitle("driver draws")
    return fig


def _group_var_ds(dt: xr.DataTree, group: str) -> xr.Dataset:
    if group not in dt.children:
        raise ReportOptionError(f"unknown group {group!r}; valid groups: {list(dt.children)}")
    return dt[group].to_dataset()


def save_figure(
    fig: Figure, path_stem: str | os.PathLike, formats: Sequence[str] = ("png",), dpi: int = 110
) -> list[Path]:
    """Write ``fig`` as ``<path_stem>.<fmt>`` for each format, atomically; return the paths."""
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ReportOptionError(f"unknown figure format(s) {bad}; valid: {list(FORMATS)}")
    stem = Path(path_stem)
    paths = []
    for fmt in formats:
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=dpi, metadata=_metadata(fmt))
        data = _compress_png(buffer.getvalue()) if fmt == "png" else buffer.getvalue()
        paths.append(write_bytes_atomic(data, stem.with_name(f"{stem.name}.{fmt}")))
    return paths


def _compress_png(data: bytes) -> bytes:
    """A 256-colour palette PNG of a figure (about a third of the size; plots have few colours),
    or ``data`` unchanged when that is not smaller."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        palette = image.convert("RGB").quantize(256, dither=Image.Dither.NONE)
    out = io.BytesIO()
    palette.save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < len(data) else data


def _metadata(fmt: str) -> dict:
    # No creation dates, so that the same run gives byte-identical figures.
    return {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}[fmt]


def make_figures(
    dt: xr.DataTree,
    out_dir: str | os.PathLike,
    formats: Sequence[str] = ("png",),
    report_deficit_2040: float | None = None,
    summary: pd.DataFrame | None = None,
) -> list[Path]:
    """Draw the standard figures of a run into ``out_dir``; skip those whose data are absent.

    Forest plots of ``operating_profit_2040`` and ``investment_cum_2040`` by strategy and by
    domain, fan charts of ``operating_profit`` by strategy, exceedance curves (with the 5% VaR
    and ES) of ``digital_deficit_2040`` and ``investment_total_cum_2040``, driver histograms.
    ``report_deficit_2040``: the report's not-so-bright deficit, marked on the deficit's fan;
    ``summary``: ``summary.csv``, whose all-path yearly quantiles the fan charts prefer.
    """
    out_dir = Path(out_dir)
    paths: list[Path] = []
    groups = set(dt.children)

    def has(group, variable):
        return group in groups and variable in dt[group].to_dataset().data_vars

    for variable in ("operating_profit_2040", "investment_cum_2040"):
        for level in ("strategy", "domain"):
            if has(level, variable):
                fig = forest_plot(dt, variable, level)
                paths += save_figure(fig, out_dir / f"forest_{variable}_{level}", formats)
    if has("strategy_yearly", "operating_profit"):
        for ent in dt["strategy_yearly"]["strategy"].values:
            fig = fan_chart(dt, "operating_profit", str(ent), "strategy", None, summary)
            paths += save_figure(fig, out_dir / f"fan_operating_profit_{ent}", formats)
    if has("macro_yearly", "digital_deficit"):
        fig = fan_chart(dt, "digital_deficit", None, "macro", report_deficit_2040, summary)
        paths += save_figure(fig, out_dir / "fan_digital_deficit", formats)
    for variable in ("digital_deficit_2040", "investment_total_cum_2040"):
        if has("macro", variable):
            [(_, _, da)] = select_cells(dt, variable, group="macro")
            # VaR/ES as in downside.csv: from the exact tail buffers of all paths where they
            # hold the 5% tail, else from the kept paths (the label says which)
            row = downside(dt, alphas=[0.05], variables=[f"macro/{variable}"]).iloc[0]
            fig = exceedance_curve(
                da.values,
                row["side"],
                float(row["var"]),
                float(row["es"]),
                variable,
                _units(da),
                str(row["source"]),
            )
            paths += save_figure(fig, out_dir / f"exceedance_{variable}", formats)
    if "drivers" in groups and dt["drivers"].to_dataset().data_vars:
        paths += save_figure(driver_distributions(dt), out_dir / "drivers", formats)
    return paths
