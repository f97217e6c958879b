"""Load a run directory: ``results.nc``, ``manifest.json`` and the CSV tables that exist.

Layout (written by the engine's CLI and :func:`jp2040.report.write_reports`)::

    RUN_DIR/results.nc        required: the results DataTree (docs/outputs.md): kept draws,
                              /stats (streaming statistics of all paths), /tails (exact tails)
    RUN_DIR/manifest.json     required: seed, resolved config, versions, device, overrides
    RUN_DIR/summary.csv, downside.csv, exceedance.csv, scenarios.csv, calibration.csv,
    RUN_DIR/sensitivity.csv, discovery.csv, discovery_text.txt      optional
    RUN_DIR/figures/*.png|svg  figures;  RUN_DIR/report.html
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import xarray as xr

from reports.io import write_csv_atomic, write_text_atomic

__all__ = [
    "CSV_TABLES",
    "RunData",
    "RunDirError",
    "load_run",
    "write_csv_atomic",
    "write_text_atomic",
]

RESULTS = "results.nc"
MANIFEST = "manifest.json"
FIGURES_DIR = "figures"
DISCOVERY_TEXT = "discovery_text.txt"
CSV_TABLES = (
    "summary",
    "downside",
    "exceedance",
    "scenarios",
    "calibration",
    "sensitivity",
    "discovery",
    "reverse",
)


class RunDirError(Exception):
    """A run directory lacks a required file, or a file cannot be read."""


@dataclass
class RunData:
    """What :func:`load_run` found. Tables absent from the directory are None."""

    path: Path
    manifest: dict
    datatree: xr.DataTree | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    discovery_text: str | None = None

    def __getattr__(self, name: str):
        # run.summary, run.downside, ...: the table or None.
        if name in CSV_TABLES:
            return self.tables.get(name)
        raise AttributeError(name)

    @property
    def figures_dir(self) -> Path:
        return self.path / FIGURES_DIR


def _read_manifest(path: Path) -> dict:
    if not path.is_file():
        raise RunDirError(f"{MANIFEST}: missing in {path.parent}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunDirError(f"{MANIFEST}: not valid JSON ({err}) in {path.parent}") from err
    if not isinstance(manifest, dict):
        raise RunDirError(f"{MANIFEST}: expected a JSON object, got {type(manifest).__name__}")
    return manifest


def _read_results(path: Path) -> xr.DataTree:
    if not path.is_file():
        raise RunDirError(f"{RESULTS}: missing in {path.parent}")
    try:
        tree = xr.open_datatree(path, engine="netcdf4")
        try:
            tree = tree.load()
        finally:
            tree.close()
    except Exception as err:  # netCDF4/HDF5 raise many types for a damaged file
        raise RunDirError(
            f"{RESULTS}: cannot be read, truncated or corrupt? ({type(err).__name__}: {err})"
        ) from err
    if not tree.children:
        raise RunDirError(f"{RESULTS}: has no groups (expected /domain, /strategy, ...)")
    return tree


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise RunDirError(f"{path.name}: cannot be read as CSV ({err})") from err
    if "entity" in df.columns:
        df["entity"] = df["entity"].astype("string").fillna("").astype(str)
    if "year" in df.columns:
        df["year"] = pd.array(df["year"], dtype="Int64")
    return df


def load_run(run_dir: str | os.PathLike, *, load_datatree: bool = True) -> RunData:
    """Load a run directory; raise :class:`RunDirError` naming the file that is missing or bad.

    ``load_datatree=False`` skips ``results.nc`` (enough to rebuild the HTML report).
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise RunDirError(f"run directory {path} does not exist")
    run = RunData(path=path, manifest=_read_manifest(path / MANIFEST))
    if load_datatree:
        run.datatree = _read_results(path / RESULTS)
    for name in CSV_TABLES:
        csv = path / f"{name}.csv"
        if csv.is_file():
            run.tables[name] = _read_csv(csv)
    text = path / DISCOVERY_TEXT
    if text.is_file():
        run.discovery_text = text.read_text(encoding="utf-8", errors="replace")
    return run
