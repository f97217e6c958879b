"""Config loading and validation: Hydra's composed config -> frozen, typed dataclasses.

Only this module (and the CLI) sees a ``DictConfig``. Everything is checked here, before any
compile: unknown keys (Hydra accepts ``+engine.n_pathz=10`` silently), wrong types, impossible
values, domains mapped to no strategy or to two. Errors are :class:`ConfigError` and name the
config path and the offending value.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
MODES = ("run", "calibrate", "provenance", "prior", "reverse", "baseline", "check", "sweep")
TOP_LEVEL = ("engine", "scenario", "drivers", "domains", "strategies", "macro", "report", "mode")
OPTIONAL_GROUPS = (
    "reverse",
    "check",
    "sweep",
)  # may be absent from a plain mapping (defaults apply)


TAIL_GROUPS = ("domain", "strategy", "area", "macro")  # groups of per-path scalars


class ConfigError(ValueError):
    """A config value is invalid; the message names the config path and the value."""


@dataclass(frozen=True)
class EngineConfig:
    n_paths: int = 200_000
    chains: int = 4
    chunk_size: int = 16384
    seed: int = 0
    start_year: int = 2026
    end_year: int = 2040
    device: str = "auto"
    host_devices: int | str = "auto"
    dtype: str = "float32"
    keep_paths: int = 40_960
    keep_trajectories: int = 2000
    histogram_bins: int = 512
    pilot_paths: int = 16384
    tail_alpha: float = 0.01
    tail_outputs: tuple[str, ...] = ("strategy", "area", "macro")
    tail_best: bool = False
    tail_max_paths: int = 10_000
    launch_adoption: float = 0.01
    progress: bool | str = "auto"
    checkpoint_every: int = 0


@dataclass(frozen=True)
class ScenarioConfig:
    name: str
    policy_success_prob: dict[str, float]
    failure_share_factor: float = 0.3
    existing_shrink_per_year: float = 0.010


@dataclass(frozen=True)
class DomainConfig:
    """One promising domain. Money in tn JPY. ``market_2040`` is the domain's addressable market
    in 2040 (tn JPY/yr, before adoption and Japan's share); a domain whose ``parent`` is computed
    by the model (``dc_facility_capex``, ``defense_spend``) gives ``parent_fraction`` instead and
    its market moves with that parent path by path."""

    area: str
    launch_year: float
    bass_p: float
    bass_q: float
    definition: str
    scope: str
    parent: str
    market_source: str
    japan_share: float
    share_source: str
    margin: float
    margin_source: str
    fixed_cost: float
    capital_intensity: float
    rd_programme: float
    market_2040: float = 0.0
    parent_fraction: float = 0.0
    couplings: dict[str, float] = field(default_factory=dict)
    drivers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StrategyConfig:
    domains: tuple[str, ...]
    report_basis_excludes: tuple[str, ...]
    investment_cum_2040: float
    operating_profit_2040: float


@dataclass(frozen=True)
class ReportConfig:
    alphas: tuple[float, ...] = (0.05, 0.01)
    thresholds: Any = None
    figures: bool = True
    formats: tuple[str, ...] = ("png",)
    html: bool = True
    sensitivity: bool | str = "auto"
    provenance: bool = False
    headline: bool = True
    scenarios: bool = True


@dataclass(frozen=True)
class ReverseConfig:
    """``mode=reverse``: the outcome ``group/variable[/entity]`` (e.g. macro/digital_deficit_2040),
    its threshold (the outcome's units), the bad side (auto: the variable's ``bad_side``) and how
    many drivers the terminal table shows. Outcome names are checked against the model's outputs
    in ``jp2040.reverse_job`` (before any compile)."""

    outcome: Any = None
    threshold: Any = None
    side: str = "auto"
    top: int = 8


@dataclass(frozen=True)
class CheckConfig:
    """``mode=check`` settings (engine/regression.py): baseline path, exact|statistical|auto, k."""

    baseline: str | None = None
    mode: str = "auto"
    k: float | str = "auto"
    alpha: float = 0.01


@dataclass(frozen=True)
class SweepConfig:
    """``mode=sweep`` (engine/sweep_job.py): ``grid`` maps config keys to lists of values; ``mode``
    grid (every combination) or paired (the lists zipped)."""

    grid: Any = None
    mode: str = "grid"


@dataclass(frozen=True)
class Config:
    """The whole validated config; ``raw`` keeps the plain resolved mapping for the manifest."""

    engine: EngineConfig
    scenario: ScenarioConfig
    drivers: dict[str, Any]
    domains: dict[str, DomainConfig]
    strategies: dict[str, StrategyConfig]
    macro: dict[str, Any]
    report: ReportConfig
    mode: str
    raw: dict[str, Any]
    reverse: ReverseConfig = field(default_factory=ReverseConfig)
    check: CheckConfig = CheckConfig()
    sweep: SweepConfig = field(default_factory=SweepConfig)

    @property
    def domain_ids(self) -> tuple[str, ...]:
        return tuple(self.domains)

    @property
    def strategy_ids(self) -> tuple[str, ...]:
        return tuple(self.strategies)

    @property
    def area_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.area for d in self.domains.values()))

    def strategy_of(self, domain: str) -> str:
        return next(s for s, sc in self.strategies.items() if domain in sc.domains)

    def with_engine(self, **changes) -> Config:
        """A copy with some engine settings changed (e.g. ``n_paths``)."""
        raw = dict(self.raw)
        raw["engine"] = {**raw["engine"], **changes}
        return validate(raw)

    def with_scenario(self, name: str) -> Config:
        """A copy with another scenario from ``configs/scenario/<name>.yaml``."""
        raw = dict(self.raw)
        raw["scenario"] = load_group_option("scenario", name)
        return validate(raw)


# ----------------------------------------------------------------------------- composing


def compose(overrides: Sequence[str] = (), config_dir: Path | str | None = None) -> Config:
    """Compose and validate a config from Hydra overrides.

    Example: ``compose(["scenario=capture", "engine.n_paths=20000"])``. Outside the command line
    it reads ``configs/`` (or ``config_dir``); inside a running ``jp2040`` job (Hydra already
    initialised: the check and sweep modes) it uses that job's config search path, so
    ``--config-dir`` applies too.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        if GlobalHydra.instance().is_initialized() and config_dir is None:
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
        else:
            cdir = str(Path(config_dir or CONFIG_DIR).resolve())
            with initialize_config_dir(config_dir=cdir, version_base="1.3"):
                cfg = hydra_compose(config_name="config", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        cause = err.__cause__ or err
        raise ConfigError(f"could not compose the config: {cause}") from err
    return from_dictconfig(cfg)


def from_dictconfig(cfg) -> Config:
    """Validate a Hydra ``DictConfig`` (the ``hydra`` node is ignored)."""
    from omegaconf import OmegaConf

    raw = OmegaConf.to_container(cfg, resolve=True)
    raw.pop("hydra", None)
    return validate(raw)


def load_group_option(group: str, name: str) -> dict:
    import yaml

    path = CONFIG_DIR / group / f"{name}.yaml"
    if not path.exists():
        valid = sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))
        raise ConfigError(f"{group}: unknown option {name!r} (valid: {', '.join(valid)})")
    return yaml.safe_load(path.read_text())


