"""Static model parameters: the config turned into numpy arrays, closed over by the jitted step.

Nothing here is random. ``build_params(cfg)`` is the only place where config values become numbers
the model uses; the path function (``engine.model``) takes a :class:`ModelParams` and never a
config.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import jax
import numpy as np

from engine.config import Config
from engine.model_names import COMPUTED_PARENTS, IMPACTS

COUNTRIES_RATIO = ("united_states", "nato", "japan")
COUNTRIES_SPEND = ("united_states", "nato", "japan", "china")
REGIONS = ("global", "japan")
MARKET_TIES = ("", *COMPUTED_PARENTS)  # index 0: a market of its own
INVESTMENT_GRID_YEARS = 80  # years after the start over which an investment schedule is normalised


def bass_cdf(tau, p, q, xp=np):
    """Bass adoption F(tau): fraction of the potential adopted tau years after the start.

    F(tau) = (1 - exp(-(p+q) tau)) / (1 + (q/p) exp(-(p+q) tau)), F = 0 for tau <= 0.
    """
    tau = xp.maximum(tau, 0.0)
    e = xp.exp(-(p + q) * tau)
    return (1.0 - e) / (1.0 + (q / p) * e)


def bass_offset(p, q, launch_adoption, xp=np):
    """Years tau0 at which the Bass curve reaches ``launch_adoption`` (F(tau0) = a)."""
    a = launch_adoption
    return -xp.log((1.0 - a) / (1.0 + a * q / p)) / (p + q)


def adoption(year, launch_year, p, q, launch_adoption, xp=np):
    """Adoption share in ``year`` of a domain whose adoption reaches ``launch_adoption`` at launch."""
    return bass_cdf(year - launch_year + bass_offset(p, q, launch_adoption, xp), p, q, xp)


def investment_weights(years, launch_year, start_year, post_years, decay, xp=np):
    """Unnormalised investment schedule: a linear ramp from ``start_year`` up to the launch, then
    ``post_years`` years decaying by ``decay`` a year; zero afterwards.

    Shapes broadcast: years (..., 1) against launch_year (..., D) etc.
    """
    base = start_year - 1.0
    launch = xp.maximum(launch_year, start_year)
    ramp = xp.minimum(years - base, launch - base)
    # decay ** (years - launch) after the launch, as decay ** (years - start) (a constant per
    # year) x decay ** (start - launch) (one per launch): no power per (year, launch) pair.
    # Clamping the launch at the last year changes nothing where the factor is used (years >
    # launch) and keeps it finite.
    # a Python float stays a weak scalar (no float64 in NumPy); a traced one goes through xp
    log_decay = math.log(decay) if isinstance(decay, (int, float)) else xp.log(decay)
    per_launch = xp.exp((start_year - xp.minimum(launch, xp.max(years))) * log_decay)
    tail = xp.where(years > launch, xp.exp((years - start_year) * log_decay) * per_launch, 1.0)
    live = (years >= start_year) & (years <= launch + post_years)
    return xp.where(live, ramp * tail, 0.0)


def investment_weight_total(launch_year, start_year, post_years, decay, xp=np):
    """Sum over all integer years of :func:`investment_weights` (closed form, no year grid).

    Ramp: years start..floor(L) contribute 1 + 2 + ... + n1 with n1 = floor(L) - start + 1.
    Tail: years floor(L)+1..floor(L+post) contribute (L - start + 1) * decay^(t - L), a geometric sum.
    """
    launch = xp.maximum(launch_year, start_year)
    n1 = xp.floor(launch) - start_year + 1.0
    ramp = n1 * (n1 + 1.0) / 2.0
    first = xp.floor(launch) + 1.0
    m = xp.floor(launch + post_years) - xp.floor(launch)
    tail = (
        (launch - start_year + 1.0) * decay ** (first - launch) * (1.0 - decay**m) / (1.0 - decay)
    )
    return ramp + tail


def dc_twh(year, twh_2024, twh_2030, twh_2035, xp=np):
    """Global data-centre electricity (TWh) by the report's method (chapter 3, data-centre
    solutions: DC facility market estimate).

    Geometric between 2024, 2030 and 2035; after 2035 each 5-year CAGR is the previous one times
    the same ratio of decline (CAGR 2030-35 / CAGR 2024-30).
    """
    cagr1 = (twh_2030 / twh_2024) ** (1.0 / 6.0) - 1.0
    cagr2 = (twh_2035 / twh_2030) ** (1.0 / 5.0) - 1.0
    ratio = xp.clip(cagr2 / cagr1, 0.0, 1.5)
    cagr3 = cagr2 * ratio
    cagr4 = cagr3 * ratio
    cagr5 = cagr4 * ratio
    twh_2040 = twh_2035 * (1.0 + cagr3) ** 5
    twh_2045 = twh_2040 * (1.0 + cagr4) ** 5
    return xp.where(
        year <= 2030,
        twh_2024 * (1.0 + cagr1) ** (year - 2024),
        xp.where(
            year <= 2035,
            twh_2030 * (1.0 + cagr2) ** (year - 2030),
            xp.where(
                year <= 2040,
                twh_2035 * (1.0 + cagr3) ** (year - 2035),
                xp.where(
                    year <= 2045,
                    twh_2040 * (1.0 + cagr4) ** (year - 2040),
                    twh_2045 * (1.0 + cagr5) ** (year - 2045),
                ),
            ),
        ),
    )


def dc_facility_capex(year, twh_2030, twh_2035, fx, dc: dict, xp=np):
    """Global DC facility CAPEX in ``year`` (tn JPY/yr): capacity added x USD/W x facility share.

    capacity (W) = TWh x 1e12 / (8760 h x load factor x utilisation).
    """
    per_watt = 1e12 / (8760.0 * dc["load_factor"] * dc["utilisation"])
    t24 = dc["twh_2024"]
    added = dc_twh(year, t24, twh_2030, twh_2035, xp) - dc_twh(
        year - 1, t24, twh_2030, twh_2035, xp
    )
    watts = xp.maximum(added, 0.0) * per_watt
    return watts * dc["capex_usd_per_w"] * dc["facility_share"] * fx / 1e12


def strategy_success(u_success, u_precondition, prob, precondition: int, strength, xp=np):
    """Which strategies succeed on a path (bool, shape of ``u_success``, strategies last).

    Strategy s succeeds when ``u_s < prob_s``, unless the precondition strategy fails and the
    path's second uniform ``v_s < strength`` (the failure propagates):
    P(s | precondition fails) = prob_s x (1 - strength), P(s | it succeeds) = prob_s.
    """
    base = u_success < prob
    failed = ~base[..., precondition : precondition + 1]
    others = np.arange(base.shape[-1]) != precondition
    return base & ~(failed & (u_precondition < strength) & others)


def defense_spend(years, ratio, gdp_growth, fx, china_growth, m: dict, xp=np):
    """Defense spending (bn USD/yr), shape (T, 4): United States, NATO (European allies and
    Canada), Japan, China. ``ratio`` (T, 3) is % of GDP for the first three; China grows at
    ``china_growth`` a year from its 2024 level."""
    dfn = m["defense"]
    since = years - 2024.0
    gdp_jp = m["japan_gdp_2024"] * (1.0 + gdp_growth + dfn["japan_inflation"]) ** since
    growth_usd = (1.0 + dfn["nominal_gdp_growth_usd"]) ** since
    return xp.stack(
        [
            ratio[:, 0] / 100 * dfn["gdp_usd_2024"]["united_states"] * growth_usd * 1e3,
            ratio[:, 1] / 100 * dfn["gdp_usd_2024"]["nato"] * growth_usd * 1e3,
            ratio[:, 2] / 100 * gdp_jp / fx * 1e3,
            dfn["china_spend_2024_bn_usd"] * (1.0 + china_growth) ** since,
        ],
        axis=1,
    )


def _median(cfg: Config, name: str) -> float:
    """Median of a global driver (its spec's quantile function at 0.5)."""
    from distributions.spec import from_spec
    from engine.drivers import strip_metadata

    return float(from_spec(strip_metadata(cfg.drivers[name]), f"drivers.{name}").icdf(0.5))


def central_parents(cfg: Config, years: np.ndarray, defense_central: np.ndarray) -> dict:
    """The computed parent markets in 2040 at the drivers' medians (tn JPY/yr): what a
    programme plans on before the uncertainty resolves."""
    m = cfg.macro
    fx = _median(cfg, "fx")
    i40 = int(np.flatnonzero(years == 2040.0)[0])
    capex = dc_facility_capex(
        2040.0, _median(cfg, "dc_twh_2030"), _median(cfg, "dc_twh_2035"), fx, m["datacenter"]
    )
    spend = defense_spend(
        years, defense_central, _median(cfg, "gdp_growth"), fx,
        _median(cfg, "china_defense_growth"), m,
    )  # fmt: skip
    return {
        "dc_facility_capex": float(capex),
        "defense_spend": float(spend[i40].sum() * fx / 1e3),
    }


@dataclass(frozen=True)
class ModelParams:
    """Arrays and constants of the model. D domains, S strategies, A areas, I impacts, T years.

    Per domain (D,): ``launch_year`` (nominal onset), ``bass_p``, ``bass_q``, ``market_2040``
    (tn JPY/yr; for a tied market the fraction of its parent), ``market_tie`` (int index into
    MARKET_TIES), ``japan_share``, ``margin``, ``fixed_cost`` (tn JPY/yr), ``investment_total``
    (tn JPY, whole programme: capital intensity x planned revenue + R&D programme), ``w_agi``,
    ``w_ftqc``, ``w_defense`` (coupling weights), ``strategy_index`` (int), ``report_basis``
    (bool), ``is_photonics`` (bool).
    """

    years: np.ndarray  # (T,) simulated years start..max(end, 2040), float
    n_report_years: int  # years start..end_year reported
    index_2040: int
    domain_ids: tuple[str, ...]
    strategy_ids: tuple[str, ...]
    area_ids: tuple[str, ...]
    launch_year: np.ndarray
    bass_p: np.ndarray
    bass_q: np.ndarray
    market_2040: np.ndarray
    market_tie: np.ndarray  # (D,) int
    japan_share: np.ndarray
    margin: np.ndarray
    fixed_cost: np.ndarray
    investment_total: np.ndarray
    w_agi: np.ndarray
    w_ftqc: np.ndarray
    w_defense: np.ndarray
    strategy_index: np.ndarray
    report_basis: np.ndarray
    is_photonics: np.ndarray
    domain_strategy: np.ndarray  # (D, S) membership, float
    domain_area: np.ndarray  # (D, A) membership, float
    success_prob: np.ndarray  # (S,)
    impact_ids: tuple[str, ...]
    impact_domain: np.ndarray  # (I,) int
    impact_strategy: np.ndarray  # (I,) int
    impact_potential: np.ndarray  # (I,) run-rate at full maturity of the impact's domain
    impact_is_revenue: np.ndarray  # (I,) bool: the impact is its domain's revenue
    impact_failure: np.ndarray  # (I,)
    global_scope: np.ndarray  # (D,) bool: the domain sells on the world market
    ai_domain: int  # the domain whose market is Japan's AI spending (digital deficit)
    dc_strategy: int  # the strategy whose success is the domestic DC build-out
    precondition: int  # the strategy the others depend on
    defense_central: np.ndarray  # (T, 3) % of GDP, US / NATO / Japan
    humanoid_price: np.ndarray  # (T,) million JPY per unit
    start_year: float
    launch_adoption: float
    failure_share_factor: float
    existing_shrink: float
    macro: dict  # plain floats and small dicts from configs/macro (read-only)


# ---------------------------------------------------------------- ModelParams as a JAX pytree
# Numbers are leaves (traced when the params are a jit argument, so a changed market or coupling
# reuses the compiled program); ids, indices, masks, the year grid and the macro block's strings
# are static aux data (a change there is a change of structure and compiles anew).
STATIC_FIELDS = (
    "years",
    "n_report_years",
    "index_2040",
    "domain_ids",
    "strategy_ids",
    "area_ids",
    "strategy_index",
    "report_basis",
    "is_photonics",
    "domain_strategy",
    "domain_area",
    "impact_ids",
    "impact_domain",
    "impact_strategy",
    "impact_is_revenue",
    "global_scope",
    "ai_domain",
    "dc_strategy",
    "precondition",
    "start_year",
    "market_tie",
)


class _Frozen:
    """A hashable, comparable holder for a static NumPy array in pytree aux data."""

    __slots__ = ("array", "_key")

    def __init__(self, array):
        self.array = np.asarray(array)
        self._key = (self.array.dtype.str, self.array.shape, self.array.tobytes())

    def __hash__(self):
        return hash(self._key)

    def __eq__(self, other):
        return isinstance(other, _Frozen) and self._key == other._key


def _freeze(v):
    return _Frozen(v) if isinstance(v, np.ndarray) else v


def _thaw(v):
    return v.array if isinstance(v, _Frozen) else v


def _split_macro(node, path=()):
    """(numbers as a pytree with None where a string was, ((path, string), ...))."""
    if isinstance(node, dict):
        nums, strs = {}, []
        for k, v in node.items():
            nums[k], sub = _split_macro(v, (*path, k))
            strs += sub
        return nums, tuple(strs)
    if isinstance(node, (list, tuple)):
        parts = [_split_macro(v, (*path, i)) for i, v in enumerate(node)]
        return [n for n, _ in parts], tuple(x for _, sub in parts for x in sub)
    if isinstance(node, (str, bool)) or node is None:
        return None, ((path, node),)
    return node, ()


def _join_macro(nums, strs):
    out = nums
    for path, value in strs:
        parent = out
        for k in path[:-1]:
            parent = parent[k]
        parent[path[-1]] = value
    return out


def _params_flatten(p: ModelParams):
    numeric = tuple(getattr(p, n) for n in _NUMERIC_FIELDS)
    macro_nums, macro_strs = _split_macro(p.macro)
    static = tuple(_freeze(getattr(p, n)) for n in STATIC_FIELDS)
    return (numeric, macro_nums), (static, macro_strs)


def _params_unflatten(aux, children) -> ModelParams:
    static, macro_strs = aux
    numeric, macro_nums = children
    macro = _join_macro(jax.tree_util.tree_map(lambda x: x, macro_nums), macro_strs)
    obj = object.__new__(ModelParams)
    for n, v in zip(_NUMERIC_FIELDS, numeric, strict=True):
        object.__setattr__(obj, n, v)
    for n, v in zip(STATIC_FIELDS, static, strict=True):
        object.__setattr__(obj, n, _thaw(v))
    object.__setattr__(obj, "macro", macro)
    return obj


_NUMERIC_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(ModelParams)
    if f.name not in STATIC_FIELDS and f.name != "macro"
)
jax.tree_util.register_pytree_node(ModelParams, _params_flatten, _params_unflatten)


