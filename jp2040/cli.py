"""``jp2040 [hydra overrides]``: the entry point. The only place that sees a DictConfig.

The Hydra function is a thin wrapper around :func:`run_job`, which tests call directly. Every
file is written to a temporary name and renamed; a config error exits with status 2 before any
compile and writes no result files. Before compute the run directory is checked for writability
and space, and every failure is one line (``jp2040.faults``); Ctrl-C and SIGTERM stop at a chunk
boundary with a checkpoint (``engine.interrupt``); stage times go to the log and manifest.json.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from engine import interrupt
from engine.atomic import atomic_path
from engine.config import CONFIG_DIR, Config, ConfigError, from_dictconfig
from jp2040.faults import check_run_dir, on_full_disk, precheck_argv, run_guarded
from jp2040.stages import Stages

log = logging.getLogger("jp2040")

RESULT_FILES = ("results.nc", "summary.csv", "manifest.json")


def configure_devices(cfg: Config) -> None:
    """On CPU, split paths over ``engine.host_devices`` simulated host devices, before JAX
    starts. ``auto`` is 1: XLA:CPU already spreads each fused loop over the cores, and 2 devices
    were slower on a 2-core machine (bench/README.md, "Host devices"); the numbers do not depend
    on the device count."""
    e = cfg.engine
    if e.device == "gpu" or "jax" in sys.modules and _jax_started():
        return
    count = 1 if e.host_devices == "auto" else int(e.host_devices)
    flags = os.environ.get("XLA_FLAGS", "")
    if count > 1 and "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()
    if e.device == "cpu":
        os.environ.setdefault("JAX_PLATFORMS", "cpu")


def enable_compile_cache() -> None:
    """Persist compiled programs (``$JP2040_CACHE`` or ~/.cache/jp2040/xla): a second run of the
    same model skips most of its ~20 s compile on CPU."""
    import jax

    path = os.environ.get("JP2040_CACHE", os.path.expanduser("~/.cache/jp2040/xla"))
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 2.0)


def _jax_started() -> bool:
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge._backends)
    except Exception:  # pragma: no cover - private API moved
        return True


def write_netcdf_atomic(dt, path: Path) -> Path:
    """results.nc, zlib-compressed (engine.store.netcdf_encoding), written atomically."""
    from engine.store import netcdf_encoding

    with atomic_path(path) as tmp, on_full_disk(path, tmp):
        dt.to_netcdf(tmp, engine="netcdf4", encoding=netcdf_encoding(dt))
    return path


def write_run(result, run_dir: Path, stages=None):
    """summary.csv, manifest.json and results.nc in ``run_dir`` (each atomically; the small
    files first, so they are kept when the disk fills). ``stages``: an ``jp2040.stages.Stages``.

    Returns (paths written, the DataTree).
    """
    from reports.io import write_csv_atomic, write_text_atomic

    stages = stages or Stages()
    run_dir.mkdir(parents=True, exist_ok=True)
    with stages("summaries"):
        summary = result.summary()
        dt = result.to_datatree()
    with stages("write"):
        paths = [
            write_csv_atomic(summary, run_dir / "summary.csv"),
            write_text_atomic(
                json.dumps(result.manifest, indent=2, default=str), run_dir / "manifest.json"
            ),
            write_netcdf_atomic(dt, run_dir / "results.nc"),
        ]
    return paths, dt


SCENARIOS = ("capture", "not_so_bright", "mixed")
SCENARIO_VARIABLES = (
    "strategy/operating_profit_2040",
    "strategy/investment_cum_2040",
    "strategy/fcf_cum_2040",
    "macro/digital_deficit_2040",
    "macro/existing_value_added_2040",
    "macro/fiscal_effect_2040",
    "macro/social_security_savings_2040",
    "macro/investment_total_cum_2040",
    "macro/fx_2040",
    "macro/debt_to_gdp_2040",
    "macro/primary_balance_2040",
    "macro/gni_per_capita_2040",
)


SCENARIO_PATHS = 40_000  # paths (at least) on which the other scenarios are simulated


def write_scenarios(cfg: Config, dt, run_dir: Path, overrides=()) -> Path:
    """Simulate the other scenarios on the first paths of this run (same keys: common random
    numbers) and write ``scenarios.csv``: paired differences of each scenario against capture.

    The comparison uses the first ``n`` paths of every chain, n a multiple of the run's chunk
    (so the same compiled program runs) and at least SCENARIO_PATHS or the whole run.
    """
    from engine import simulate
    from engine.run import layout
    from reports.io import write_csv_atomic
    from reports.scenarios import compare_scenarios

    e = cfg.engine
    _, chunk = layout(cfg)
    n = min(e.n_paths, -(-SCENARIO_PATHS // chunk) * chunk, e.keep_paths)
    n -= n % e.chains
    per_chain = n // e.chains
    dts = {cfg.scenario.name: dt.isel(draw=slice(0, per_chain))}
    for name in SCENARIOS:
        if name not in dts:
            other = cfg.with_scenario(name).with_engine(n_paths=n, chunk_size=chunk)
            dts[name] = simulate(other, overrides=overrides).to_datatree()
    table = compare_scenarios(dts, baseline="capture", variables=SCENARIO_VARIABLES)
    return write_csv_atomic(table, run_dir / "scenarios.csv")


def run_job(cfg: Config, run_dir: Path, overrides=()) -> int:
    """Run one job for a validated config; returns the exit status."""
    if cfg.report.provenance or cfg.mode == "provenance":
        from engine.provenance import provenance_table

        print(provenance_table(cfg).to_string(index=False))
        return 0
    configure_devices(cfg)
    enable_compile_cache()
    if cfg.mode == "prior":
        from engine.prior import prior_check

        print(prior_check(cfg).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        return 0
    if cfg.mode == "calibrate":
        from jp2040.calibration import run_calibration

        return run_calibration(cfg, run_dir, overrides)
    if cfg.mode == "reverse":
        from jp2040.reverse_job import run_reverse

        return run_reverse(cfg, run_dir, overrides)
    if cfg.mode in ("baseline", "check"):  # regression checks for CI: exit 0 / 1 / 2
        from jp2040.regression import run_regression

        return run_regression(cfg, run_dir, overrides)
    if cfg.mode == "sweep":  # many parameter points, one compiled program, paired
        from jp2040.sweep_job import run_sweep

        return run_sweep(cfg, run_dir, overrides)

    from engine import simulate
    from jp2040.report import write_reports
    from jp2040.tails import write_explanation_of
    from reports.headline import headline_text

    # saved every engine.checkpoint_every chunks and on Ctrl-C/SIGTERM (engine.interrupt)
    checkpoint = run_dir / "checkpoint.npz"
    check_run_dir(cfg, run_dir, checkpoint)  # before compute: writable, enough space
    stages = Stages()
    with stages("simulate"), interrupt.graceful():
        result = simulate(cfg, overrides=overrides, checkpoint=checkpoint)
    written, dt = write_run(result, run_dir, stages)
    if checkpoint.exists():
        checkpoint.unlink()  # the results are whole: nothing left to resume
    stage = _stages(cfg, 3 if cfg.report.scenarios else 2)
    if cfg.report.scenarios:
        stage("other scenarios on the same paths")
        with stages("scenarios"):
            written.append(write_scenarios(cfg, dt, run_dir, overrides))
    stage("what drives the downside")
    with stages("sensitivity"):
        written += write_explanation_of(
            result, run_dir, dt, cfg.report.sensitivity, cfg.report.formats
        )
    stage("figures and report.html")
    written += write_reports(run_dir, dt, cfg, stages=stages)
    stage(None)
    log.info("wrote %d files: %s", len(written), ", ".join(str(p) for p in written))
    write_stage_times(result.manifest, stages, run_dir)
    if cfg.report.headline:
        m = result.manifest
        print(headline_text(dt, run_dir / "summary.csv"))
        print(
            f"{cfg.engine.n_paths:,} paths, {m.get('paths_per_s', 0):,.0f} paths/s; "
            f"{len(written)} files in {run_dir} (listed in the run's log)"
        )
        report = run_dir / "report.html"
        print(f"open: {report}" if report.exists() else f"outputs: {run_dir}")
    return 0


def write_stage_times(manifest: dict, stages: Stages, run_dir: Path) -> None:
    """Log the stage times and add them to manifest.json (``stage_times_s``, ``total_time_s``)."""
    from reports.io import write_text_atomic

    manifest.update(stage_times_s=dict(stages.times), total_time_s=stages.total())
    log.info("stages: %s", stages.line())
    write_text_atomic(json.dumps(manifest, indent=2, default=str), run_dir / "manifest.json")


def _stages(cfg: Config, total: int):
    """On a terminal (engine.progress auto or true), a bar over the report stages after the
    simulation; each call names the next stage, None closes it. Log lines otherwise."""
    if cfg.engine.progress is True or (cfg.engine.progress == "auto" and sys.stderr.isatty()):
        from tqdm import tqdm

        bar = tqdm(total=total, unit="stage", leave=False, bar_format="{desc} {n}/{total}")

        def step(name):
            if name is None:
                bar.close()
            else:
                bar.set_description_str(f"report: {name}")
                bar.update(1)

        return step

    def log_step(name):
        if name is not None:
            log.info("report: %s", name)

    return log_step


def main() -> None:
    import hydra
    from omegaconf import DictConfig

    from jp2040.malloc import keep_freed_memory

    try:
        keep_freed_memory()  # before JAX starts its CPU client (process-wide: the CLI's choice)
    except ValueError as err:
        sys.stderr.write(f"error: {err}\n")
        sys.exit(2)
    logging.raiseExceptions = False  # a log file on a full disk: no traceback on the terminal
    unwritable = precheck_argv(sys.argv[1:])  # Hydra would fail with a traceback
    if unwritable:
        sys.stderr.write(unwritable + "\n")
        sys.exit(2)

    @hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
    def _main(dcfg: DictConfig) -> None:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
        run_dir = Path(hc.runtime.output_dir)
        try:
            cfg = from_dictconfig(dcfg)
        except ConfigError as err:
            log.error("config error: %s", err)
            _remove_empty(run_dir)
            sys.exit(2)
        interrupt.install()
        given = any(o.lstrip("+").startswith("hydra.run.dir=") for o in hc.overrides.hydra)
        status = run_guarded(
            lambda: run_job(cfg, run_dir, overrides=list(hc.overrides.task)), run_dir, given
        )
        if status:
            sys.exit(status)

    _main()


def _remove_empty(run_dir: Path) -> None:
    """Drop Hydra's own files for a run that never started, so no result-like folder is left."""
    for name in RESULT_FILES:
        if (run_dir / name).exists():
            return
    hydra_dir = run_dir / ".hydra"
    for p in sorted(run_dir.rglob("*"), reverse=True) if run_dir.exists() else []:
        if p.is_file() and (p.parent == hydra_dir or p.suffix == ".log"):
            p.unlink()
        elif p.is_dir() and not any(p.iterdir()):
            p.rmdir()
    if run_dir.exists() and not any(run_dir.iterdir()):
        run_dir.rmdir()
