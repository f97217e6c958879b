"""The rules a typed config must follow beyond its types: ranges, names the model knows, domains
mapped to exactly one strategy, markets inside their parents, finite numbers.

``engine.config.validate`` types each group against its schema and then applies these rules, in
this order, before any compile. Every refusal is a :class:`ConfigError` naming the config path and
the offending value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from engine.model_names import (
    COMPUTED_PARENTS,
    COUPLINGS,
    DOMAIN_DRIVERS,
    GLOBAL_DRIVERS,
    IMPACTS,
)

MODES = ("run", "calibrate", "provenance", "prior", "reverse", "baseline", "check", "sweep")
TAIL_GROUPS = ("domain", "strategy", "area", "macro")  # groups of per-path scalars
OUTCOME_GROUPS = ("domain", "strategy", "area", "macro")
CHECK_MODES = ("auto", "exact", "statistical")
SWEEP_MODES = ("grid", "paired")
DRIVER_GROUPS = ("domain_defaults", "strategy_defaults", "impact_defaults", "correlation")
MACRO_KEYS = (
    "couplings",
    "market_growth",
    "investment",
    "impacts",
    "digital_deficit",
    "defense",
    "japan_gdp_2024",
    "datacenter",
    "labour",
    "humanoids",
    "existing_industries",
    "fiscal",
    "parent_markets",
    "transmission",
    "strategy_dependence",
    "investment_under_failure",
)
IMPACT_KINDS = ("potential", "domain_revenue", "mechanism")


class ConfigError(ValueError):
    """A config value is invalid; the message names the config path and the value.

    Public as ``engine.config.ConfigError``."""


def mapping(value, path) -> Mapping:
    """``value`` if it is a mapping, else ConfigError naming ``path``."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: expected a mapping, got {value!r}")
    return value


def check_keys(node: Mapping, allowed: Sequence[str], path: str) -> None:
    """Refuse a key of ``node`` not in ``allowed`` (Hydra accepts ``+engine.n_pathz=10``)."""
    unknown = [k for k in node if k not in allowed]
    if unknown:
        where = f"{path}." if path else ""
        raise ConfigError(
            f"{where}{unknown[0]}: unknown key (valid keys{' of ' + path if path else ''}: "
            f"{', '.join(allowed)})"
        )


def check_mode(mode) -> None:
    if mode not in MODES:
        raise ConfigError(f"mode: unknown mode {mode!r} (valid: {', '.join(MODES)})")


def check_engine(e) -> None:
    """``engine`` (an EngineConfig): path counts, years, device, buffers, tails."""
    if e.n_paths < 1:
        raise ConfigError(f"engine.n_paths: must be at least 1, got {e.n_paths}")
    if e.chains < 1:
        raise ConfigError(f"engine.chains: must be at least 1, got {e.chains}")
    if e.n_paths % e.chains:
        raise ConfigError(
            f"engine.n_paths: {e.n_paths} is not divisible by engine.chains={e.chains}"
        )
    if e.chunk_size < 1 or e.chunk_size & (e.chunk_size - 1):
        raise ConfigError(f"engine.chunk_size: must be a power of two, got {e.chunk_size}")
    if not 2030 <= e.end_year <= 2050:
        raise ConfigError(f"engine.end_year: must be in 2030..2050, got {e.end_year}")
    if not 2024 <= e.start_year < e.end_year:
        raise ConfigError(f"engine.start_year: must be in 2024..end_year-1, got {e.start_year}")
    if e.device not in ("auto", "cpu", "gpu"):
        raise ConfigError(f"engine.device: unknown device {e.device!r} (valid: auto, cpu, gpu)")
    if e.dtype not in ("float32", "float64"):
        raise ConfigError(f"engine.dtype: unknown dtype {e.dtype!r} (valid: float32, float64)")
    if isinstance(e.host_devices, str) and e.host_devices != "auto":
        raise ConfigError(
            f"engine.host_devices: expected auto or an integer, got {e.host_devices!r}"
        )
    if isinstance(e.host_devices, int) and e.host_devices < 1:
        raise ConfigError(f"engine.host_devices: must be at least 1, got {e.host_devices}")
    for name in ("keep_paths", "keep_trajectories"):
        if getattr(e, name) < 0:
            raise ConfigError(f"engine.{name}: must be >= 0, got {getattr(e, name)}")
    if e.checkpoint_every < 0:
        raise ConfigError(f"engine.checkpoint_every: must be >= 0, got {e.checkpoint_every}")
    if e.histogram_bins < 16:
        raise ConfigError(f"engine.histogram_bins: must be at least 16, got {e.histogram_bins}")
    if e.tail_max_paths < 1:
        raise ConfigError(f"engine.tail_max_paths: must be at least 1, got {e.tail_max_paths}")
    if e.pilot_paths < 1:
        raise ConfigError(f"engine.pilot_paths: must be at least 1, got {e.pilot_paths}")
    if not 0.0 <= e.tail_alpha < 0.5:
        raise ConfigError(f"engine.tail_alpha: must be in [0, 0.5), got {e.tail_alpha}")
    for i, name in enumerate(e.tail_outputs):
        if name.split("/")[0] not in TAIL_GROUPS or name.count("/") > 1:
            raise ConfigError(
                f"engine.tail_outputs[{i}]: expected a group ({', '.join(TAIL_GROUPS)}) or "
                f"group/variable, got {name!r}"
            )
    if not 0.0 < e.launch_adoption < 1.0:
        raise ConfigError(f"engine.launch_adoption: must be in (0, 1), got {e.launch_adoption}")
    if e.progress not in (True, False, "auto"):
        raise ConfigError(f"engine.progress: expected auto, true or false, got {e.progress!r}")


