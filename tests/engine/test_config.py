"""Bad input gets a clear error naming the config path and the value, before any compile."""

import subprocess
import sys

import pytest

from engine import ConfigError, compose


def test_default_config_composes():
    cfg = compose([])
    assert cfg.engine.n_paths == 200_000
    assert cfg.scenario.name == "mixed"
    assert len(cfg.domains) == 25 and len(cfg.strategies) == 4 and len(cfg.area_ids) == 8


@pytest.mark.parametrize(
    "group,option", [("scenario", s) for s in ("capture", "mixed", "not_so_bright")]
)
def test_every_group_option_composes(group, option):
    assert compose([f"{group}={option}"]).scenario.name == option


@pytest.mark.parametrize("stress", ["early_agi_strategic_fails", "yen_crisis", "defense_surge"])
def test_stress_scenarios_compose_with_their_narrative(stress):
    from engine.config import CONFIG_DIR
    from engine.drivers import build_driver_table

    cfg = compose([f"+stress={stress}"])
    assert cfg.scenario.name == stress
    build_driver_table(cfg)  # every driver spec in the file is valid
    text = (CONFIG_DIR / "stress" / f"{stress}.yaml").read_text()
    assert "# Narrative." in text and f"+stress={stress}" in text


def test_integral_float_paths_accepted():
    assert compose(["engine.n_paths=1e6"]).engine.n_paths == 1_000_000


@pytest.mark.parametrize(
    "override,message",
    [
        ("engine.n_paths=1.5", r"engine.n_paths: expected an integer, got 1.5"),
        ("engine.n_paths=0", r"engine.n_paths: must be at least 1, got 0"),
        ("engine.n_paths=lots", r"n_paths"),
        ("+engine.n_pathz=10", r"engine.n_pathz: unknown key"),
        ("engine.chunk_size=1000", r"engine.chunk_size: must be a power of two, got 1000"),
        ("engine.end_year=2060", r"engine.end_year: must be in 2030..2050, got 2060"),
        ("engine.end_year=2029", r"engine.end_year: must be in 2030..2050, got 2029"),
        ("engine.device=tpu", r"engine.device: unknown device 'tpu'"),
        ("engine.n_paths=1001", r"not divisible by engine.chains=4"),
        ("mode=fly", r"mode: unknown mode 'fly'"),
        (
            "scenario.policy_success_prob.ecosystem=1.5",
            r"policy_success_prob.ecosystem: must be in \[0, 1\], got 1.5",
        ),
        (
            "domains.fusion.japan_share=1.2",
            r"domains.fusion.japan_share: must be in \(0, 1\), got 1.2",
        ),
        ("domains.fusion.bass_p=-0.1", r"domains.fusion.bass_p: must be positive, got -0.1"),
        (
            "+domains.fusion.couplings.weather=0.5",
            r"domains.fusion.couplings.weather: unknown coupling",
        ),
        ("strategies.ecosystem.domains=[fusion]", r"domain 'fusion' is mapped to two strategies"),
        (
            "strategies.ecosystem.domains=[advanced_reactors]",
            r"domains.medical_robotics: domain is mapped to no strategy",
        ),
        ("strategies.ecosystem.domains=[warp_drive]", r"unknown domain 'warp_drive'"),
        ("+drivers.agi_yaer={dist: normal, loc: 0, scale: 1}", r"drivers.agi_yaer: unknown key"),
        ("+macro.impacts.typo={}", r"macro.impacts.typo: unknown key"),
        (
            "macro.investment.post_launch_decay=1.0",
            r"macro.investment.post_launch_decay: must be in \(0, 1\), got 1.0",
        ),
        (
            "macro.investment.post_launch_years=-1",
            r"macro.investment.post_launch_years: must be >= 0, got -1",
        ),
        ("scenario=foo", r"scenario/foo"),
        # a market above its parent is refused, naming the domain, the value and the bound
        (
            "domains.ai_defined_vehicle.market_2040=641",
            r"domains.ai_defined_vehicle.market_2040: 641 tn JPY/yr exceeds its parent market "
            r"world_vehicle_sales \(555 tn JPY/yr in 2040\)",
        ),
        (
            "domains.metal_recycling.parent=moon_mining",
            r"domains.metal_recycling.parent: unknown parent market 'moon_mining'",
        ),
        (
            "domains.datacenter_solutions.parent_fraction=1.5",
            r"domains.datacenter_solutions.parent_fraction: must be in \(0, 1\] for a market tied "
            r"to dc_facility_capex, got 1.5",
        ),
        (
            "+domains.datacenter_solutions.market_2040=151",
            r"domains.datacenter_solutions.market_2040: a market tied to dc_facility_capex",
        ),
        ("domains.fusion.scope=lunar", r"domains.fusion.scope: expected global or domestic"),
        (
            "macro.impacts.workers_added.kind=guess",
            r"macro.impacts.workers_added.kind: unknown kind 'guess'",
        ),
    ],
)
def test_bad_config_raises(override, message):
    with pytest.raises(ConfigError, match=message):
        compose([override])


