"""The report's first-screen figures and the scenario comparison, in the shared figure style.

Style (every figure of the report): the model's distribution in blue (``MODEL``), the report's
point figures as red diamonds (``REPORT_MARKER``), the downside (the bad side of a threshold or of
zero) shaded light red (``DOWNSIDE``). Money in tn JPY (flows in 2040: tn JPY/yr).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from reports.downside import run_paths
from reports.summaries import SAMPLE_DIMS
from reports.targets import ReportFigures

__all__ = [
    "DOWNSIDE",
    "MODEL",
    "REPORT_MARKER",
    "deficit_distribution",
    "kept_note",
    "scenario_comparison",
    "strategy_forest",
]

MODEL = "#1f77b4"
DOWNSIDE = "#d62728"
DOWNSIDE_ALPHA = 0.10
REPORT_MARKER = {
    "marker": "D",
    "color": DOWNSIDE,
    "markerfacecolor": "none",
    "markeredgewidth": 1.8,
    "markersize": 7,
    "linestyle": "none",
    "zorder": 5,
}
SCENARIO_COLOURS = {"mixed": "#ff7f0e", "not_so_bright": "#7b3294", "capture": MODEL}


def kept_note(n_kept: int, n_paths: int | None) -> str:
    """`` (N kept of M paths)`` when a figure's quantiles are of fewer paths than the run's."""
    return f" ({n_kept:,} kept of {n_paths:,} paths)" if n_paths and n_kept < n_paths else ""


def _flat(da: xr.DataArray) -> np.ndarray:
    return np.asarray(da.values, dtype=np.float64).reshape(-1)


def deficit_distribution(
    da: xr.DataArray,
    report_value: float | None,
    scenario: str = "",
    bins: int = 80,
    n_paths: int | None = None,
) -> Figure:
    """Histogram of the 2040 digital deficit over all kept paths, the report's figure marked and
    the paths beyond it (worse than the report's not-so-bright future) shaded.

    ``da``: ``digital_deficit_2040`` with dims (chain, draw); ``report_value`` in its units;
    ``n_paths``: the run's paths, when more than were kept the title says the share is of the
    kept paths.
    """
    x = _flat(da)
    of = f" of the {x.size:,} kept" if n_paths and x.size < n_paths else ""
    units = str(da.attrs.get("units", "tn JPY/yr"))
    fig = Figure(figsize=(6.4, 2.9), layout="constrained")
    ax = fig.add_subplot()
    lo, hi = np.quantile(x, [0.001, 0.999])
    if report_value is not None:
        lo, hi = min(lo, report_value), max(hi, report_value)
    pad = 0.04 * (hi - lo or 1.0)
    edges = np.linspace(lo - pad, hi + pad, bins + 1)
    counts, _ = np.histogram(x, edges)  # the 0.1% beyond either end are left out
    share = counts / x.size * 100
    ax.stairs(share, edges, fill=True, color=MODEL, alpha=0.35, linewidth=0)
    ax.stairs(share, edges, color=MODEL, linewidth=1.0)
    median = float(np.median(x))
    ax.axvline(median, color=MODEL, linestyle="--", linewidth=1.0)
    ymax = share.max() * 1.3 if share.size and share.max() > 0 else 1.0
    ax.set_ylim(0, ymax)
    ax.text(median, ymax * 0.97, f"median {median:.3g} ", color=MODEL, va="top", ha="right")
    title = "Digital deficit in 2040"
    if report_value is not None:
        ax.axvspan(report_value, edges[-1], color=DOWNSIDE, alpha=DOWNSIDE_ALPHA, linewidth=0)
        p = float(np.mean(x > report_value))
        ax.axvline(report_value, color=DOWNSIDE, linewidth=1.0)
        ax.plot([report_value], [ymax * 0.95], **REPORT_MARKER)
        ax.text(
            report_value,
            ymax * 0.88,
            f"  report, not-so-bright: {report_value:.3g}\n  paths beyond it: {p:.0%}",
            color=DOWNSIDE,
            va="top",
        )
        title += f": {p:.0%}{of} paths beyond the report's not-so-bright figure"
    ax.set_title(title + (f" ({scenario})" if scenario else ""), fontsize=10)
    ax.set_xlabel(f"digital deficit 2040 [{units}]")
    ax.set_ylabel("share of paths [%]")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def _intervals(da: xr.DataArray, dim: str) -> tuple[list[str], np.ndarray]:
    flat = da.stack(sample=SAMPLE_DIMS).transpose(dim, "sample").values.astype(np.float64)
    q = np.quantile(flat, [0.05, 0.25, 0.5, 0.75, 0.95], axis=1)
    return [str(v) for v in da[dim].values], q


def strategy_forest(
    panels: list[tuple[str, xr.DataArray, dict[str, float]]],
    dim: str = "strategy",
    n_paths: int | None = None,
) -> Figure:
    """Side-by-side forest plots, one panel per (title, per-entity scalar, report figures).

    Each row: 90% interval (thin line), 50% interval (thick), median (white dot), the report's
    figure (red diamond). Values below zero are shaded for variables whose low side is bad.
    ``n_paths``: the run's paths; when more than were kept, the titles say so.
    """
    fig = Figure(figsize=(3.6 * len(panels) + 1.6, 0.45 * 4 + 1.3), layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (title, da, report) in zip(axes, panels):
        names, (q05, q25, q50, q75, q95) = _intervals(da, dim)
        y = np.arange(len(names))[::-1]
        ax.hlines(y, q05, q95, color=MODEL, linewidth=1.2, label="model 90%")
        ax.hlines(y, q25, q75, color=MODEL, linewidth=5, label="model 50%")
        ax.plot(q50, y, "o", color="white", markeredgecolor=MODEL, label="model median")
        marked = [(report[n], yy) for n, yy in zip(names, y) if n in report]
        if marked:
            xs, ys = zip(*marked)
            ax.plot(xs, ys, label="report", **REPORT_MARKER)
        if da.attrs.get("bad_side", "low") == "low" and q05.min() < 0:
            ax.axvspan(min(q05.min(), 0) * 1.1 - 0.1, 0, color=DOWNSIDE, alpha=DOWNSIDE_ALPHA)
        ax.axvline(0, color="grey", linewidth=0.6, linestyle=":")
        kept = kept_note(da.sizes["chain"] * da.sizes["draw"], n_paths)
        ax.set_title(title + kept.replace(" (", "\n(", 1), fontsize=10)
        ax.set_xlabel(f"[{da.attrs.get('units', 'tn JPY')}]")
        ax.spines[["top", "right"]].set_visible(False)
        ax.set_yticks(y, names)
    axes[-1].legend(loc="lower right", fontsize=7, frameon=False)
    return fig


def _sides(dt: xr.DataTree, table: pd.DataFrame) -> dict[str, str]:
    """``{variable: bad side}`` of the table's variables, from their ``bad_side`` attrs in
    ``dt`` (the engine's definition); variables it lacks are left out (no shading)."""
    out: dict[str, str] = {}
    if not {"group", "variable"} <= set(table.columns):
        return out
    for group, variable in table[["group", "variable"]].drop_duplicates().itertuples(index=False):
        if group in dt.children and variable in dt[group].to_dataset().data_vars:
            side = dt[group][variable].attrs.get("bad_side")
            if side in ("low", "high"):
                out[str(variable)] = side
    return out


def scenario_comparison(
    table: pd.DataFrame, max_panels: int = 8, sides: dict[str, str] | None = None
) -> tuple[Figure, list[str]]:
    """Paired differences of each scenario against the baseline (``scenarios.csv``).

    One panel per variable, one row per entity and scenario: the 5-95% range of the path-by-path
    difference (line) and its mean (dot); ``sides`` (``{variable: "low" | "high"}``, the
    variables' ``bad_side`` attrs) shades the bad side of zero. Returns the figure and the variables left out because
    their differences are zero on every path (e.g. investment, which no scenario changes).
    """
    need = {"variable", "entity", "scenario", "mean_diff", "diff_p05", "diff_p95"}
    missing = need - set(table.columns)
    if missing:
        raise ValueError(f"scenarios table lacks columns {sorted(missing)}")
    df = table.copy()
    df["entity"] = df["entity"].fillna("").astype(str)
    flat = (df[["mean_diff", "diff_p05", "diff_p95"]].abs().sum(axis=1) == 0).groupby(
        df["variable"]
    )
    zero = [v for v, all_zero in flat.all().items() if all_zero]
    variables = [v for v in dict.fromkeys(df["variable"]) if v not in zero][:max_panels]
    scenarios = list(dict.fromkeys(df["scenario"]))
    baseline = str(df["baseline"].iloc[0]) if "baseline" in df and len(df) else "baseline"
    ncols = 2 if len(variables) > 1 else 1
    nrows = max(1, -(-len(variables) // ncols))
    n_rows = [len(set(df.loc[df["variable"] == v, "entity"])) * len(scenarios) for v in variables]
    heights = [max(n_rows[r * ncols : (r + 1) * ncols] or [1]) for r in range(nrows)]
    fig = Figure(figsize=(10.0, 0.6 + sum(0.22 * h + 0.75 for h in heights)))
    fig.set_layout_engine("constrained")
    axes = fig.subplots(
        nrows,
        ncols,
        squeeze=False,
        gridspec_kw={"height_ratios": [0.22 * h + 0.5 for h in heights]},
    ).ravel()
    offsets = np.linspace(-0.18, 0.18, len(scenarios)) if len(scenarios) > 1 else [0.0]
    for ax, variable in zip(axes, variables):
        sub = df[df["variable"] == variable]
        entities = list(dict.fromkeys(sub["entity"]))
        y0 = np.arange(len(entities))[::-1]
        for off, scen in zip(offsets, scenarios):
            rows = sub[sub["scenario"] == scen].set_index("entity").reindex(entities)
            colour = SCENARIO_COLOURS.get(scen, "grey")
            ax.hlines(y0 + off, rows["diff_p05"], rows["diff_p95"], color=colour, linewidth=2)
            ax.plot(rows["mean_diff"], y0 + off, "o", color=colour, markersize=4, label=scen)
        lo = min(np.nanmin(sub["diff_p05"].to_numpy(dtype=float)), 0.0)
        hi = max(np.nanmax(sub["diff_p95"].to_numpy(dtype=float)), 0.0)
        side = (sides or {}).get(variable)
        if side == "low" and lo < 0:
            ax.axvspan(lo * 1.05, 0, color=DOWNSIDE, alpha=DOWNSIDE_ALPHA, linewidth=0)
        elif side == "high" and hi > 0:
            ax.axvspan(0, hi * 1.05, color=DOWNSIDE, alpha=DOWNSIDE_ALPHA, linewidth=0)
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.set_yticks(y0, [e or "(total)" for e in entities], fontsize=8)
        ax.set_ylim(y0.min() - 0.5, y0.max() + 0.5)
        ax.set_title(f"{variable}: scenario minus {baseline}", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes[len(variables) :]:
        ax.set_visible(False)
    if variables:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncols=len(labels), fontsize=8)
    return fig, zero


def _variable(dt: xr.DataTree, group: str, names: tuple[str, ...]) -> xr.DataArray | None:
    if group not in dt.children:
        return None
    ds = dt[group].to_dataset()
    for name in names:
        if name in ds.data_vars:
            return ds[name]
    return None


def make_headline_figures(
    dt: xr.DataTree,
    out_dir,
    formats=("png",),
    report: ReportFigures | None = None,
    scenario: str = "",
    scenarios: pd.DataFrame | None = None,
) -> list:
    """Write ``headline_deficit``, ``headline_strategies`` and ``scenarios`` figures into
    ``out_dir`` (each only when its data are there); return the paths.

    The strategy panels use the report-basis variables (``*_report_basis``, the basis of the
    report's strategy chart) when the run has them, else the plain ones.
    """
    from pathlib import Path

    from reports.figures import save_figure

    out_dir = Path(out_dir)
    report = report or ReportFigures()
    paths = []
    deficit = _variable(dt, "macro", ("digital_deficit_2040",))
    if deficit is not None and set(deficit.dims) == set(SAMPLE_DIMS):
        fig = deficit_distribution(deficit, report.deficit_2040, scenario, n_paths=run_paths(dt))
        paths += save_figure(fig, out_dir / "headline_deficit", formats)
    panels = []
    for names, title in (
        (("operating_profit_2040_report_basis", "operating_profit_2040"), "operating profit 2040"),
        (("investment_cum_2040_report_basis", "investment_cum_2040"), "investment 2026-40 (cum.)"),
    ):
        da = _variable(dt, "strategy", names)
        if da is not None:
            basis = ", report basis" if str(da.name).endswith("_report_basis") else ""
            panels.append((title + basis, da, report.for_variable(str(da.name))))
    if panels:
        fig = strategy_forest(panels, n_paths=run_paths(dt))
        paths += save_figure(fig, out_dir / "headline_strategies", formats)
    if scenarios is not None and len(scenarios):
        fig, _ = scenario_comparison(scenarios, sides=_sides(dt, scenarios))
        paths += save_figure(fig, out_dir / "scenarios", formats)
    return paths