def check_reverse(r, mode: str) -> None:
    """The reverse stress test's settings; outcome and threshold are required for mode=reverse."""
    if r.side not in ("auto", "high", "low"):
        raise ConfigError(f"reverse.side: unknown side {r.side!r} (valid: auto, high, low)")
    if r.top < 1:
        raise ConfigError(f"reverse.top: must be at least 1, got {r.top}")
    if mode != "reverse":
        return
    example = "e.g. reverse.outcome=macro/digital_deficit_2040 reverse.threshold=40"
    if r.outcome is None:
        raise ConfigError(f"reverse.outcome: missing for mode=reverse ({example})")
    parts = r.outcome.split("/") if isinstance(r.outcome, str) else []
    if len(parts) not in (2, 3) or parts[0] not in OUTCOME_GROUPS or not all(parts):
        raise ConfigError(
            f"reverse.outcome: expected group/variable or group/variable/entity with group one "
            f"of {', '.join(OUTCOME_GROUPS)}, got {r.outcome!r} ({example})"
        )
    if r.threshold is None:
        raise ConfigError(f"reverse.threshold: missing for mode=reverse ({example})")
    t = r.threshold
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        raise ConfigError(f"reverse.threshold: expected a finite number, got {t!r}")


def check_check(check, mode: str) -> None:
    """The regression check's settings (``mode=baseline``/``mode=check``); the baseline is
    required for mode=check."""
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


def check_sweep(sweep, mode: str) -> None:
    """``sweep.mode`` is grid or paired; mode=sweep needs a grid (its points are checked by
    ``jp2040.sweep_job``)."""
    if sweep.mode not in SWEEP_MODES:
        raise ConfigError(f"sweep.mode: unknown mode {sweep.mode!r} (valid: grid, paired)")
    if mode == "sweep" and not sweep.grid:
        raise ConfigError(
            "sweep.grid: missing for mode=sweep (e.g. 'sweep.grid={drivers.agi.median:[2031,2040]}')"
        )


def check_structure(domains, strategies, scenario) -> None:
    """Every domain in exactly one strategy; one policy success probability per strategy."""
    owner: dict[str, str] = {}
    for s, sc in strategies.items():
        for d in sc.domains:
            if d not in domains:
                raise ConfigError(
                    f"strategies.{s}.domains: unknown domain {d!r} (valid: {', '.join(domains)})"
                )
            if d in owner:
                raise ConfigError(
                    f"strategies.{s}.domains: domain {d!r} is mapped to two strategies "
                    f"({owner[d]} and {s})"
                )
            owner[d] = s
        for d in sc.report_basis_excludes:
            if d not in sc.domains:
                raise ConfigError(
                    f"strategies.{s}.report_basis_excludes: {d!r} is not a member of {s}"
                )
    for d in domains:
        if d not in owner:
            raise ConfigError(f"domains.{d}: domain is mapped to no strategy")
    probs = scenario.policy_success_prob
    for s in strategies:
        if s not in probs:
            raise ConfigError(f"scenario.policy_success_prob.{s}: missing (one per strategy)")
    for s, p in probs.items():
        if s not in strategies:
            raise ConfigError(
                f"scenario.policy_success_prob.{s}: unknown strategy (valid: {', '.join(strategies)})"
            )
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"scenario.policy_success_prob.{s}: must be in [0, 1], got {p}")
    if not 0.0 <= scenario.failure_share_factor <= 1.0:
        raise ConfigError(
            f"scenario.failure_share_factor: must be in [0, 1], got {scenario.failure_share_factor}"
        )


