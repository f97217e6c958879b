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

``check.mode``:

- ``exact``: the same seed, path count, chains, dtype, kept-draw settings, package versions and
  platform, else exit 2. Each statistic must match within ``FLOAT_RTOL`` (1e-5) of the row's
  scale ``max(|baseline|, |now|, sd)`` plus ``FLOAT_ATOL``: float32 draws, float64 merges whose
  order follows the device count and chunk size (they agree to a few ULP, engine.stats).
- ``statistical``: for the mean, ``|diff| <= k sqrt(mcse_a**2 + mcse_b**2)``, each side's MCSE
  being the larger of the two scaled to its own path count (under "nothing moved" both estimate
  the same error; a sample that missed a rare spike, or a cell with no event at all, would
  otherwise claim a tiny error). For a quantile the same test runs on the probability scale:
  ``diff = p - F_now(q_baseline)`` (``F_now`` from the new run's draws or histogram; at an atom
  the distance to the interval ``[F(q-), F(q)]``) with MCSE ``sqrt(p (1 - p) / n)`` per run, which
  needs no density estimate and stays valid at atoms (zero revenue before a launch) where the
  value-scale error breaks down. The sd is compared in exact mode only: its error needs the
  fourth moment, which the heavy, zero-inflated outputs estimate too poorly at CI path counts
  (spread changes show in p05 and p95). Rows with zero error on both sides (point masses) must
  match within the float tolerance; any row also passes when within it.
- ``auto`` (default): exact when everything exact needs is equal, else statistical.

``check.k=auto`` controls the family-wise false-alarm rate of a clean rerun with another seed
over the ``m`` statistics tested (point masses excluded) by Bonferroni:
``k = Phi^-1(1 - alpha / (2 m))``, ``alpha = check.alpha = 0.01`` (k ~ 4.9 for m ~ 10,000).
Bonferroni holds under any dependence, and the rows are strongly correlated (the years of one
trajectory, a domain and its area), so the true rate is below alpha as far as the normal
approximation holds; the quantile test is exact in its binomial limit, the mean's MCSE is
estimated.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import platform
from pathlib import Path
from statistics import NormalDist

import numpy as np

from engine.config import ConfigError

log = logging.getLogger("jp2040.regression")

FORMAT, VERSION = "jp2040-baseline", 1
STATISTICS = ("mean", "sd", "p05", "p50", "p95")
QUANTILES = {"p05": 0.05, "p50": 0.5, "p95": 0.95}
KEY = ("group", "variable", "entity", "year")
FLOAT_RTOL, FLOAT_ATOL = 1e-5, 1e-12
CHECK_MODES = ("auto", "exact", "statistical")
EXACT_ENGINE = ("seed", "n_paths", "chains", "dtype", "keep_paths", "keep_trajectories")
EXACT_ENGINE += ("histogram_bins",)
PASS, DRIFT, NOT_COMPARABLE = 0, 1, 2
SHOW_ROWS = 10


class NotComparable(ConfigError):
    """The baseline cannot be compared with this run (the message says why); exit status 2."""


def check_settings(check, mode: str):
    """Validate the ``check`` section (engine.config.CheckConfig) for ``mode``; returns it."""
    if check.mode not in CHECK_MODES:
        raise ConfigError(
            f"check.mode: unknown mode {check.mode!r} (valid: {', '.join(CHECK_MODES)})"
        )
    k = check.k
    if k != "auto" and (
        isinstance(k, bool) or not isinstance(k, (int, float)) or not math.isfinite(k) or k <= 0
    ):
        raise ConfigError(f"check.k: expected auto or a positive number, got {k!r}")
    if not 0.0 < check.alpha < 1.0:
        raise ConfigError(f"check.alpha: must be in (0, 1), got {check.alpha}")
    if check.baseline is not None and not isinstance(check.baseline, str):
        raise ConfigError(f"check.baseline: expected a path, got {check.baseline!r}")
    if mode == "check" and not check.baseline:
        raise ConfigError(
            "check.baseline: required with mode=check (a run directory, baseline.csv or "
            "baseline.json written by mode=baseline)"
        )
    return check


def default_k(m: int, alpha: float = 0.01) -> float:
    """Bonferroni: each of ``m`` two-sided z tests at ``alpha / m``."""
    return NormalDist().inv_cdf(1.0 - alpha / (2.0 * max(m, 1)))


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
    """A Config from the config files and ``overrides``; inside the ``jp2040`` command this uses
    its config search path (``--config-dir`` included)."""
    from engine.config import compose, from_dictconfig

    try:
        from hydra.core.global_hydra import GlobalHydra

        inside = GlobalHydra.instance().is_initialized()
    except ImportError:  # pragma: no cover - hydra is a dependency
        inside = False
    if not inside:
        return compose(list(overrides))
    from hydra import compose as hydra_compose

    try:
        return from_dictconfig(hydra_compose(config_name="config", overrides=list(overrides)))
    except ConfigError:
        raise
    except Exception as err:  # Hydra's override and composition errors
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
        "config": {k: v for k, v in cfg.raw.items() if k not in ("mode", "check")},
    }


