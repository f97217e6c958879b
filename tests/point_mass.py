"""Shared test helper: a config whose every driver is a point mass at a nominal value."""

MEDIANS = {
    "agi": 2037,
    "ftqc": 2035,
    "photonics": 2032,
    "gdp_growth": 0.005,
    "fx": 150.0,
    "digital_deficit_growth": 0.07,
    "defense_shift_united_states": 0.0,
    "defense_shift_nato": 0.0,
    "defense_shift_japan": 0.0,
    "china_defense_growth": 0.072,
    "dc_twh_2030": 850.0,
    "dc_twh_2035": 1200.0,
    "dc_japan_share": 0.042,
    "labour_supply_change": -0.006,
    "humanoid_launch_delay": 0.0,
}


def set_point_mass_drivers(raw: dict) -> dict:
    """Make every driver in the raw config mapping a point mass, in place: global drivers at
    MEDIANS, domain factors 1 (launch delay 0), policy delay 0, impact factors 1, no correlation.
    Returns ``raw``."""
    d = raw["drivers"]
    for name, value in MEDIANS.items():
        d[name] = {"dist": "pointmass", "value": value}
    for k in d["domain_defaults"]:
        d["domain_defaults"][k] = {
            "dist": "pointmass",
            "value": 0.0 if k == "launch_delay" else 1.0,
        }
    d["strategy_defaults"]["policy_delay"] = {"dist": "pointmass", "value": 0.0}
    d["impact_defaults"]["impact_factor"] = {"dist": "pointmass", "value": 1.0}
    d["correlation"] = {**d["correlation"], "entries": []}
    return raw


def point_mass_config(overrides=()):
    """A small validated config (64 paths, 2 chains) whose every driver is a point mass at its
    nominal value and whose domains keep no per-domain spreads: every path is the nominal path."""
    import copy

    from engine import compose
    from engine.config import validate

    base = compose(
        [
            "engine.n_paths=64",
            "engine.chains=2",
            "engine.chunk_size=64",
            "engine.keep_trajectories=64",
            "engine.progress=false",
            *overrides,
        ]
    )
    raw = copy.deepcopy(base.raw)
    set_point_mass_drivers(raw)
    for dom in raw["domains"].values():
        dom.pop("drivers", None)
    return validate(raw)
