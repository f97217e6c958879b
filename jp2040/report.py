"""``jp2040-report RUN_DIR``: rebuild tables, figures and report.html without re-simulating.

From a results.nc with ``/stats`` (the streaming statistics of all paths) and ``/tails`` (exact
tail buffers) it rebuilds every table the run wrote except ``scenarios.csv`` (which simulates the
other scenarios): ``summary.csv`` with the engine's own summary, ``sensitivity.csv``,
``discovery.csv`` and their figures, ``downside.csv``/``exceedance.csv`` from the tail buffers.
Also :func:`write_reports`, which the engine's CLI calls at the end of a run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import xarray as xr

from engine.config import group_defaults
from reports.downside import DEFAULT_THRESHOLDS, downside, exceedance
from reports.figures import FORMATS, make_figures
from reports.figures_headline import make_headline_figures
from reports.html import build_report
from reports.io import write_csv_atomic
from reports.rundir import FIGURES_DIR, MANIFEST, RunDirError, _read_csv, load_run
from reports.summaries import ReportOptionError
from reports.targets import report_figures

__all__ = ["DEFAULT_REPORT", "main", "write_reports"]

DEFAULT_REPORT = {
    k: v
    for k, v in group_defaults("report").items()
    if k in ("alphas", "thresholds", "figures", "formats", "html")
}
"""Defaults for ``cfg_report``: those of the ``report`` config group (configs/report/default.yaml)."""


def write_reports(
    run_dir: str | os.PathLike,
    dt: xr.DataTree,
    cfg_report: dict | None = None,
    *,
    overwrite_tables: bool = True,
    stages=None,
) -> list[Path]:
    """Write downside.csv, exceedance.csv, figures and report.html; return the paths written.

    ``cfg_report`` keys (missing keys take :data:`DEFAULT_REPORT`): ``alphas`` (list of tail
    probabilities), ``thresholds`` (list of dicts, see :func:`reports.downside.exceedance`, or
    None for the defaults), ``figures`` (bool), ``formats`` (list of ``png``/``svg``/``pdf``;
    the HTML embeds the PNGs, so ``png`` is always written when figures are on), ``html``
    (bool). ``summary.csv`` is the engine's (the run itself or :func:`rebuild_engine_tables`);
    it is never written here.
    With ``overwrite_tables=False`` existing downside/exceedance CSVs are kept. ``stages``:
    an ``jp2040.stages.Stages`` timing ``summaries``, ``figures`` and ``html``.
    """
    if not isinstance(dt, xr.DataTree) and hasattr(dt, "to_datatree"):
        dt = dt.to_datatree()  # an engine result object
    cfg = {**DEFAULT_REPORT, **_report_options(cfg_report)}
    run_dir = Path(run_dir)
    stage = stages or (lambda name: contextlib.nullcontext())
    written: list[Path] = []
    with stage("summaries"):
        if overwrite_tables or not (run_dir / "downside.csv").exists():
            table = downside(dt, alphas=list(cfg["alphas"]))
            written.append(write_csv_atomic(table, run_dir / "downside.csv"))
        if overwrite_tables or not (run_dir / "exceedance.csv").exists():
            thresholds = cfg["thresholds"]
            specs = _default_thresholds(dt) if thresholds is None else [dict(t) for t in thresholds]
            table = exceedance(dt, specs)
            written.append(write_csv_atomic(table, run_dir / "exceedance.csv"))
    if cfg["figures"]:
        formats = list(dict.fromkeys(["png", *cfg["formats"]])) if cfg["html"] else cfg["formats"]
        with stage("figures"):
            manifest = _manifest(run_dir)
            report = report_figures(manifest)
            summary = (
                _read_csv(run_dir / "summary.csv") if (run_dir / "summary.csv").is_file() else None
            )
            written += make_figures(
                dt, run_dir / FIGURES_DIR, formats, report.deficit_2040, summary
            )
            scen = run_dir / "scenarios.csv"
            written += make_headline_figures(
                dt,
                run_dir / FIGURES_DIR,
                formats,
                report,
                str(manifest.get("scenario", "")),
                _read_csv(scen) if scen.is_file() else None,
            )
    if cfg["html"]:
        with stage("html"):
            written.append(build_report(run_dir))
    return written


def _default_thresholds(dt: xr.DataTree) -> list[dict]:
    """:data:`reports.downside.DEFAULT_THRESHOLDS` and P(fcf_cum_2040 < 0) per strategy (a
    cumulative cash loss by 2040: the investment has not paid back), when the run has it."""
    specs = [dict(t) for t in DEFAULT_THRESHOLDS]
    has_fcf = "strategy" in dt.children and "fcf_cum_2040" in dt["strategy"].to_dataset()
    if has_fcf and not any(t["variable"] == "fcf_cum_2040" for t in specs):
        specs.append(
            {
                "group": "strategy",
                "variable": "fcf_cum_2040",
                "entity": "*",
                "year": None,
                "threshold": 0.0,
                "side": "low",
            }
        )
    return specs


def _manifest(run_dir: Path) -> dict:
    import json

    try:
        manifest = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _report_options(cfg) -> dict:
    """``cfg_report`` as a plain dict: a dict, a DictConfig, a dataclass, or a full config
    with a ``report`` entry. Only the keys of :data:`DEFAULT_REPORT` are used."""
    if cfg is None:
        return {}
    report = cfg.get("report", cfg) if isinstance(cfg, Mapping) else getattr(cfg, "report", cfg)
    if dataclasses.is_dataclass(report) and not isinstance(report, type):
        report = dataclasses.asdict(report)
    elif not isinstance(report, Mapping):
        from omegaconf import OmegaConf

        report = OmegaConf.to_container(report, resolve=True)
    return {
        k: report[k]
        for k in DEFAULT_REPORT
        if k in report and report[k] is not None or (k == "thresholds" and k in report)
    }


def rebuild_engine_tables(run, formats, recompute: bool = False) -> list[Path]:
    """summary.csv (the engine's summary: streaming statistics of all paths) and the
    sensitivity/discovery outputs, from a results.nc that has ``/stats``; each only when missing
    or ``recompute``. An older results.nc without ``/stats`` is left to :func:`write_reports`."""
    dt = run.datatree
    if dt is None or "stats" not in dt.children:
        return []
    from engine.store import result_from_datatree
    from jp2040.tails import write_explanation_of

    result = result_from_datatree(dt)
    written: list[Path] = []
    if recompute or not (run.path / "summary.csv").exists():
        written.append(write_csv_atomic(result.summary(), run.path / "summary.csv"))
    if recompute or not (run.path / "discovery_text.txt").exists():
        setting = result.cfg.report.sensitivity
        written += write_explanation_of(result, run.path, dt, setting, formats)
    return written


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jp2040-report",
        description="Rebuild downside/exceedance tables, figures and report.html of a run "
        "directory without re-simulating.",
    )
    parser.add_argument(
        "run_dir", help="run directory with results.nc and manifest.json (or a sweep directory)"
    )
    parser.add_argument(
        "--sweep", action="store_true", help="rebuild sweep.csv and sweep.png of a multirun dir"
    )
    parser.add_argument(
        "--formats", default="png", help=f"figure formats, comma separated ({','.join(FORMATS)})"
    )
    parser.add_argument("--no-figures", action="store_true", help="do not draw figures")
    parser.add_argument(
        "--recompute",
        action="store_true",
        help="recompute the tables that exist (summary, downside, exceedance, sensitivity, "
        "discovery)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``jp2040-report``; returns the exit code (2 on a bad run directory)."""
    args = _parser().parse_args(argv)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if args.sweep:
        from reports.sweep import write_sweep

        written = write_sweep(args.run_dir)
        if not written:
            print(f"jp2040-report: error: no runs found in {args.run_dir}", file=sys.stderr)
            return 2
        for path in written:
            print(path)
        return 0
    try:
        run = load_run(args.run_dir)
        figure_formats = [] if args.no_figures else formats
        written = rebuild_engine_tables(run, figure_formats, recompute=args.recompute)
        written += write_reports(
            run.path,
            run.datatree,
            {"figures": not args.no_figures, "formats": formats},
            overwrite_tables=args.recompute,
        )
    except (RunDirError, ReportOptionError) as err:
        print(f"jp2040-report: error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