# ----------------------------------------------------------------------------- validation


def validate(raw: Mapping[str, Any]) -> Config:
    """Check a plain config mapping and build the typed :class:`Config`."""
    raw = dict(raw)
    _check_keys(raw, TOP_LEVEL + OPTIONAL_GROUPS, "")
    for key in TOP_LEVEL:
        if key not in raw:
            raise ConfigError(f"{key}: missing config group")
    engine = _build(EngineConfig, raw["engine"], "engine")
    _check_engine(engine)
    domains = {
        name: _build(DomainConfig, spec, f"domains.{name}")
        for name, spec in _mapping(raw["domains"], "domains").items()
    }
    strategies = {
        name: _build(StrategyConfig, spec, f"strategies.{name}")
        for name, spec in _mapping(raw["strategies"], "strategies").items()
    }
    scenario = _build(ScenarioConfig, raw["scenario"], "scenario")
    report = _build(ReportConfig, raw["report"], "report")
    mode = raw["mode"]
    if mode not in MODES:
        raise ConfigError(f"mode: unknown mode {mode!r} (valid: {', '.join(MODES)})")
    reverse = _build(ReverseConfig, raw.get("reverse", {}), "reverse")
    _check_reverse(reverse, mode)
    check = check_settings(_build(CheckConfig, raw.get("check") or {}, "check"), mode)
    sweep = _build(SweepConfig, raw.get("sweep") or {}, "sweep")
    if sweep.mode not in ("grid", "paired"):
        raise ConfigError(f"sweep.mode: unknown mode {sweep.mode!r} (valid: grid, paired)")
    if mode == "sweep" and not sweep.grid:
        raise ConfigError(
            "sweep.grid: missing for mode=sweep (e.g. 'sweep.grid={drivers.agi.median:[2031,2040]}')"
        )
    _check_structure(domains, strategies, scenario)
    _check_domains(domains)
    _check_drivers(_mapping(raw["drivers"], "drivers"), domains)
    _check_macro(_mapping(raw["macro"], "macro"), domains, strategies)
    return Config(
        engine=engine,
        scenario=scenario,
        drivers=dict(raw["drivers"]),
        domains=domains,
        strategies=strategies,
        macro=dict(raw["macro"]),
        report=report,
        mode=mode,
        raw=raw,
        reverse=reverse,
        check=check,
        sweep=sweep,
    )


