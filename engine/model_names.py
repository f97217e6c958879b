"""The model's vocabulary: the names of the drivers it reads, the impacts it computes, the parent
markets it computes per path and a domain's arrival couplings.

Plain tuples (no JAX), defined once: the config's rules (``engine.config_rules``) check a config
against them, ``engine.drivers`` and ``engine.params`` build their arrays in these orders.
"""

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
"""Drivers drawn once per path for the whole economy (``drivers.<name>`` in the config)."""

DOMAIN_DRIVERS = (
    "launch_delay",
    "bass_p_factor",
    "bass_q_factor",
    "market_factor",
    "share_factor",
    "margin_factor",
    "cost_overrun",
)
"""Drivers drawn once per path and domain (``drivers.domain_defaults``, ``domains.<d>.drivers``)."""

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
"""Macro impacts (``macro.impacts.<name>``), in the model's order (axis I)."""

COMPUTED_PARENTS = ("dc_facility_capex", "defense_spend")
"""Parent markets the model computes per path; a domain tied to one gives ``parent_fraction``."""

COUPLINGS = ("agi", "ftqc", "defense")
"""Arrivals a domain's launch can be coupled to (``domains.<d>.couplings.<name>``, weight 0..1)."""
