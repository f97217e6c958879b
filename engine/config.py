"""Config loading and validation: Hydra's composed config -> frozen, typed dataclasses.

Only this module (and the CLI) sees a ``DictConfig``. Everything is checked here, before any
compile, in two steps. Types: each group is merged onto its dataclass schema as an OmegaConf
structured config (a plain mapping's missing keys come from ``configs/<group>/default.yaml``, the
one definition of the defaults) and OmegaConf's type errors become :class:`ConfigError`. Rules:
``engine.config_rules`` (unknown keys, which Hydra accepts with ``+engine.n_pathz=10``, impossible
values, domains mapped to no strategy or to two, non-finite numbers). Errors name the config path
and the offending value.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import config_rules as rules
from engine.config_rules import MODES, ConfigError  # noqa: F401  (public here)
from engine.model_names import DOMAIN_DRIVERS, GLOBAL_DRIVERS, IMPACTS  # noqa: F401  (older imports)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
TOP_LEVEL = ("engine", "scenario", "drivers", "domains", "strategies", "macro", "report", "mode")
OPTIONAL_GROUPS = ("reverse", "check", "sweep")  # may be absent from a plain mapping
DEFAULTED_GROUPS = ("engine", "report", "reverse", "check", "sweep")  # configs/<g>/default.yaml

# ----------------------------------------------------------------------------- schema
# Types only: the default values live in configs/<group>/default.yaml (one definition, documented
# there); a field with a default here is an optional key of a group without a default.yaml.


@dataclass(frozen=True)
class EngineConfig:
    """``engine``: simulation settings, no model parameters (configs/engine/default.yaml)."""

    n_paths: int
    chains: int
    chunk_size: int
    seed: int
    start_year: int
    end_year: int
    device: str
    host_devices: int | str
    dtype: str
    keep_paths: int
    keep_trajectories: int
    histogram_bins: int
    pilot_paths: int
    tail_alpha: float
    tail_outputs: tuple[str, ...]
    tail_best: bool
    tail_max_paths: int
    launch_adoption: float
    progress: bool | str
    checkpoint_every: int


@dataclass(frozen=True)
class ScenarioConfig:
    """A scenario (configs/scenario/<name>.yaml; every field set there, no default in code)."""

    name: str
    policy_success_prob: dict[str, float]
    failure_share_factor: float
    existing_shrink_per_year: float


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
    """``report``: tables, figures and terminal output of a run (configs/report/default.yaml)."""

    alphas: tuple[float, ...]
    thresholds: Any  # None (the defaults) or a list of threshold specs
    figures: bool
    formats: tuple[str, ...]
    html: bool
    sensitivity: bool | str
    provenance: bool
    headline: bool
    scenarios: bool


@dataclass(frozen=True)
class ReverseConfig:
    """``mode=reverse``: the outcome ``group/variable[/entity]`` (e.g. macro/digital_deficit_2040),
    its threshold (the outcome's units), the bad side (auto: the variable's ``bad_side``) and how
    many drivers the terminal table shows (configs/reverse/default.yaml). Outcome names are checked
    against the model's outputs in ``jp2040.reverse_job`` (before any compile)."""

    outcome: Any
    threshold: Any
    side: str
    top: int


@dataclass(frozen=True)
class CheckConfig:
    """``mode=check`` settings (jp2040/regression.py): baseline path, exact|statistical|auto, k
    (auto or a positive number), alpha (configs/check/default.yaml)."""

    baseline: str | None
    mode: str
    k: Any
    alpha: float


@dataclass(frozen=True)
class SweepConfig:
    """``mode=sweep`` (jp2040/sweep_job.py): ``grid`` maps config keys to lists of values; ``mode``
    grid (every combination) or paired (the lists zipped) (configs/sweep/default.yaml)."""

    grid: Any
    mode: str


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
    reverse: ReverseConfig
    check: CheckConfig
    sweep: SweepConfig

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
    """``configs/<group>/<name>.yaml`` as a plain mapping; ConfigError naming the valid options."""
    import yaml

    path = CONFIG_DIR / group / f"{name}.yaml"
    if not path.exists():
        valid = sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))
        raise ConfigError(f"{group}: unknown option {name!r} (valid: {', '.join(valid)})")
    return yaml.safe_load(path.read_text())


def group_defaults(group: str) -> dict:
    """The default values of ``group`` (one of DEFAULTED_GROUPS): ``configs/<group>/default.yaml``
    as a fresh plain mapping, e.g. ``group_defaults("report")["alphas"] == [0.05, 0.01]``."""
    return copy.deepcopy(_defaults(group))


@functools.cache
def _defaults(group: str) -> dict:
    return load_group_option(group, "default")


# ----------------------------------------------------------------------------- validation


def validate(raw: Mapping[str, Any]) -> Config:
    """Check a plain config mapping and build the typed :class:`Config`."""
    raw = dict(raw)
    rules.check_keys(raw, TOP_LEVEL + OPTIONAL_GROUPS, "")
    for key in TOP_LEVEL:
        if key not in raw:
            raise ConfigError(f"{key}: missing config group")
    engine = typed(EngineConfig, raw["engine"], "engine")
    rules.check_engine(engine)
    domains = {
        name: typed(DomainConfig, spec, f"domains.{name}")
        for name, spec in rules.mapping(raw["domains"], "domains").items()
    }
    strategies = {
        name: typed(StrategyConfig, spec, f"strategies.{name}")
        for name, spec in rules.mapping(raw["strategies"], "strategies").items()
    }
    scenario = typed(ScenarioConfig, raw["scenario"], "scenario")
    report = typed(ReportConfig, raw["report"], "report")
    mode = raw["mode"]
    rules.check_mode(mode)
    reverse = typed(ReverseConfig, raw.get("reverse", {}), "reverse")
    rules.check_reverse(reverse, mode)
    check = typed(CheckConfig, raw.get("check") or {}, "check")
    rules.check_check(check, mode)
    sweep = typed(SweepConfig, raw.get("sweep") or {}, "sweep")
    rules.check_sweep(sweep, mode)
    rules.check_structure(domains, strategies, scenario)
    rules.check_domains(domains)
    rules.check_drivers(rules.mapping(raw["drivers"], "drivers"), domains)
    rules.check_macro(rules.mapping(raw["macro"], "macro"), domains, strategies)
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