def _mapping(value, path) -> Mapping:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: expected a mapping, got {value!r}")
    return value


def _check_keys(mapping: Mapping, allowed: Sequence[str], path: str) -> None:
    unknown = [k for k in mapping if k not in allowed]
    if unknown:
        where = f"{path}." if path else ""
        raise ConfigError(
            f"{where}{unknown[0]}: unknown key (valid keys{' of ' + path if path else ''}: "
            f"{', '.join(allowed)})"
        )


def _coerce(value, annotation: str, path: str):
    """Coerce a config value to the field's annotated type, or raise ConfigError."""
    kind = annotation.replace(" ", "")
    if isinstance(value, bool) and kind in ("int", "float"):
        raise ConfigError(f"{path}: expected a number, got {value!r}")
    if kind == "int":
        return _as_int(value, path)
    if kind == "float":
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{path}: expected a finite number, got {value!r}")
        return float(value)
    if kind == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if kind == "int|str":
        return value if isinstance(value, str) else _as_int(value, path)
    if kind.startswith("tuple["):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        inner = "float" if "float" in kind else "str"
        return tuple(_coerce(v, inner, f"{path}[{i}]") for i, v in enumerate(value))
    if kind.startswith("dict[str,float]"):
        return {k: _coerce(v, "float", f"{path}.{k}") for k, v in _mapping(value, path).items()}
    if kind.startswith("dict"):
        return dict(_mapping(value, path))
    return value


def _as_int(value, path: str) -> int:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"{path}: expected an integer, got {value!r}") from None
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return int(value)
    if not isinstance(value, int):
        raise ConfigError(f"{path}: expected an integer, got {value!r}")
    return value


def _build(cls, mapping, path: str):
    mapping = _mapping(mapping, path)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _check_keys(mapping, list(fields), path)
    kwargs = {}
    for name, f in fields.items():
        if name not in mapping:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{path}.{name}: required key is missing")
            continue
        kwargs[name] = _coerce(mapping[name], str(f.type), f"{path}.{name}")
    return cls(**kwargs)


def _check_engine(e: EngineConfig) -> None:
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


OUTCOME_GROUPS = ("domain", "strategy", "area", "macro")


CHECK_MODES = ("auto", "exact", "statistical")


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


def _check_reverse(r: ReverseConfig, mode: str) -> None:
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


def _check_structure(domains, strategies, scenario) -> None:
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


COUPLINGS = ("agi", "ftqc", "defense")
DOMAIN_DRIVERS = (
    "launch_delay",
    "bass_p_factor",
    "bass_q_factor",
    "market_factor",
    "share_factor",
    "margin_factor",
    "cost_overrun",
)


def _check_domains(domains) -> None:
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


GLOBAL_DRIVERS = (
    "agi",
    "ftqc",
    "photonics",
    "gdp_growth",
    "fx",
    "digital_deficit_growth",
    "defense_shift_united_states",
    "defense_shift_nato",
    "defense_shift_japan",
    "china_defense_growth",
    "dc_twh_2030",
    "dc_twh_2035",
    "dc_japan_share",
    "labour_supply_change",
    "humanoid_launch_delay",
)
DRIVER_GROUPS = ("domain_defaults", "strategy_defaults", "impact_defaults", "correlation")