def check_domains(domains) -> None:
    """Each domain's Bass parameters, scope, share, margin, costs, launch, couplings, drivers."""
    for name, d in domains.items():
        path = f"domains.{name}"
        for attr in ("bass_p", "bass_q"):
            if getattr(d, attr) <= 0:
                raise ConfigError(f"{path}.{attr}: must be positive, got {getattr(d, attr)}")
        if d.scope not in ("global", "domestic"):
            raise ConfigError(f"{path}.scope: expected global or domestic, got {d.scope!r}")
        if not 0.0 < d.japan_share < 1.0:
            raise ConfigError(f"{path}.japan_share: must be in (0, 1), got {d.japan_share}")
        if not 0.0 <= d.margin < 1.0:
            raise ConfigError(f"{path}.margin: must be in [0, 1), got {d.margin}")
        for attr in ("fixed_cost", "capital_intensity", "rd_programme"):
            if getattr(d, attr) < 0:
                raise ConfigError(f"{path}.{attr}: must be >= 0, got {getattr(d, attr)}")
        if not 2024 <= d.launch_year <= 2100:
            raise ConfigError(f"{path}.launch_year: must be in 2024..2100, got {d.launch_year}")
        for k, w in d.couplings.items():
            if k not in COUPLINGS:
                raise ConfigError(
                    f"{path}.couplings.{k}: unknown coupling (valid: {', '.join(COUPLINGS)})"
                )
            if not isinstance(w, (int, float)) or not 0.0 <= w <= 1.0:
                raise ConfigError(f"{path}.couplings.{k}: must be in [0, 1], got {w!r}")
        for k in d.drivers:
            if k not in DOMAIN_DRIVERS:
                raise ConfigError(
                    f"{path}.drivers.{k}: unknown driver (valid: {', '.join(DOMAIN_DRIVERS)})"
                )


def check_drivers(drivers: Mapping, domains) -> None:
    """Every global driver and driver group present, and nothing else; the copula is known.
    The driver specs themselves are checked by ``engine.drivers.build_driver_table``."""
    check_keys(drivers, GLOBAL_DRIVERS + DRIVER_GROUPS, "drivers")
    for key in GLOBAL_DRIVERS + DRIVER_GROUPS:
        if key not in drivers:
            raise ConfigError(f"drivers.{key}: missing")
    check_keys(drivers["domain_defaults"], DOMAIN_DRIVERS, "drivers.domain_defaults")
    for key in DOMAIN_DRIVERS:
        if key not in drivers["domain_defaults"]:
            raise ConfigError(f"drivers.domain_defaults.{key}: missing")
    check_keys(drivers["strategy_defaults"], ("policy_delay",), "drivers.strategy_defaults")
    check_keys(drivers["impact_defaults"], ("impact_factor",), "drivers.impact_defaults")
    corr = mapping(drivers["correlation"], "drivers.correlation")
    check_keys(corr, ("copula", "df", "kind", "nearest_psd", "entries"), "drivers.correlation")
    if corr.get("copula", "gaussian") not in ("gaussian", "student_t"):
        raise ConfigError(
            f"drivers.correlation.copula: unknown copula {corr.get('copula')!r} "
            "(valid: gaussian, student_t)"
        )


def check_macro(macro: Mapping, domains, strategies) -> None:
    """The macro block: its sections, the impacts, investment schedule, parent markets, the
    strategy dependence, the digital deficit's domain and strategy, finite numbers."""
    check_keys(macro, MACRO_KEYS, "macro")
    for key in MACRO_KEYS:
        if key not in macro:
            raise ConfigError(f"macro.{key}: missing")
    impacts = mapping(macro["impacts"], "macro.impacts")
    check_keys(impacts, IMPACTS, "macro.impacts")
    for name in IMPACTS:
        if name not in impacts:
            raise ConfigError(f"macro.impacts.{name}: missing")
        imp = impacts[name]
        if imp.get("domain") not in domains:
            raise ConfigError(f"macro.impacts.{name}.domain: unknown domain {imp.get('domain')!r}")
        if imp.get("strategy") not in strategies:
            raise ConfigError(
                f"macro.impacts.{name}.strategy: unknown strategy {imp.get('strategy')!r}"
            )
    inv = mapping(macro["investment"], "macro.investment")
    decay, post = inv.get("post_launch_decay"), inv.get("post_launch_years")
    if not isinstance(decay, (int, float)) or not 0 < decay < 1:
        raise ConfigError(f"macro.investment.post_launch_decay: must be in (0, 1), got {decay!r}")
    if not isinstance(post, (int, float)) or post < 0:
        raise ConfigError(f"macro.investment.post_launch_years: must be >= 0, got {post!r}")
    check_impacts(impacts)
    check_parents(mapping(macro["parent_markets"], "macro.parent_markets"), domains)
    dep = mapping(macro["strategy_dependence"], "macro.strategy_dependence")
    if dep.get("precondition") not in strategies:
        raise ConfigError(
            f"macro.strategy_dependence.precondition: unknown strategy {dep.get('precondition')!r}"
            f" (valid: {', '.join(strategies)})"
        )
    k = dep.get("strength")
    if not isinstance(k, (int, float)) or isinstance(k, bool) or not 0.0 <= k <= 1.0:
        raise ConfigError(f"macro.strategy_dependence.strength: must be in [0, 1], got {k!r}")
    dd = mapping(macro["digital_deficit"], "macro.digital_deficit")
    if dd.get("ai_domain") not in domains:
        raise ConfigError(
            f"macro.digital_deficit.ai_domain: unknown domain {dd.get('ai_domain')!r}"
        )
    if dd.get("dc_strategy") not in strategies:
        raise ConfigError(
            f"macro.digital_deficit.dc_strategy: unknown strategy {dd.get('dc_strategy')!r}"
        )
    check_numbers(macro, "macro")


