"""The terminal headline of a run: median, VaR and ES of the headline outcomes from all paths.

The median is the ``p50`` of ``summary.csv`` (the engine's summary: exact when every path was
kept, else the streaming histogram of all paths, within one bin). VaR and ES come from
:func:`reports.downside.downside`, which reads the exact tail buffers (``/tails``,
reports.tails): from all n paths even when only ``engine.keep_paths`` of them were kept. A level
the buffers do not hold (a tail probability above ``engine.tail_alpha``, or a run without
buffers that kept fewer paths than it ran) is never passed off as all paths': the table leaves
it NaN (with the kept subsample's estimate beside it, ``var<level>_kept``) and the text prints
that estimate marked ``*`` with a line saying it comes from the kept paths only and which
setting gives it from all paths (``beyond`` where not even the kept paths have it). Units and
the bad side are the variables' ``units`` and ``bad_side`` attrs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import pandas as pd
import xarray as xr

from reports.downside import downside, run_paths
from reports.outcomes import HEADLINE_OUTCOMES
from reports.summaries import ReportOptionError

__all__ = ["ALPHAS", "headline_table", "headline_text"]

ALPHAS = (0.05, 0.01)
"""Tail probabilities of the headline: VaR95/ES95 and VaR99/ES99."""


def _summary(summary) -> pd.DataFrame | None:
    if summary is None or isinstance(summary, pd.DataFrame):
        return summary
    if not os.path.isfile(summary):
        return None
    return pd.read_csv(summary, keep_default_na=False, na_values=[""])


def _medians(summary: pd.DataFrame | None, group: str, variable: str) -> dict[str, tuple]:
    """``{entity: (p50, source)}`` of the summary's per-path scalar rows of one variable."""
    if summary is None or not {"group", "variable", "p50"} <= set(summary.columns):
        return {}
    rows = summary[(summary["group"] == group) & (summary["variable"] == variable)]
    if "year" in rows.columns:
        rows = rows[rows["year"].isna()]
    source = rows["quantiles_from"] if "quantiles_from" in rows.columns else [""] * len(rows)
    entity = rows["entity"].astype("string").fillna("").astype(str)
    return {e: (float(v), str(s)) for e, v, s in zip(entity, rows["p50"], source)}


def headline_table(
    dt: xr.DataTree,
    summary: pd.DataFrame | str | os.PathLike | None = None,
    outcomes: Sequence[tuple[str, str]] = HEADLINE_OUTCOMES,
    alphas: Sequence[float] = ALPHAS,
) -> pd.DataFrame:
    """One row per headline outcome x entity, values in the outcome's units.

    ``dt``: the run's results DataTree (with ``/tails``); ``summary``: ``summary.csv`` (a
    DataFrame or its path; None or a missing file: no median). Columns: ``group``,
    ``variable``, ``entity``, ``units``, ``side``, ``median``, ``median_from``, then per alpha
    ``var<100(1-alpha)>`` and ``es<...>`` (e.g. ``var95``, ``es95``; NaN where the level is
    beyond the tail buffers), ``var<...>_kept`` / ``es<...>_kept`` (there instead: the kept
    subsample's estimate) and ``source<...>`` (downside.csv's source of that level).
    Outcomes the run lacks are left out.
    """
    summ = _summary(summary)
    frames = []
    for group, variable in outcomes:
        if group not in dt.children or variable not in dt[group].to_dataset().data_vars:
            continue
        da = dt[group][variable]
        tail = downside(dt, alphas=list(alphas), variables=[f"{group}/{variable}"])
        tail["entity"] = tail["entity"].astype(str)
        medians = _medians(summ, group, variable)
        rows = tail[tail["alpha"] == alphas[0]][["group", "variable", "entity", "side"]]
        rows = rows.reset_index(drop=True)
        rows.insert(3, "units", str(da.attrs.get("units", "")))
        rows["median"] = [medians.get(e, (math.nan, ""))[0] for e in rows["entity"]]
        rows["median_from"] = [medians.get(e, (math.nan, ""))[1] for e in rows["entity"]]
        for alpha in alphas:
            level = _level(alpha)
            at = tail[tail["alpha"] == alpha].reset_index(drop=True)
            exact = at["source"].str.startswith(("tail buffer", "all "))  # else a subsample
            rows[f"var{level}"] = at["var"].where(exact)
            rows[f"es{level}"] = at["es"].where(exact)
            rows[f"var{level}_kept"] = at["var"].where(~exact)
            rows[f"es{level}_kept"] = at["es"].where(~exact)
            rows[f"source{level}"] = at["source"]
        frames.append(rows)
    if not frames:
        raise ReportOptionError(f"the run has none of the headline outcomes {list(outcomes)}")
    return pd.concat(frames, ignore_index=True)