# ----------------------------------------------------------------------------- files


def _keys(df):
    year = df["year"].astype("Int64").astype(str).replace("<NA>", "")
    entity = df["entity"].fillna("").astype(str)
    return df["group"].astype(str) + "/" + df["variable"].astype(str) + "/" + entity + "/" + year


def simulate_table(cfg, run_dir: Path, overrides):
    """Simulate ``cfg``; write results.nc, summary.csv, manifest.json; return (result, the
    summary with MCSE columns)."""
    from engine import simulate
    from engine.cli import write_netcdf_atomic
    from engine.mcse import with_mcse
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

    table = pd.read_csv(io.BytesIO(data))
    cols = set(KEY) | set(STATISTICS) | {f"mcse_{s}" for s in STATISTICS} | {"quantile_n"}
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


def rank_z(p, f_lo, f_hi, n_base, n_now):
    """z of a quantile on the probability scale: the baseline's p-quantile sits at ranks
    [f_lo, f_hi] of this run; each run's rank error is binomial, sqrt(p (1 - p) / n). Compared
    on the arcsine scale ``2 asin(sqrt(F))`` (variance 1/n whatever F: the binomial's skew at
    p05 and p95 with the 256 kept trajectories would otherwise fatten the tails), with a
    continuity correction of half a step per run. Positive: the distribution moved up."""
    with np.errstate(invalid="ignore", divide="ignore"):
        step = 0.5 / n_base + 0.5 / n_now
        u = np.clip(p, f_lo - step, f_hi + step)
        t = 2 * (np.arcsin(np.sqrt(p)) - np.arcsin(np.sqrt(np.clip(u, 0.0, 1.0))))
        return t / np.sqrt(1 / n_base + 1 / n_now)


def compare(base, now, result, mode: str, k="auto", alpha=0.01, n_paths=(1, 1), rows=None):
    """One row per (summary row, statistic): baseline, now, diff, mcse_baseline, mcse_now, z,
    test (exact, mcse, rank, not tested), passed; failed rows first, then by |z|.

    ``base`` is aligned to ``now`` (``result.summary()`` with MCSE columns, same rows); ``rows``:
    a mask of the rows to compare (None: all); ``n_paths``: (baseline, now) path counts. z is the
    difference in combined MCSE (value scale; probability scale for ``rank``). Returns (table,
    the k used, None in exact mode)."""
    import pandas as pd

    from engine.mcse import rank_intervals

    ranks = None
    if mode == "statistical":
        known = {}
        for q in QUANTILES:  # a histogram quantile is known only within its bin
            v = base[q].to_numpy(float)
            lo = base.get(f"{q}_bin_lo", pd.Series(np.nan, index=base.index)).to_numpy(float)
            hi = base.get(f"{q}_bin_hi", pd.Series(np.nan, index=base.index)).to_numpy(float)
            known[q] = (
                np.where(np.isnan(lo), v, np.minimum(lo, v)),
                np.where(np.isnan(hi), v, np.maximum(hi, v)),
            )
        ranks = rank_intervals(result, known)
    scale_r = math.sqrt(n_paths[0] / n_paths[1])  # mcse_now ~ mcse_base * scale_r
    frames = []
    for stat in STATISTICS:
        a, b = base[stat].to_numpy(float), now[stat].to_numpy(float)
        ma = np.nan_to_num(base[f"mcse_{stat}"].to_numpy(float))
        mb = np.nan_to_num(now[f"mcse_{stat}"].to_numpy(float))
        diff = b - a
        scale = np.nanmax(np.abs(np.stack([a, b, base["sd"], now["sd"]])), axis=0)
        close = (np.abs(diff) <= FLOAT_RTOL * np.nan_to_num(scale) + FLOAT_ATOL) | (
            np.isnan(a) & np.isnan(b)
        )
        test = np.full(len(a), "exact", dtype=object)
        if mode == "statistical" and stat == "mean":
            ma, mb = np.maximum(ma, mb / scale_r), np.maximum(mb, ma * scale_r)
            test[:] = "mcse"
        se = np.sqrt(ma**2 + mb**2)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, diff / se, np.where(close, 0.0, np.sign(diff) * np.inf))
        z = np.where(np.isnan(a) ^ np.isnan(b), np.inf, np.nan_to_num(z, nan=0.0))
        if mode == "statistical" and stat in QUANTILES:
            p = QUANTILES[stat]
            f_lo, f_hi, n_now = ranks[stat]
            n_base = base["quantile_n"].to_numpy(float)
            z_rank = rank_z(p, f_lo, f_hi, n_base, n_now)
            ok = np.isfinite(z_rank)
            z = np.where(ok, z_rank, z)
            test = np.where(ok, "rank", test)
        if mode == "statistical" and stat == "sd":
            test[:] = "not tested"
        keep = slice(None) if rows is None else np.asarray(rows, bool)
        frames.append(
            pd.DataFrame(
                {
                    **{c: base[c].to_numpy() for c in KEY},
                    "statistic": stat,
                    "baseline": a,
                    "now": b,
                    "diff": diff,
                    "mcse_baseline": ma,
                    "mcse_now": mb,
                    "z": z,
                    "test": test,
                    "close": close,
                }
            )[keep]
        )
    table = pd.concat(frames, ignore_index=True)
    tested = (table["test"] != "not tested").to_numpy()
    if mode == "exact":
        table["passed"] = table["close"]
        k_used = None
    else:
        spread = (table["mcse_baseline"] > 0) | (table["mcse_now"] > 0)
        m = int((tested & spread.to_numpy()).sum())
        k_used = default_k(m, alpha) if k == "auto" else float(k)
        table["passed"] = table["close"] | ~tested | (np.abs(table["z"]) <= k_used)
    order = np.lexsort((-np.abs(table["z"].to_numpy()), table["passed"].to_numpy()))
    return table.drop(columns="close").iloc[order].reset_index(drop=True), k_used


