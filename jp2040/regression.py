"""Regression checks for a user's CI: ``jp2040 mode=baseline`` and ``jp2040 mode=check``.

``mode=baseline [overrides]`` simulates, writes the usual ``results.nc``, ``summary.csv`` and
``manifest.json`` (no figures or report: ``jp2040-report DIR`` builds them) and two files:

- ``baseline.csv``: every ``summary.csv`` row with the Monte Carlo standard error of each
  statistic (``mcse_mean``, ``mcse_sd``, ``mcse_p05``, ``mcse_p50``, ``mcse_p95``; engine/mcse.py)
  and ``quantile_n``, the paths behind the row's quantiles;
- ``baseline.json``: what the numbers came from: the model overrides (replayed by the check),
  the resolved config and its fingerprint (``engine.checkpoint.run_fingerprint``), seed, engine
  settings, package versions, platform, git revision, the structure (domain, strategy and area
  ids, years, rows) and the SHA-256 of ``baseline.csv`` (a file edited or swapped is refused).

``mode=check check.baseline=PATH [overrides]`` (PATH: the baseline's run directory, its
``baseline.csv`` or ``baseline.json``) composes the baseline's overrides with ``overrides`` on top
against the current config files, so a changed YAML, a changed model or an override all show;
refuses before any compute when the structure differs; simulates; compares every statistic
(mean, sd, p05, p50, p95 of every row); writes ``check.csv``; prints the rows that moved most;
returns 0 (pass), 1 (drift) or 2 (not comparable: another structure, missing rows, an exact check
across seeds, versions or platforms, a missing or corrupt baseline).

``check.mode`` (exact, statistical, auto) and the tolerances: engine/drift.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from pathlib import Path

from engine.config import ConfigError
from engine.drift import KEY, STATISTICS, compare, verdict
from engine.mcse import BIN_COLUMNS
from engine.mcse import COLUMNS as MCSE_COLUMNS

log = logging.getLogger("jp2040.regression")

FORMAT, VERSION = "jp2040-baseline", 1
EXACT_ENGINE = ("seed", "n_paths", "chains", "dtype", "keep_paths", "keep_trajectories")
EXACT_ENGINE += ("histogram_bins", "chunk_size")  # chunk_size: the histogram's pilot (drift.py)
PASS, DRIFT, NOT_COMPARABLE = 0, 1, 2
NOT_NUMBERS = ("mode", "check", "report")  # config groups that do not change the numbers
QUIET = ("engine.progress", "engine.checkpoint_every", "engine.host_devices")  # nor these


class NotComparable(ConfigError):
    """The baseline cannot be compared with this run (the message says why); exit status 2."""


# ----------------------------------------------------------------------------- metadata


def platform_info() -> dict:
    import jax

    return {
        "system": platform.system(),
        "machine": platform.machine(),
        "backend": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
    }


def structure(cfg) -> dict:
    e = cfg.engine
    return {
        "domains": list(cfg.domain_ids),
        "strategies": list(cfg.strategy_ids),
        "areas": list(cfg.area_ids),
        "years": [e.start_year, e.end_year],
    }


def fingerprint(cfg) -> str:
    from engine.checkpoint import run_fingerprint

    return run_fingerprint(cfg, 0, 1, False)


def model_overrides(overrides) -> list[str]:
    """Overrides that define the numbers, later ones replacing earlier ones of the same key
    (``mode``, ``check.*`` and ``hydra.*`` are dropped)."""
    out: dict[str, str] = {}
    for o in overrides:
        key = str(o).lstrip("+~").split("=", 1)[0].strip()
        if key == "mode" or key.replace("/", ".").split(".")[0] in ("check", "hydra"):
            continue
        out.pop(key, None)
        out[key] = str(o)
    return list(out.values())


def compose_overrides(overrides):
    """A Config from the config files and ``overrides`` (:func:`engine.config.compose`: inside the
    ``jp2040`` command it uses its config search path, ``--config-dir`` included)."""
    from engine.config import compose

    try:
        return compose(list(overrides))
    except ConfigError as err:
        raise ConfigError(f"could not compose the baseline's config: {err}") from err


def metadata(cfg, overrides, result) -> dict:
    from engine.manifest import git_revision, package_versions

    e = cfg.engine
    return {
        "format": FORMAT,
        "version": VERSION,
        "created": result.manifest.get("created"),
        "fingerprint": fingerprint(cfg),
        "seed": e.seed,
        "engine": {k: getattr(e, k) for k in EXACT_ENGINE},
        "scenario": cfg.scenario.name,
        "overrides": model_overrides(overrides),
        "versions": package_versions(),
        "platform": platform_info(),
        "git_revision": git_revision(),
        "structure": structure(cfg),
        "config": {k: v for k, v in cfg.raw.items() if k not in NOT_NUMBERS},
    }


# ----------------------------------------------------------------------------- files


def _keys(df):
    """``group/variable/entity/year`` per row (entity and year empty where absent)."""
    import pandas as pd

    def text(v):
        return "" if pd.isna(v) else str(int(v)) if isinstance(v, float) else str(v)

    cols = [df[c].tolist() for c in KEY]
    return pd.Series(["/".join(text(v) for v in row) for row in zip(*cols, strict=True)])


def simulate_table(cfg, run_dir: Path, overrides):
    """Simulate ``cfg``; write results.nc, summary.csv, manifest.json; return (result, the
    summary with MCSE columns)."""
    from engine import simulate
    from engine.mcse import with_mcse
    from jp2040.cli import write_netcdf_atomic
    from reports.io import write_csv_atomic, write_text_atomic

    result = simulate(cfg, overrides=overrides)
    summary = result.summary()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_netcdf_atomic(result.to_datatree(), run_dir / "results.nc")
    write_csv_atomic(summary, run_dir / "summary.csv")
    text = json.dumps(result.manifest, indent=2, default=str)
    write_text_atomic(text, run_dir / "manifest.json")
    return result, with_mcse(summary, result)


def write_baseline(cfg, run_dir: Path, overrides=()) -> list[Path]:
    """Simulate ``cfg`` and write the run files plus baseline.csv and baseline.json."""
    from reports.io import write_text_atomic

    replay = model_overrides(overrides)
    if fingerprint(compose_overrides(replay)) != fingerprint(cfg):
        log.warning(
            "the overrides %s do not reproduce this config; mode=check reruns the overrides "
            "(pass the overrides the config was composed from)",
            replay,
        )
    result, table = simulate_table(cfg, run_dir, overrides)
    text = table.to_csv(index=False)
    meta = metadata(cfg, overrides, result)
    meta.update(csv="baseline.csv", rows=len(table), csv_sha256=_sha(text.encode()))
    paths = [write_text_atomic(text, run_dir / "baseline.csv")]
    paths.append(
        write_text_atomic(json.dumps(meta, indent=2, default=str), run_dir / "baseline.json")
    )
    return paths


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_baseline(path) -> tuple:
    """(table, metadata) of a baseline; ``path`` is its directory, baseline.csv or
    baseline.json. Raises NotComparable with the reason when it is missing or corrupt."""
    import pandas as pd

    path = Path(path).expanduser()
    where = "check.baseline"
    meta_path = path / "baseline.json" if path.is_dir() else path.with_suffix(".json")
    if not path.exists() or not meta_path.exists():
        raise NotComparable(
            f"{where}: no baseline at {path} (expected a run directory of mode=baseline, or its "
            "baseline.csv or baseline.json)"
        )
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise NotComparable(f"{where}: {meta_path} is not valid JSON ({err})") from None
    need = ("format", "version", "csv", "csv_sha256", "overrides", "structure", "engine", "seed")
    if (
        not isinstance(meta, dict)
        or meta.get("format") != FORMAT
        or any(k not in meta for k in need)
    ):
        raise NotComparable(f"{where}: {meta_path} is not a jp2040 baseline (format {FORMAT!r})")
    if meta["version"] != VERSION:
        raise NotComparable(
            f"{where}: {meta_path} has baseline format version {meta['version']}, this jp2040 "
            f"reads version {VERSION}; write a new baseline"
        )
    csv_path = meta_path.parent / str(meta["csv"])
    try:
        data = csv_path.read_bytes()
    except OSError as err:
        raise NotComparable(f"{where}: cannot read {csv_path} ({err.strerror or err})") from None
    if _sha(data) != meta["csv_sha256"]:
        raise NotComparable(
            f"{where}: {csv_path} does not match {meta_path.name} (SHA-256 differs: the file was "
            "edited, truncated or belongs to another baseline)"
        )
    import io

    try:
        table = pd.read_csv(io.BytesIO(data))
    except (ValueError, UnicodeDecodeError) as err:  # pandas' parser errors are ValueErrors
        raise NotComparable(f"{where}: {csv_path} is not a CSV table ({err})") from None
    cols = (
        set(KEY)
        | set(STATISTICS)
        | {f"mcse_{s}" for s in STATISTICS}
        | set(MCSE_COLUMNS)
        | set(BIN_COLUMNS)
    )
    missing = sorted(cols - set(table.columns))
    if missing:
        raise NotComparable(f"{where}: {csv_path} lacks the columns {', '.join(missing)}")
    return table, meta


# ----------------------------------------------------------------------------- comparing


def structure_reasons(base: dict, now: dict) -> list[str]:
    """Why two structures (:func:`structure`) differ, one phrase per part."""
    out = []
    for part in ("domains", "strategies", "areas"):
        a, b = list(base.get(part, [])), list(now[part])
        if a != b:
            gone = [x for x in a if x not in b]
            new = [x for x in b if x not in a]
            detail = (
                "; ".join(
                    s
                    for s in (
                        f"missing {', '.join(gone)}" * bool(gone),
                        f"new {', '.join(new)}" * bool(new),
                    )
                    if s
                )
                or "same ids in another order"
            )
            out.append(f"the baseline has {len(a)} {part}, this config {len(b)} ({detail})")
    if list(base.get("years", [])) != list(now["years"]):
        out.append(f"years {base.get('years')} in the baseline, {now['years']} now")
    return out


def config_diff(a, b, path: str = "") -> list[str]:
    """``path: a -> b`` for every leaf that differs between two nested config mappings."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in list(a) + [k for k in b if k not in a]:
            sub = f"{path}.{key}" if path else str(key)
            out += config_diff(a.get(key, "<absent>"), b.get(key, "<absent>"), sub)
        return out
    return [] if a == b else [f"{path}: {a!r} -> {b!r}"]


