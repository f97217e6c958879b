"""Collect a Hydra multirun sweep: one row per run, swept values and headline numbers.

Each run directory under the sweep directory has ``manifest.json`` (with ``overrides``, the
Hydra ``key=value`` strings; ``.hydra/overrides.yaml`` is the fallback) and the tables written
by :func:`jp2040.report.write_reports`. Headline columns:

- ``P(<variable>[<entity>] > <t>)`` (or ``<``): every row of ``exceedance.csv``;
- ``ES<alpha>(<variable>[<entity>])``: ``downside.csv`` rows of the ``strategy`` and ``macro``
  groups at the largest alpha;
- ``p50(<variable>[<entity>])``: medians of ``strategy`` and ``macro`` scalars (``summary.csv``).

When every run shares the seed, the path count and the chains (the runs saw the same paths:
common random numbers), the paired differences against the first run are added for the
:data:`PAIRED` outcomes from the kept per-path values in ``results.nc``:
``<outcome>:diff``, ``<outcome>:diff_mcse`` (paired) and ``<outcome>:diff_mcse_unpaired`` (what
independent runs would give), with ``<outcome>:n``, the paths behind them: the kept paths
(``engine.keep_paths``) of a Hydra multirun, every path in ``mode=sweep``. ``mode=sweep`` writes the same columns (:func:`point_table`).
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from reports.io import write_bytes_atomic, write_csv_atomic
from reports.outcomes import HEADLINE_OUTCOMES

__all__ = ["collect_sweep", "parse_override", "write_sweep"]

log = logging.getLogger(__name__)
HEADLINE_GROUPS = ("strategy", "macro")
MAX_PANELS = 6


def parse_override(text: str) -> tuple[str, object]:
    """``"engine.n_paths=1000"`` -> ``("engine.n_paths", 1000)`` (``+``/``++``/``~`` dropped)."""
    key, sep, value = text.partition("=")
    if not sep:
        return key.lstrip("+~"), None
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = value
    if isinstance(parsed, (dict, list)):
        parsed = value
    return key.lstrip("+~"), parsed


def _label(row) -> str:
    entity = row.get("entity")
    if isinstance(entity, str) and entity:
        return f"{row['variable']}[{entity}]"
    return str(row["variable"])


def _read(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError):
        log.warning("sweep: cannot read %s; skipped", path)
        return None


def _overrides(run_dir: Path, manifest: dict) -> list[str]:
    if isinstance(manifest.get("overrides"), list):
        return [str(o) for o in manifest["overrides"]]
    hydra_file = run_dir / ".hydra" / "overrides.yaml"
    if hydra_file.is_file():
        return [str(o) for o in yaml.safe_load(hydra_file.read_text()) or []]
    return []


def _headlines(run_dir: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    ex = _read(run_dir / "exceedance.csv")
    if ex is not None:
        for _, row in ex.iterrows():
            op = ">" if row["side"] == "high" else "<"
            out[f"P({_label(row)} {op} {row['threshold']:g})"] = float(row["probability"])
    down = _read(run_dir / "downside.csv")
    if down is not None and len(down):
        alpha = down["alpha"].max()
        rows = down[(down["alpha"] == alpha) & down["group"].isin(HEADLINE_GROUPS)]
        for _, row in rows.iterrows():
            out[f"ES{alpha:g}({_label(row)})"] = float(row["es"])
    summary = _read(run_dir / "summary.csv")
    if summary is not None and "p50" in summary.columns:
        keep = summary["group"].isin(HEADLINE_GROUPS) & summary["year"].isna()
        for _, row in summary[keep].iterrows():
            out[f"p50({_label(row)})"] = float(row["p50"])
    return out


PAIRED = HEADLINE_OUTCOMES
"""(group, variable) of the outcomes with paired statistics (per entity where it has one)."""


def per_path_values(tree) -> dict[str, np.ndarray]:
    """``{outcome: (n,) float64}`` of the :data:`PAIRED` outcomes from a results DataTree (or an
    engine result's ``to_datatree()``), in path order (chain, then draw)."""
    out = {}
    for group, var in PAIRED:
        try:
            da = tree[group][var]
        except KeyError:
            continue
        dims = [d for d in da.dims if d not in ("chain", "draw")]
        if dims:
            for entity in da[dims[0]].values:
                x = da.sel({dims[0]: entity}).values
                out[f"{var}[{entity}]"] = np.asarray(x, np.float64).ravel()
        else:
            out[var] = np.asarray(da.values, np.float64).ravel()
    return out


def paired_statistics(values: list[dict[str, np.ndarray]]) -> list[dict[str, float]]:
    """Per point: each outcome's paths ``n``, mean with MCSE, p05/p50/p95, and the paired
    difference against the first point (``diff``, ``diff_mcse``) beside the MCSE of the same difference from
    independent runs (``diff_mcse_unpaired``). Paths are i.i.d. across draws and chains, so the
    MCSE of a mean is sd / sqrt(n)."""
    first = values[0]
    rows = []
    for vals in values:
        row = {}
        for name, x in vals.items():
            if name not in first or len(first[name]) != len(x):
                continue
            n = len(x)
            d = x - first[name]
            q05, q50, q95 = np.quantile(x, [0.05, 0.5, 0.95])
            row.update(
                {
                    f"{name}:n": n,
                    f"{name}:mean": x.mean(),
                    f"{name}:mcse": x.std(ddof=1) / np.sqrt(n),
                    f"{name}:p05": q05,
                    f"{name}:p50": q50,
                    f"{name}:p95": q95,
                    f"{name}:diff": d.mean(),
                    f"{name}:diff_mcse": d.std(ddof=1) / np.sqrt(n),
                    f"{name}:diff_mcse_unpaired": np.sqrt(
                        (x.var(ddof=1) + first[name].var(ddof=1)) / n
                    ),
                }
            )
        rows.append(row)
    return rows


def _paired_columns(runs: list[Path], manifests: list[dict]) -> list[dict[str, float]] | None:
    """The paired columns of a multirun whose runs share seed, paths and chains; else None."""
    keys = {
        (m.get("seed"), m.get("n_paths"), m.get("chains")) for m in manifests if isinstance(m, dict)
    }
    if len(keys) != 1 or len(runs) < 2:
        return None
    import xarray as xr

    values = []
    for run_dir in runs:
        path = run_dir / "results.nc"
        if not path.is_file():
            return None
        with xr.open_datatree(path, engine="netcdf4") as tree:
            values.append(per_path_values(tree))
    return paired_statistics(values)


def _natural_key(path: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def collect_sweep(sweep_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per run directory of a sweep: ``run``, the swept keys, then headline columns.

    Run directories are the sub-directories holding ``manifest.json`` (sorted naturally: 0, 1,
    ..., 10). Swept values are parsed as YAML scalars (``1000`` -> int, ``0.5`` -> float).
    """
    sweep_dir = Path(sweep_dir)
    runs = sorted({p.parent for p in sweep_dir.glob("*/manifest.json")}, key=_natural_key)
    records, swept, used, manifests = [], [], [], []
    for run_dir in runs:
        try:
            manifest = json.loads(run_dir.joinpath("manifest.json").read_text())
        except (OSError, json.JSONDecodeError):
            log.warning("sweep: bad manifest.json in %s; run skipped", run_dir)
            continue
        used.append(run_dir)
        manifests.append(manifest)
        record: dict[str, object] = {"run": run_dir.name}
        for text in _overrides(run_dir, manifest):
            key, value = parse_override(text)
            record[key] = value
            if key not in swept:
                swept.append(key)
        record.update(_headlines(run_dir))
        records.append(record)
    try:
        paired = _paired_columns(used, manifests)
    except Exception as err:  # noqa: BLE001 - the headline table stands without them
        log.warning("sweep: paired differences skipped (%s)", err)
        paired = None
    if paired is not None:
        for record, extra in zip(records, paired, strict=True):
            record.update({k: v for k, v in extra.items() if ":" in k and "diff" in k})
    df = pd.DataFrame.from_records(records)
    if df.empty:
        return pd.DataFrame(columns=["run"])
    headline = [c for c in df.columns if c != "run" and c not in swept]
    df = df[["run", *swept, *headline]]
    df.attrs["swept"] = swept
    return df


def _sweep_figure(df: pd.DataFrame, swept: list[str]) -> Figure:
    headline = [c for c in df.columns if c != "run" and c not in swept and ":" not in c]
    headline = headline[:MAX_PANELS]
    ncols = min(3, max(1, len(headline)))
    nrows = max(1, -(-len(headline) // ncols))
    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    xkey = swept[0] if swept else "run"
    xs = df[xkey]
    numeric = pd.api.types.is_numeric_dtype(xs)
    categories = list(dict.fromkeys(xs.astype(str)))
    xpos = xs.astype(float) if numeric else xs.astype(str).map(categories.index)
    groups = df.groupby(swept[1], sort=True) if len(swept) > 1 else [(None, df)]
    for ax, col in zip(axes, headline):
        for key, part in groups:
            order = np.argsort(xpos[part.index].to_numpy())
            ax.plot(
                xpos[part.index].to_numpy()[order],
                part[col].to_numpy()[order],
                "o-",
                label=None if key is None else f"{swept[1]}={key}",
            )
        ax.set_title(col, fontsize="small")
        ax.set_xlabel(xkey)
        if not numeric:
            ax.set_xticks(range(len(categories)), categories, rotation=30)
        if len(swept) > 1:
            ax.legend(fontsize="x-small")
    for ax in axes[len(headline) :]:
        ax.set_visible(False)
    fig.suptitle("sweep: headline outcomes vs swept values")
    return fig


def write_sweep(sweep_dir: str | os.PathLike) -> list[Path]:
    """Write ``sweep.csv`` and ``sweep.png`` into the sweep directory; return their paths."""
    sweep_dir = Path(sweep_dir)
    df = collect_sweep(sweep_dir)
    swept = df.attrs.get("swept", [])
    paths = [write_csv_atomic(df, sweep_dir / "sweep.csv")]
    if len(df):
        import io

        buffer = io.BytesIO()
        _sweep_figure(df, swept).savefig(buffer, format="png", dpi=110)
        paths.append(write_bytes_atomic(buffer.getvalue(), sweep_dir / "sweep.png"))
    return paths
