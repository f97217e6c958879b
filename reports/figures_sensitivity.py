"""Figures for the sensitivity and scenario-discovery tables.

Each function takes the DataFrame (or :class:`reports.discovery.PrimResult`) produced in
:mod:`reports.sensitivity` / :mod:`reports.discovery` and returns a
:class:`matplotlib.figure.Figure`. Figures are built without ``pyplot`` (no global state, no GUI
backend); save them with ``fig.savefig(path)``, which renders through Agg.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["plot_tornado", "plot_indices", "plot_prim_tradeoff"]

_LOW_COLOUR = "#3b6ea8"
_HIGH_COLOUR = "#d9822b"


def plot_tornado(
    df: pd.DataFrame,
    outcome_label: str,
    units: str,
    baseline: float | None = None,
    max_drivers: int = 15,
) -> Figure:
    """Tornado chart of :func:`reports.sensitivity.tornado` output.

    One row per driver (largest swing on top); bars run from the baseline to the median outcome
    when the driver sits near its low quantile (blue) and near its high quantile (orange).

    Parameters
    ----------
    df : DataFrame
        Columns ``median_low``, ``median_high`` (``swing`` optional), indexed by driver.
    outcome_label : str
        Name of the outcome, e.g. ``"Operating profit 2040"``.
    units : str
        Units of the outcome, e.g. ``"JPY tn"``.
    baseline : float, optional
        Reference value; default ``df.attrs["median"]`` (the overall median set by ``tornado``)
        or, failing that, the mean of the window medians.
    max_drivers : int
        Show at most this many drivers.

    Returns
    -------
    Figure
    """
    for col in ("median_low", "median_high"):
        if col not in df.columns:
            raise ValueError(f"tornado frame needs column {col!r}; got {list(df.columns)}")
    d = df.dropna(subset=["median_low", "median_high"])
    swing = d["swing"] if "swing" in d else (d["median_high"] - d["median_low"]).abs()
    d = d.loc[swing.sort_values(ascending=False).index[:max_drivers]]
    if baseline is None:
        baseline = df.attrs.get("median")
    if baseline is None:
        baseline = float(np.nanmean(d[["median_low", "median_high"]].to_numpy()))
    fig = Figure(figsize=(7.0, 0.45 * max(len(d), 2) + 1.2), layout="constrained")
    ax = fig.add_subplot()
    ypos = np.arange(len(d))[::-1]
    ax.barh(
        ypos,
        d["median_low"] - baseline,
        left=baseline,
        color=_LOW_COLOUR,
        label="driver near low quantile",
    )
    ax.barh(
        ypos,
        d["median_high"] - baseline,
        left=baseline,
        color=_HIGH_COLOUR,
        alpha=0.85,
        label="driver near high quantile",
    )
    ax.axvline(baseline, color="black", lw=0.8)
    ax.set_yticks(ypos, [str(i) for i in d.index])
    ax.set_xlabel(f"median {outcome_label} ({units})")
    ax.set_ylabel("driver")
    ax.set_title(f"What moves {outcome_label}:\nmedian outcome by driver window")
    ax.legend(loc="best", fontsize="small")
    return fig


def plot_indices(df: pd.DataFrame, indices: list[str] | None = None) -> Figure:
    """Horizontal bars per driver for each index, with interval whiskers.

    Works for :func:`reports.sensitivity.given_data_indices` (``first_order``, ``spearman``,
    ``pawn``) and :func:`reports.sensitivity.sobol` (``S1``, ``ST``) frames: every column
    ``name`` gets a panel, with whiskers from ``name_lo`` / ``name_hi`` when present.
    Drivers are ordered by the first index (largest on top).

    Parameters
    ----------
    df : DataFrame
        Indexed by driver.
    indices : list of str, optional
        Which columns to draw; default every column not ending in ``_lo`` / ``_hi``.

    Returns
    -------
    Figure
    """
    if indices is None:
        indices = [c for c in df.columns if not str(c).endswith(("_lo", "_hi"))]
    if not indices:
        raise ValueError("no index columns to plot")
    missing = [c for c in indices if c not in df.columns]
    if missing:
        raise ValueError(f"columns not in frame: {missing}")
    d = df.reindex(df[indices[0]].abs().sort_values(ascending=True, na_position="first").index)
    fig = Figure(
        figsize=(3.2 * len(indices) + 1.0, 0.35 * max(len(d), 3) + 1.2), layout="constrained"
    )
    axes = fig.subplots(1, len(indices), sharey=True, squeeze=False)[0]
    ypos = np.arange(len(d))
    for ax, name in zip(axes, indices):
        v = d[name].to_numpy(dtype=float)
        xerr = None
        if f"{name}_lo" in d and f"{name}_hi" in d:
            lo = d[f"{name}_lo"].to_numpy(dtype=float)
            hi = d[f"{name}_hi"].to_numpy(dtype=float)
            xerr = np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)])
        ax.barh(ypos, v, xerr=xerr, color=_LOW_COLOUR, ecolor="black", capsize=2)
        ax.axvline(0.0, color="black", lw=0.6)
        ax.set_title(name)
        ax.set_xlabel(f"{name} (dimensionless)")
    axes[0].set_yticks(ypos, [str(i) for i in d.index])
    axes[0].set_ylabel("driver")
    return fig


def plot_prim_tradeoff(result) -> Figure:
    """Coverage-density trade-off along a PRIM peeling trajectory.

    Parameters
    ----------
    result : reports.discovery.PrimResult

    Returns
    -------
    Figure
        Points coloured by the number of restricted drivers; the chosen step is starred and,
        when pasting was on, the pasted box is marked too.
    """
    traj = result.trajectory
    fig = Figure(figsize=(6.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    sc = ax.scatter(
        traj["coverage"], traj["density"], c=traj["n_restricted"], cmap="viridis", s=18, zorder=2
    )
    ax.plot(traj["coverage"], traj["density"], color="grey", lw=0.6, zorder=1)
    fig.colorbar(sc, ax=ax, label="restricted drivers (count)")
    ch = traj.loc[result.chosen_step]
    ax.scatter(
        [ch["coverage"]],
        [ch["density"]],
        marker="*",
        s=220,
        color="crimson",
        zorder=3,
        label=f"chosen step {result.chosen_step}",
    )
    if result.pasting:
        st = result.stats()
        ax.scatter(
            [st["coverage"]],
            [st["density"]],
            marker="D",
            s=50,
            facecolor="none",
            edgecolor="crimson",
            zorder=3,
            label="chosen box after pasting",
        )
    ax.set_xlabel("coverage (share of cases of interest in box)")
    ax.set_ylabel("density (share of box that are cases of interest)")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title("PRIM peeling trajectory")
    ax.legend(loc="lower left", fontsize="small")
    return fig