def choose_mode(requested: str, meta: dict, cfg) -> tuple[str, list[str]]:
    """(exact or statistical, the differences that rule out exact); exact requested across
    differences raises NotComparable."""
    from engine.manifest import package_versions

    reasons = []
    for key in EXACT_ENGINE:
        a, b = meta["engine"].get(key), getattr(cfg.engine, key)
        if a != b:
            reasons.append(f"engine.{key} differs (baseline {a}, now {b})")
    for name, now in (("versions", package_versions()), ("platform", platform_info())):
        base = meta.get(name, {})
        diff = [f"{k} {base.get(k)} -> {v}" for k, v in now.items() if base.get(k) != v]
        if diff:
            reasons.append(f"{name} differ ({', '.join(diff)})")
    if requested == "exact" and reasons:
        raise NotComparable(
            "check.mode=exact needs the baseline's seed, engine settings, versions and platform: "
            + "; ".join(reasons)
            + " (use check.mode=statistical or auto)"
        )
    if requested == "statistical" or reasons:
        return "statistical", reasons
    return "exact", reasons


# ----------------------------------------------------------------------------- the modes


def run_regression(cfg, run_dir: Path, overrides=()) -> int:
    """``mode=baseline`` or ``mode=check`` (called by jp2040.cli.run_job); the exit status."""
    run_dir = Path(run_dir)
    try:
        if cfg.mode == "baseline":
            paths = write_baseline(cfg, run_dir, overrides)
            print(
                f"baseline: {len(paths)} files in {run_dir} (commit baseline.csv and baseline.json)"
            )
            return PASS
        return run_check(cfg, run_dir, overrides)
    except NotComparable as err:
        log.error("not comparable: %s", err)
        print(f"check: NOT COMPARABLE: {err}")
        return NOT_COMPARABLE