def test_markets_sharing_a_parent_must_fit_in_it_together():
    with pytest.raises(
        ConfigError,
        match=r"macro.parent_markets.japan_waste_and_resource_recycling: the markets of "
        r"metal_recycling, construction_circular add up to 69 tn JPY/yr, above the parent's 68",
    ):
        compose(
            [
                "domains.metal_recycling.market_2040=67",
                "domains.construction_circular.parent=japan_waste_and_resource_recycling",
            ]
        )


def test_unknown_driver_in_correlation_is_named():
    cfg = compose([])
    raw = dict(cfg.raw)
    raw["drivers"] = dict(raw["drivers"])
    raw["drivers"]["correlation"] = {
        **raw["drivers"]["correlation"],
        "entries": [{"pair": ["agi", "market_factor.warp_drive"], "rho": 0.5}],
    }
    from engine.config import validate
    from engine.drivers import build_driver_table

    with pytest.raises(
        ConfigError, match=r"entries\[0\].pair: unknown driver 'market_factor.warp_drive'"
    ):
        build_driver_table(validate(raw))


def test_bad_driver_spec_names_path():
    from engine.drivers import build_driver_table

    cfg = compose(["drivers.fx.p05=-5"])
    with pytest.raises(ConfigError, match=r"drivers.fx"):
        build_driver_table(cfg)


def test_cli_bad_input_exits_nonzero_and_writes_nothing(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "jp2040", "engine.chunk_size=1000", f"hydra.run.dir={run_dir}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "engine.chunk_size: must be a power of two, got 1000" in proc.stderr + proc.stdout
    for name in ("results.nc", "summary.csv", "manifest.json", "report.html"):
        assert not (run_dir / name).exists()


@pytest.fixture(scope="module")
def base_raw():
    return compose([]).raw


def _with(raw, dotted: str, value):
    """A deep copy of ``raw`` with ``dotted`` (e.g. ``engine.n_paths``) set to ``value``, or
    removed when ``value`` is ``...``."""
    import copy

    raw = copy.deepcopy(raw)
    *parents, last = dotted.split(".")
    node = raw
    for key in parents:
        node = node[key]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return raw


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("engine.n_paths", "abc", r"engine.n_paths: expected an integer, got 'abc'"),
        ("engine.n_paths", True, r"engine.n_paths: expected an integer, got True"),
        (
            "engine.tail_alpha",
            float("nan"),
            r"engine.tail_alpha: expected a finite number, got nan",
        ),
        (
            "engine.tail_outputs",
            [["x"]],
            r"engine.tail_outputs\[0\]: expected a string, got \['x'\]",
        ),
        (
            "engine.host_devices",
            4.5,
            r"engine.host_devices: expected an integer or a string, got 4.5",
        ),
        ("report.html", "maybe", r"report.html: expected true or false, got 'maybe'"),
        ("report.alphas", ["x"], r"report.alphas\[0\]: expected a finite number, got 'x'"),
        ("report.formats", "png", r"report.formats: expected a list, got 'png'"),
        (
            "scenario.policy_success_prob.ecosystem",
            "x",
            r"scenario.policy_success_prob.ecosystem: expected a finite number, got 'x'",
        ),
        (
            "domains.fusion.bass_p",
            True,
            r"domains.fusion.bass_p: expected a finite number, got True",
        ),
        ("domains.fusion.area", ..., r"domains.fusion.area: required key is missing"),
        ("strategies.ecosystem", [1], r"strategies.ecosystem: expected a mapping, got \[1\]"),
        ("domains.fusion.drivers", [1], r"domains.fusion.drivers: expected a mapping, got \[1\]"),
    ],
)
def test_type_errors_name_the_path_and_the_value(base_raw, key, value, message):
    """OmegaConf types each group against its schema; its errors become ConfigError."""
    from engine.config import validate

    with pytest.raises(ConfigError, match=message):
        validate(_with(base_raw, key, value))


def test_defaults_are_the_yaml_files(base_raw):
    """A group's defaults are defined once, in configs/<group>/default.yaml: the schema has none,
    and a plain mapping's missing keys are filled from the file."""
    import dataclasses

    import yaml

    from engine.config import CONFIG_DIR, DEFAULTED_GROUPS, group_defaults, validate

    cfg = validate(_with(base_raw, "report", {"html": False, "alphas": [0.1]}))
    text = yaml.safe_load((CONFIG_DIR / "report" / "default.yaml").read_text())
    assert group_defaults("report") == text
    assert (cfg.report.html, cfg.report.alphas, cfg.report.formats) == (False, (0.1,), ("png",))
    for group in DEFAULTED_GROUPS:
        schema = type(getattr(cfg, group))
        for f in dataclasses.fields(schema):
            assert f.default is dataclasses.MISSING, f"{group}.{f.name} has a default in code"
    engine = validate(_with(base_raw, "engine", {"n_paths": 4.0e3})).engine
    assert (engine.n_paths, engine.seed, engine.chains) == (4000, 0, 4)


def test_validated_configs_share_no_mutable_state(base_raw):
    """validate memoises its typed groups; each Config still gets its own copies."""
    from engine.config import validate

    first, second = validate(base_raw), validate(base_raw)
    first.domains["fusion"].drivers["market_factor"]["p05"] = -1.0
    first.scenario.policy_success_prob["ecosystem"] = 0.0
    assert second.domains["fusion"].drivers["market_factor"]["p05"] == 0.25
    assert validate(base_raw).scenario.policy_success_prob["ecosystem"] > 0.0