def _level(alpha: float) -> str:
    return f"{100 * (1 - alpha):g}"


def _num(v: float, missing: str = "beyond") -> str:
    return missing if math.isnan(v) else f"{v:.2f}"


def _cell(exact: float, kept: float) -> str:
    """An all-path value, else the kept subsample's marked ``*``, else ``beyond``."""
    if not math.isnan(exact):
        return f"{exact:.2f}"
    return "beyond" if math.isnan(kept) else f"{kept:.2f}*"


def headline_text(
    dt: xr.DataTree,
    summary: pd.DataFrame | str | os.PathLike | None = None,
    outcomes: Sequence[tuple[str, str]] = HEADLINE_OUTCOMES,
    alphas: Sequence[float] = ALPHAS,
) -> str:
    """The terminal headline: :func:`headline_table` as aligned text with a line on where the
    numbers come from and, when a level is beyond the tail buffers, how to get it."""
    table = headline_table(dt, summary, outcomes, alphas)
    n_all = run_paths(dt)
    labels = [f"{r.variable}" + (f" [{r.entity}]" if r.entity else "") for r in table.itertuples()]
    width = max(len(x) for x in labels)
    uwidth = max(len("units"), *(len(u) for u in table["units"]))
    head = f"{'outcome':{width}s} {'units':{uwidth}s} {'bad':4s} {'median':>8s}"
    for alpha in alphas:
        level = _level(alpha)
        head += f" {'VaR' + level:>8s} {'ES' + level:>8s}"
    lines = [head]
    for label, r in zip(labels, table.to_dict("records")):
        line = (
            f"{label:{width}s} {r['units']:{uwidth}s} {r['side']:4s} {_num(r['median'], 'n/a'):>8s}"
        )
        for alpha in alphas:
            level = _level(alpha)
            for stat in ("var", "es"):
                line += f" {_cell(r[f'{stat}{level}'], r[f'{stat}{level}_kept']):>8s}"
        lines.append(line)
    paths = f"{n_all:,} paths" if n_all else "the run's paths"
    lines.append(
        f"All from {paths}: VaR{_level(alphas[0])} is the level {alphas[0]:.0%} of paths are "
        "worse than (on the bad side), ES the mean beyond it; "
        + (
            "medians n/a (no summary.csv)"
            if table["median"].isna().all()
            else "medians from summary.csv"
            + (
                " (histogram of all paths, within one bin)"
                if "histogram" in set(table["median_from"])
                else ""
            )
        )
        + "."
    )
    held = float(dt["tails"].attrs["alpha"]) if "tails" in dt.children else 0.0
    wide = [a for a in alphas if a > held and table[f"var{_level(a)}"].isna().any()]
    if wide:
        what = f"the worst {held:.3g} of all paths" if held else "nothing (no /tails)"
        levels = "/".join(_level(a) for a in wide)
        sizes = dt[table["group"].iloc[0]].sizes
        kept = int(sizes.get("chain", 1) * sizes.get("draw", 0)) or None
        lines.append(
            f"*: VaR/ES{levels} from the {f'{kept:,} ' if kept else ''}kept paths only: they need "
            f"the worst {max(wide):g} of all paths and the exact tail buffers hold {what}; rerun "
            f"with engine.tail_alpha={max(wide):g} (or keep every path) for them from all paths."
        )
    for alpha in (a for a in alphas if a not in wide):
        missing = table[table[f"var{_level(alpha)}"].isna()]
        if len(missing):
            names = ", ".join(
                f"{r.variable}" + (f" [{r.entity}]" if r.entity else "")
                for r in missing.itertuples()
            )
            lines.append(
                f"beyond at {_level(alpha)}: {names}: the paths sharing the VaR's value (a point "
                "mass) run past the tail buffer's end, so VaR/ES of all paths are not known."
            )
    return "\n".join(lines)