def run_check(cfg, run_dir: Path, overrides=()) -> int:
    """Rerun the baseline's config with ``overrides`` on top, compare, write check.csv, print a
    verdict; returns 0 pass, 1 drift (NotComparable is raised for 2)."""
    from reports.io import write_csv_atomic

    base, meta = load_baseline(cfg.check.baseline)
    replay = model_overrides(list(meta["overrides"]) + list(overrides))
    try:
        rerun = compose_overrides(replay)
    except NotComparable:
        raise
    except ConfigError as err:  # e.g. a key the baseline overrode is gone from the configs
        raise NotComparable(f"the overrides {replay} do not compose now: {err}") from None
    reasons = structure_reasons(meta["structure"], structure(rerun))
    if reasons:
        raise NotComparable("another model structure: " + "; ".join(reasons))
    mode, why = choose_mode(cfg.check.mode, meta, rerun)
    now_config = {k: v for k, v in rerun.raw.items() if k not in NOT_NUMBERS}
    now_config = json.loads(json.dumps(now_config, default=str))  # as the baseline stored it
    changed = [
        c for c in config_diff(meta.get("config", {}), now_config) if not c.startswith(QUIET)
    ]
    log.info("check: %s mode%s; overrides %s", mode, f" ({'; '.join(why)})" if why else "", replay)
    result, now = simulate_table(rerun, run_dir, replay)
    base_keys, now_keys = _keys(base), _keys(now)
    if not base_keys.is_unique:
        raise NotComparable(f"check.baseline: {cfg.check.baseline} has duplicate rows")
    missing = base_keys[~base_keys.isin(now_keys)]
    if len(missing):
        example = ", ".join(missing.iloc[:3])
        raise NotComparable(
            f"{len(missing)} baseline rows are missing from this run (e.g. {example}); "
            "an output was removed or renamed: write a new baseline"
        )
    extra = int((~now_keys.isin(base_keys)).sum())
    aligned = base.set_index(base_keys).reindex(now_keys).reset_index(drop=True)
    aligned[list(KEY)] = now[list(KEY)].to_numpy()
    n_paths = (meta["engine"]["n_paths"], rerun.engine.n_paths)
    rows = now_keys.isin(base_keys).to_numpy()
    table, k, m = compare(aligned, now, result, mode, cfg.check.k, cfg.check.alpha, n_paths, rows)
    write_csv_atomic(table, run_dir / "check.csv")
    print(verdict(table, mode, k, m, cfg.check.alpha, changed, extra, run_dir))
    return DRIFT if not table["passed"].all() else PASS