def _check_drivers(drivers: Mapping, domains) -> None:
    _check_keys(drivers, GLOBAL_DRIVERS + DRIVER_GROUPS, "drivers")
    for key in GLOBAL_DRIVERS + DRIVER_GROUPS:
        if key not in drivers:
            raise ConfigError(f"drivers.{key}: missing")
    _check_keys(drivers["domain_defaults"], DOMAIN_DRIVERS, "drivers.domain_defaults")
    for key in DOMAIN_DRIVERS:
        if key not in drivers["domain_defaults"]:
            raise ConfigError(f"drivers.domain_defaults.{key}: missing")
    _check_keys(drivers["strategy_defaults"], ("policy_delay",), "drivers.strategy_defaults")
    _check_keys(drivers["impact_defaults"], ("impact_factor",), "drivers.impact_defaults")
    corr = _mapping(drivers["correlation"], "drivers.correlation")
    _check_keys(corr, ("copula", "df", "kind", "nearest_psd", "entries"), "drivers.correlation")
    if corr.get("copula", "gaussian") not in ("gaussian", "student_t"):
        raise ConfigError(
            f"drivers.correlation.copula: unknown copula {corr.get('copula')!r} "
            "(valid: gaussian, student_t)"
        )


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
COMPUTED_PARENTS = ("dc_facility_capex", "defense_spend")  # markets the model computes per path
IMPACTS = (
    "social_security_savings",
    "import_substitution",
    "tourism_demand",
    "autonomy_solutions_sales",
    "dc_power_saving",
    "digital_deficit_restraint",
    "autonomous_driving_market",
    "workers_added",
)


def _check_macro(macro: Mapping, domains, strategies) -> None:
    _check_keys(macro, MACRO_KEYS, "macro")
    for key in MACRO_KEYS:
        if key not in macro:
            raise ConfigError(f"macro.{key}: missing")
    impacts = _mapping(macro["impacts"], "macro.impacts")
    _check_keys(impacts, IMPACTS, "macro.impacts")
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
    inv = _mapping(macro["investment"], "macro.investment")
    decay, post = inv.get("post_launch_decay"), inv.get("post_launch_years")
    if not isinstance(decay, (int, float)) or not 0 < decay < 1:
        raise ConfigError(f"macro.investment.post_launch_decay: must be in (0, 1), got {decay!r}")
    if not isinstance(post, (int, float)) or post < 0:
        raise ConfigError(f"macro.investment.post_launch_years: must be >= 0, got {post!r}")
    _check_impacts(impacts, domains)
    _check_parents(_mapping(macro["parent_markets"], "macro.parent_markets"), domains)
    dep = _mapping(macro["strategy_dependence"], "macro.strategy_dependence")
    if dep.get("precondition") not in strategies:
        raise ConfigError(
            f"macro.strategy_dependence.precondition: unknown strategy {dep.get('precondition')!r}"
            f" (valid: {', '.join(strategies)})"
        )
    k = dep.get("strength")
    if not isinstance(k, (int, float)) or isinstance(k, bool) or not 0.0 <= k <= 1.0:
        raise ConfigError(f"macro.strategy_dependence.strength: must be in [0, 1], got {k!r}")
    dd = _mapping(macro["digital_deficit"], "macro.digital_deficit")
    if dd.get("ai_domain") not in domains:
        raise ConfigError(
            f"macro.digital_deficit.ai_domain: unknown domain {dd.get('ai_domain')!r}"
        )
    if dd.get("dc_strategy") not in strategies:
        raise ConfigError(
            f"macro.digital_deficit.dc_strategy: unknown strategy {dd.get('dc_strategy')!r}"
        )
    _check_numbers(macro, "macro")


IMPACT_KINDS = ("potential", "domain_revenue", "mechanism")


def _check_impacts(impacts: Mapping, domains) -> None:
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


def _check_parents(parents: Mapping, domains) -> None:
    """Every domain fits inside its parent market: a market above its bound is refused, naming
    the domain, its value and the bound."""
    for p, spec in parents.items():
        v = _mapping(spec, f"macro.parent_markets.{p}").get("value_2040")
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


def _check_numbers(node, path: str) -> None:
    """Every numeric leaf must be finite (YAML's .nan / .inf are rejected)."""
    if isinstance(node, Mapping):
        for k, v in node.items():
            _check_numbers(v, f"{path}.{k}")
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            _check_numbers(v, f"{path}[{i}]")
    elif isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"{path}: must be a finite number, got {node!r}")