# ----------------------------------------------------------------------------- the modes


def run_regression(cfg, run_dir: Path, overrides=()) -> int:
    """``mode=baseline`` or ``mode=check`` (called by engine.cli.run_job); the exit status."""
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
    rerun = compose_overrides(replay)
    reasons = structure_reasons(meta["structure"], structure(rerun))
    if reasons:
        raise NotComparable("another model structure: " + "; ".join(reasons))
    mode, why = choose_mode(cfg.check.mode, meta, rerun)
    now_config = {k: v for k, v in rerun.raw.items() if k not in ("mode", "check")}
    changed = config_diff(meta.get("config", {}), json.loads(json.dumps(now_config, default=str)))
    log.info("check: %s mode%s; overrides %s", mode, f" ({'; '.join(why)})" if why else "", replay)
    result, now = simulate_table(rerun, run_dir, replay)
    base_keys, now_keys = _keys(base), _keys(now)
    missing = base_keys[~base_keys.isin(now_keys)]
    if len(missing):
        raise NotComparable(
            f"{len(missing)} baseline rows are missing from this run (e.g. {', '.join(missing[:3])})"
        )
    extra = int((~now_keys.isin(base_keys)).sum())
    aligned = base.set_index(base_keys).reindex(now_keys).reset_index(drop=True)
    aligned[list(KEY)] = now[list(KEY)].to_numpy()
    n_paths = (meta["engine"]["n_paths"], rerun.engine.n_paths)
    rows = now_keys.isin(base_keys).to_numpy()
    table, k = compare(aligned, now, result, mode, cfg.check.k, cfg.check.alpha, n_paths, rows)
    write_csv_atomic(table, run_dir / "check.csv")
    print(verdict(table, mode, k, cfg.check.alpha, changed, extra, run_dir))
    return DRIFT if not table["passed"].all() else PASS


def verdict(table, mode, k, alpha, changed=(), extra=0, run_dir=None) -> str:
    """The terminal report: config changes, the rows that moved most, one verdict line."""
    import pandas as pd

    lines = []
    if changed:
        lines.append(f"config differs from the baseline at {len(changed)} keys:")
        lines += [f"  {c}" for c in changed[:8]] + (["  ..."] if len(changed) > 8 else [])
    tested = table[table["test"] != "not tested"]
    top = tested.head(SHOW_ROWS)
    if len(top):
        head = f"{'variable':42s} {'entity':24s} {'year':>4s} {'stat':>4s} {'baseline':>11s} {'now':>11s} {'z':>8s}"
        lines.append(head)
        for r in top.itertuples():
            year = "" if pd.isna(r.year) else str(int(r.year))
            flag = "" if r.passed else "  DRIFT"
            lines.append(
                f"{r.group + '/' + r.variable:42.42s} {str(r.entity or ''):24.24s} {year:>4s} "
                f"{r.statistic:>4s} {r.baseline:11.4g} {r.now:11.4g} {r.z:8.2f}{flag}"
            )
    how = (
        "exact (float tolerance 1e-5 of scale)"
        if mode == "exact"
        else (f"statistical, k={k:.2f} (alpha={alpha:g} over {len(tested)} statistics)")
    )
    failed = tested[~tested["passed"]]
    if extra:
        lines.append(f"{extra} rows of this run are not in the baseline (not compared)")
    if run_dir is not None:
        lines.append(f"wrote {Path(run_dir) / 'check.csv'}")
    if len(failed):
        names = list(dict.fromkeys(failed["group"] + "/" + failed["variable"]))
        more = f" (+{len(names) - 12} more)" if len(names) > 12 else ""
        lines.append(
            f"check {how}: DRIFT: {len(failed)} of {len(tested)} statistics moved, in "
            f"{', '.join(names[:12])}{more}"
        )
    else:
        worst = tested.iloc[0] if len(tested) else None
        at = (
            ""
            if worst is None
            else f"; largest |z| {abs(worst['z']):.2f} ({worst['group']}/{worst['variable']} {worst['statistic']})"
        )
        lines.append(f"check {how}: PASS{at}")
    return "\n".join(lines)