def typed(cls, node, path: str):
    """``node`` (a plain mapping) as a ``cls`` instance, typed by OmegaConf.

    The mapping is merged onto ``OmegaConf.structured(cls)`` (over ``configs/<group>/default.yaml``
    for the groups that have one); OmegaConf converts and checks each value against the field's
    type and its errors become ConfigError, e.g. ``engine.n_paths: expected an integer, got
    'abc'``. Two things OmegaConf does not do are added: an integral float (``1e6``, which Hydra
    parses as a float) is accepted for an integer, and a float must be finite.

    OmegaConf takes ~6 ms a group (~0.2 s for a whole config, 100x the checks themselves), so
    results are memoised on the mapping's JSON text: sweeps and ``with_engine`` re-validate mostly
    unchanged groups. Each call returns its own copy.
    """
    node = rules.mapping(node, path)
    try:
        text = json.dumps(node)
    except (TypeError, ValueError):  # not JSON (e.g. a mapping built in Python): no memo
        return _typed(cls, node, path)
    return copy.deepcopy(_typed_memo(cls, text, path))


@functools.lru_cache(maxsize=4096)
def _typed_memo(cls, text: str, path: str):
    return _typed(cls, json.loads(text), path)


def _typed(cls, node: Mapping, path: str):
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    hints = _hints(cls)
    rules.check_keys(node, list(hints), path)
    given = {k: _integral(v, hints[k]) for k, v in node.items()}
    for k, v in given.items():  # OmegaConf names the group, not the field, for these
        if _origin(hints[k]) is dict:
            rules.mapping(v, f"{path}.{k}")
    group = path if path in DEFAULTED_GROUPS else None
    try:
        merged = OmegaConf.merge(_schema(cls), _defaults(group) if group else {}, given)
    except OmegaConfBaseException as err:
        raise ConfigError(_type_error(err, hints, path)) from None
    missing = [k for k in hints if OmegaConf.is_missing(merged, k)]
    if missing:
        raise ConfigError(f"{path}.{missing[0]}: required key is missing")
    values = OmegaConf.to_container(merged, resolve=False)
    for name, hint in hints.items():
        _check_leaves(values[name], hint, f"{path}.{name}")
    return cls(**{k: tuple(v) if _origin(hints[k]) is tuple else v for k, v in values.items()})


@functools.cache
def _hints(cls) -> dict[str, Any]:
    """Field name -> resolved type of a schema dataclass (in field order)."""
    resolved = typing.get_type_hints(cls)
    return {f.name: resolved[f.name] for f in dataclasses.fields(cls)}


@functools.cache
def _schema(cls):
    from omegaconf import OmegaConf

    return OmegaConf.structured(cls)  # OmegaConf.merge copies it


def _origin(hint):
    origin = typing.get_origin(hint)
    return typing.Union if origin is types.UnionType else origin


def _integral(value, hint):
    """An integral float (or a numeric string such as ``"1e6"``) for an integer field, as an int;
    anything else unchanged (OmegaConf refuses 1.5 or ``"lots"`` for an integer)."""
    if not (hint is int or (_origin(hint) is typing.Union and int in typing.get_args(hint))):
        return value
    number = value
    if isinstance(value, str) and hint is int:
        try:
            number = float(value)
        except ValueError:
            return value
    return int(number) if isinstance(number, float) and number.is_integer() else value


def _check_leaves(value, hint, path: str) -> None:
    """Refuse a non-finite float and a non-string where a string is typed (OmegaConf lets a list
    through inside a list of strings); recurses into lists and mappings."""
    origin = _origin(hint)
    if hint is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{path}: expected a finite number, got {value!r}")
    if hint is str and not isinstance(value, str):
        raise ConfigError(f"{path}: expected a string, got {value!r}")
    if origin is tuple:
        for i, v in enumerate(value):
            _check_leaves(v, typing.get_args(hint)[0], f"{path}[{i}]")
    if origin is dict:
        for k, v in value.items():
            _check_leaves(v, typing.get_args(hint)[1], f"{path}.{k}")


def _type_error(err, hints: dict, path: str) -> str:
    """OmegaConf's error as ``<path>.<key>: expected <the field's type>, got <value>``."""
    key = str(err.full_key or "")
    name = key.split(".")[0].split("[")[0]
    if name not in hints:  # not about one field (e.g. a list where a mapping belongs)
        return f"{path}: {str(err.msg).splitlines()[0]}"
    hint = hints[name]
    rest = key[len(name) :]
    if rest:  # an element: fields[i] or field.key
        hint = typing.get_args(hint)[0 if rest.startswith("[") else -1]
    return f"{path}.{key}: expected {_words(hint)}, got {err.value!r}"


def _words(hint) -> str:
    """A type in words: ``int | str`` -> ``an integer or a string``."""
    origin = _origin(hint)
    if origin is typing.Union:
        return " or ".join(_words(h) for h in typing.get_args(hint))
    if origin in (tuple, list):
        return "a list"
    if origin is dict:
        return "a mapping"
    names = {int: "an integer", float: "a finite number", str: "a string", bool: "true or false"}
    return names.get(hint, "null" if hint is type(None) else str(hint))