def build_params(cfg: Config) -> ModelParams:
    """Turn the validated config into :class:`ModelParams` (pure, no randomness)."""
    e, m = cfg.engine, cfg.macro
    sim_end = max(e.end_year, 2040)
    years = np.arange(e.start_year, sim_end + 1, dtype=np.float64)
    doms = list(cfg.domains.values())
    dom_ids, strat_ids, area_ids = cfg.domain_ids, cfg.strategy_ids, cfg.area_ids

    def col(attr):
        return np.array([getattr(d, attr) for d in doms], dtype=np.float64)

    def coupling(name):
        return np.array([d.couplings.get(name, 0.0) for d in doms], dtype=np.float64)

    strategy_index = np.array([strat_ids.index(cfg.strategy_of(d)) for d in dom_ids])
    domain_strategy = np.eye(len(strat_ids))[strategy_index]
    domain_area = np.array([[float(d.area == a) for a in area_ids] for d in doms])
    report_basis = np.array(
        [d not in cfg.strategies[cfg.strategy_of(d)].report_basis_excludes for d in dom_ids]
    )

    launch = col("launch_year")
    impacts = m["impacts"]
    impact_domain = np.array([dom_ids.index(impacts[i]["domain"]) for i in IMPACTS])

    anchors = m["defense"]["anchors"]
    defense_central = np.stack(
        [
            np.interp(
                years,
                [float(y) for y in anchors[c]],
                [float(v) for v in anchors[c].values()],
            )
            for c in COUNTRIES_RATIO
        ],
        axis=1,
    )
    tie = np.array([MARKET_TIES.index(d.parent) if d.parent in MARKET_TIES else 0 for d in doms])
    market = np.where(tie > 0, col("parent_fraction"), col("market_2040"))
    parents = central_parents(cfg, years, defense_central)
    planned_market = np.where(
        tie == 1, market * parents["dc_facility_capex"], market
    )  # tn JPY/yr in 2040, at the drivers' medians
    planned_market = np.where(tie == 2, market * parents["defense_spend"], planned_market)
    planned_revenue = planned_market * col("japan_share")
    investment_total = col("capital_intensity") * planned_revenue + col("rd_programme")
    h = m["humanoids"]
    decline = (h["price_2050_mjpy"] / h["price_2040_mjpy"]) ** (1.0 / 10.0)
    humanoid_price = h["price_2040_mjpy"] * decline ** (years - 2040.0)

    return ModelParams(
        years=years,
        n_report_years=e.end_year - e.start_year + 1,
        index_2040=int(2040 - e.start_year),
        domain_ids=dom_ids,
        strategy_ids=strat_ids,
        area_ids=area_ids,
        launch_year=launch,
        bass_p=col("bass_p"),
        bass_q=col("bass_q"),
        market_2040=market,
        market_tie=tie,
        japan_share=col("japan_share"),
        margin=col("margin"),
        fixed_cost=col("fixed_cost"),
        investment_total=investment_total,
        w_agi=coupling("agi"),
        w_ftqc=coupling("ftqc"),
        w_defense=coupling("defense"),
        strategy_index=strategy_index,
        report_basis=report_basis,
        is_photonics=np.array([d == "photonics_electronics" for d in dom_ids]),
        domain_strategy=domain_strategy,
        domain_area=domain_area,
        success_prob=np.array([cfg.scenario.policy_success_prob[s] for s in strat_ids]),
        impact_ids=IMPACTS,
        impact_domain=impact_domain,
        impact_strategy=np.array([strat_ids.index(impacts[i]["strategy"]) for i in IMPACTS]),
        impact_potential=np.array([float(impacts[i].get("potential", 0.0)) for i in IMPACTS]),
        impact_is_revenue=np.array(
            [impacts[i].get("kind", "potential") == "domain_revenue" for i in IMPACTS]
        ),
        impact_failure=np.array([float(impacts[i]["failure_factor"]) for i in IMPACTS]),
        global_scope=np.array([d.scope == "global" for d in doms]),
        ai_domain=dom_ids.index(m["digital_deficit"]["ai_domain"]),
        dc_strategy=strat_ids.index(m["digital_deficit"]["dc_strategy"]),
        precondition=strat_ids.index(m["strategy_dependence"]["precondition"]),
        defense_central=defense_central,
        humanoid_price=humanoid_price,
        start_year=float(e.start_year),
        launch_adoption=e.launch_adoption,
        failure_share_factor=cfg.scenario.failure_share_factor,
        existing_shrink=cfg.scenario.existing_shrink_per_year,
        macro=m,
    )