def check_impacts(impacts: Mapping) -> None:
    """Each impact is a run-rate ``potential`` reached as its domain matures, the revenue of its
    domain (``domain_revenue``), or computed by a macro mechanism (``mechanism``: only
    digital_deficit_restraint, by the digital-deficit block)."""
    for name, imp in impacts.items():
        kind = imp.get("kind", "potential")
        if kind not in IMPACT_KINDS:
            raise ConfigError(
                f"macro.impacts.{name}.kind: unknown kind {kind!r} (valid: {', '.join(IMPACT_KINDS)})"
            )
        if kind == "mechanism" and name != "digital_deficit_restraint":
            raise ConfigError(
                f"macro.impacts.{name}.kind: only digital_deficit_restraint is computed by a "
                "mechanism"
            )
        if kind == "potential":
            v = imp.get("potential")
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"macro.impacts.{name}.potential: must be >= 0, got {v!r}")


def check_parents(parents: Mapping, domains) -> None:
    """Every domain fits inside its parent market: a market above its bound is refused, naming
    the domain, its value and the bound."""
    for p, spec in parents.items():
        v = mapping(spec, f"macro.parent_markets.{p}").get("value_2040")
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
            raise ConfigError(f"macro.parent_markets.{p}.value_2040: must be positive, got {v!r}")
    for name, d in domains.items():
        path = f"domains.{name}"
        if d.parent in COMPUTED_PARENTS:
            if not 0.0 < d.parent_fraction <= 1.0:
                raise ConfigError(
                    f"{path}.parent_fraction: must be in (0, 1] for a market tied to "
                    f"{d.parent}, got {d.parent_fraction}"
                )
            if d.market_2040:
                raise ConfigError(
                    f"{path}.market_2040: a market tied to {d.parent} is parent_fraction x "
                    f"{d.parent}; remove market_2040 (got {d.market_2040})"
                )
            continue
        if d.parent not in parents:
            valid = ", ".join([*parents, *COMPUTED_PARENTS])
            raise ConfigError(f"{path}.parent: unknown parent market {d.parent!r} (valid: {valid})")
        if d.market_2040 <= 0:
            raise ConfigError(f"{path}.market_2040: must be positive, got {d.market_2040}")
        bound = float(parents[d.parent]["value_2040"])
        if d.market_2040 > bound:
            raise ConfigError(
                f"{path}.market_2040: {d.market_2040:g} tn JPY/yr exceeds its parent market "
                f"{d.parent} ({bound:g} tn JPY/yr in 2040)"
            )
    for p, spec in parents.items():
        kids = {n: d.market_2040 for n, d in domains.items() if d.parent == p}
        if sum(kids.values()) > float(spec["value_2040"]):
            raise ConfigError(
                f"macro.parent_markets.{p}: the markets of {', '.join(kids)} add up to "
                f"{sum(kids.values()):g} tn JPY/yr, above the parent's {spec['value_2040']:g}"
            )


def check_numbers(node, path: str) -> None:
    """Every numeric leaf must be finite (YAML's .nan / .inf are rejected)."""
    if isinstance(node, Mapping):
        for k, v in node.items():
            check_numbers(v, f"{path}.{k}")
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            check_numbers(v, f"{path}[{i}]")
    elif isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"{path}: must be a finite number, got {node!r}")
