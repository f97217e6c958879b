"""One path of the 2040 model: driver values -> yearly ``lax.scan`` -> outcomes.

Written for one path and ``vmap``-ed over many (equinox style). Shapes in comments are for one
path: D domains, S strategies, A areas, I impacts, T simulated years. Money in tn JPY.

A year is ``adopt -> earn -> invest -> macro``:
  adoption    A_d(t) = Bass F(t - launch_d + tau0_d), tau0 so that A = launch_adoption (the
              market onset, 1%) at launch
  market      market_2040_d x factor_d x (1+g)^(t-2040)   (x defense demand multiplier), or for a
              tied market parent_fraction_d x factor_d x parent(t) (DC facility CAPEX, defense
              spending of the four powers), capped at the parent
  revenue     market_d(t) x A_d(t) x share_d
  profit      revenue x margin - fixed_cost
  investment  total_d x overrun_d x w_d(t) / sum_t w_d(t)   (ramp up to launch, decay after)
  fcf         profit - investment
  impacts     run-rate potential x factor x A_d(t) (reached as the domain matures), or the
              revenue of the impact's domain
  success     strategy s succeeds when its policy arrives, unless strategy 3 fails and takes it
              down with it (engine.params.strategy_success); a failed strategy's investment is
              cut to spend_after_onset of its schedule after its onset
  deficit     non-AI trend + Japan's AI spending x its foreign share (engine.macro), at the
              path's yen; the yen moves with the current-account drag (deficit - foreign
              earnings of the global domains); primary balance, public debt / GDP and GNI per
              head follow (engine.macro)
  labour      shortage = max(0, L0 (1+g)^(t-2024) - L0 (1+s)^(t-2024) - workers added)
  humanoids   installed base = shortage x take-up(t) (Bass); demand = units bought x price(t)
  fiscal      social-security savings + tax x positive profits - public share x investment

Everything that is a closed form of the year is computed for all years at once (shape (T, ...):
one fused XLA loop instead of T small ones, ~2x faster on CPU); ``lax.scan`` carries what
depends on earlier years (the installed humanoid base: units bought in a year are the growth of
the installed base, never negative).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from engine.drivers import DriverTable
from engine.macro import debt_step, digital_deficit, fx_path, gni_per_capita, primary_balance
from engine.model_names import DOMAIN_DRIVERS
from engine.params import (
    ModelParams,
    bass_cdf,
    bass_offset,
    dc_facility_capex,
    defense_spend,
    investment_weight_total,
    investment_weights,
    strategy_success,
)

DOMAIN_AUDIT_VARS = ("market_2040", "japan_share_2040")  # per-path inputs a reviewer checks
MACRO_VARS = (
    "digital_deficit",
    "digital_deficit_restraint",
    "social_security_savings",
    "import_substitution",
    "tourism_demand",
    "autonomy_solutions_sales",
    "dc_power_saving",
    "autonomous_driving_market",
    "workers_added",
    "labour_shortage",
    "humanoid_demand",
    "existing_value_added",
    "fiscal_effect",
    "fx",
    "current_account_drag",
    "primary_balance",
    "debt_to_gdp",
    "gni_per_capita",
)
MACRO_VECTOR_VARS = {
    "defense_ratio": "country",
    "defense_spend": "country",
    "dc_facility_capex": "region",
}


@dataclass(frozen=True)
class DriverColumns:
    """Column indices into the driver vector, resolved once from the driver table."""

    scalar: dict  # name -> int
    domain: dict  # driver kind -> (D,) int array
    policy_delay: np.ndarray  # (S,)
    policy_success: np.ndarray  # (S,)
    policy_precondition: np.ndarray  # (S,)
    impact_factor: np.ndarray  # (I,)

    @classmethod
    def from_table(cls, table: DriverTable, params: ModelParams) -> DriverColumns:
        idx = {n: i for i, n in enumerate(table.names)}
        return cls(
            scalar={n: i for n, i in idx.items() if "." not in n},
            domain={
                k: np.array([idx[f"{k}.{d}"] for d in params.domain_ids]) for k in DOMAIN_DRIVERS
            },
            policy_delay=np.array([idx[f"policy_delay.{s}"] for s in params.strategy_ids]),
            policy_success=np.array([idx[f"policy_success.{s}"] for s in params.strategy_ids]),
            policy_precondition=np.array(
                [idx[f"policy_precondition.{s}"] for s in params.strategy_ids]
            ),
            impact_factor=np.array([idx[f"impact_factor.{i}"] for i in params.impact_ids]),
        )


def _columns(v, idx: np.ndarray):
    """``v[idx]`` for a static index array; a strided slice (no gather) when ``idx`` is an
    arithmetic progression, as the driver table's per-domain columns are."""
    idx = np.asarray(idx)
    step = int(idx[1] - idx[0]) if idx.size > 1 else 1
    if step > 0 and np.array_equal(idx, idx[0] + step * np.arange(idx.size)):
        return jax.lax.slice(v, (int(idx[0]),), (int(idx[-1]) + 1,), (step,))
    return v[idx]


class YearState(NamedTuple):
    """Carried from year to year: what exists because of earlier years."""

    humanoid_units: jax.Array  # (), million humanoids installed (never uninstalled)
    debt: jax.Array  # (), public debt, tn JPY


def make_path_fn(params: ModelParams, cols: DriverColumns, dtype=jnp.float32):
    """Return ``simulate_paths(values, success_prob=None, params=None) -> (scalars, yearly)``.

    ``values`` has shape (B, n_drivers). ``params`` (a :class:`ModelParams` pytree of the same
    structure) replaces the ones given here: inside ``jax.jit`` its numbers are traced
    arguments, so another market size or coupling reuses the compiled program.
    """

    def simulate_paths(values, success_prob=None, params_=None):
        p = params if params_ is None else params_
        return path_outcomes(values, p, cols, dtype, success_prob)

    return simulate_paths


def path_outcomes(values, p: ModelParams, cols: DriverColumns, dtype, success_prob=None):
    """A batch of paths: driver values (B, n_drivers) -> (scalars, yearly).

    One path is written for one driver vector and ``vmap``-ed; strategy/area aggregation runs on
    the whole batch. ``scalars`` maps level -> {var: (B, *entity)}; ``yearly`` the same with a
    year axis after the batch axis, of length ``p.n_report_years``. ``p``'s numbers may be
    traced (a jit argument); its structure (ids, indices, years) is static.
    ``success_prob`` (S,) is the scenario's policy-success probability (default
    ``p.success_prob``).

    Couplings:
    A domain's market in year t is `market_2040 x market_factor x (1 + market_growth)^(t -
    2040)`, or for a market tied to a computed parent `min(parent_fraction x market_factor,
    1) x parent(t)` (DC facility CAPEX, the four powers' defense spending). A domain's
    investment programme is `capital_intensity x market_2040 x japan_share` at the drivers'
    medians plus its `rd_programme`, times the cost overrun, spread over the years by the
    investment schedule (`params.investment_weights`). An impact of kind `potential` is `potential x impact_factor x
    adoption(t)` of its domain (the report's run-rate reached as the domain matures); one of
    kind `domain_revenue` is its domain's revenue. Earliness of AGI / FTQC: `e =
    clip((reference_year - year) / scale, -1, 1)`; a domain's launch moves by
    `-launch_pull_years * (w_agi e_agi + w_ftqc e_ftqc)` and its Bass q is multiplied by
    `exp(diffusion_boost * (w_agi e_agi + w_ftqc e_ftqc))`. Dual-use demand is multiplied by
    `1 + elasticity * w_defense * (mean defense ratio / report path - 1)`. Strategies depend
    on each other: when `strategy_dependence.precondition` (strategy 3) fails, each other
    strategy also fails with probability `strength` (`params.strategy_success`). A failed
    strategy spends its schedule until its market fails to appear at the onset, then
    `spend_after_onset` of it. The digital deficit, the yen, public finances and incomes
    follow the not-so-bright transmission (`engine.macro`). Where a strategy's policy fails, Japan
    keeps `failure_share_factor` of its share and each impact keeps its `failure_factor`;
    existing industries' value added grows at real GDP growth minus
    `existing_shrink_per_year` times the failed fraction of strategies. Scenarios set the
    policy success probabilities only; every path sees the same random numbers in every
    scenario.
    """
    m = p.macro
    c = m["couplings"]
    f = lambda x: jnp.asarray(x, dtype)  # noqa: E731
    years = f(p.years)
    inv_cfg = m["investment"]
    dd = m["digital_deficit"]
    dc = m["datacenter"]
    hum = m["humanoids"]
    tax = m["fiscal"]["tax_rate"]
    public_share = m["fiscal"]["public_share_of_investment"]
    labour0 = m["labour"]["employed_2024"]
    va0 = m["existing_industries"]["value_added_2024"]
    scale = c["earliness_scale_years"]
    market_growth = f((1.0 + m["market_growth"]) ** (p.years - 2040.0))  # (T,)
    dep = m["strategy_dependence"]
    tr = m["transmission"]
    fis = m["fiscal"]
    after_onset = m["investment_under_failure"]["spend_after_onset"]
    infl = m["defense"]["japan_inflation"]
    ai, dcs = p.ai_domain, p.dc_strategy

    def simulate_path(v, success_prob):
        s = {name: v[i] for name, i in cols.scalar.items()}
        dv = {k: _columns(v, idx) for k, idx in cols.domain.items()}  # each (D,)
        success = strategy_success(
            _columns(v, cols.policy_success),
            _columns(v, cols.policy_precondition),
            success_prob,
            p.precondition,
            dep["strength"],
            jnp,
        ).astype(dtype)  # (S,)
        policy_delay = _columns(v, cols.policy_delay)  # (S,)
        impact_factor = _columns(v, cols.impact_factor)  # (I,)

        # couplings: earliness in [-1, 1], 0 at the reference (median) year
        e_agi = jnp.clip((c["agi_reference_year"] - s["agi"]) / scale, -1.0, 1.0)
        e_ftqc = jnp.clip((c["ftqc_reference_year"] - s["ftqc"]) / scale, -1.0, 1.0)
        pull = f(p.w_agi) * e_agi + f(p.w_ftqc) * e_ftqc  # (D,)

        nominal = jnp.where(p.is_photonics, s["photonics"], f(p.launch_year) + dv["launch_delay"])
        launch = nominal + policy_delay[p.strategy_index] - c["launch_pull_years"] * pull
        bass_p = f(p.bass_p) * dv["bass_p_factor"]
        bass_q = f(p.bass_q) * dv["bass_q_factor"] * jnp.exp(c["diffusion_boost"] * pull)
        tau0 = bass_offset(bass_p, bass_q, p.launch_adoption, jnp)
        dom_success = success[p.strategy_index]  # (D,)
        share = f(p.japan_share) * dv["share_factor"]
        share = jnp.minimum(share * jnp.where(dom_success > 0, 1.0, p.failure_share_factor), 0.99)
        margin = f(p.margin) * dv["margin_factor"]
        market = f(p.market_2040) * dv["market_factor"]  # tn JPY/yr, or a fraction when tied

        w_total = investment_weight_total(
            launch, p.start_year, inv_cfg["post_launch_years"], inv_cfg["post_launch_decay"], jnp
        )
        inv_scale = f(p.investment_total) * dv["cost_overrun"] / w_total  # (D,)

        imp_dom = p.impact_domain
        imp_success = success[p.impact_strategy]
        imp_mult = impact_factor * jnp.where(imp_success > 0, 1.0, f(p.impact_failure))  # (I,)
        imp_scale = f(p.impact_potential) * imp_mult
        # materialise the per-path vectors: XLA would otherwise recompute them (logs, exps,
        # divisions) inside every (year, domain) loop they are broadcast into
        launch, tau0, bass_p, bass_q, share, margin, market, inv_scale, imp_scale = (
            jax.lax.optimization_barrier(
                (launch, tau0, bass_p, bass_q, share, margin, market, inv_scale, imp_scale)
            )
        )

        ramp = lambda t: jnp.clip((t - 2025.0) / 15.0, 0.0, 1.0)  # noqa: E731
        shifts = jnp.stack(
            [s["defense_shift_united_states"], s["defense_shift_nato"], s["defense_shift_japan"]]
        )
        tau0_h = bass_offset(hum["bass_p"], hum["bass_q"], p.launch_adoption, jnp)
        h_launch = hum["reference_launch_year"] + s["humanoid_launch_delay"]
        failed_fraction = 1.0 - jnp.mean(success)

        def shortage_at(t, workers):
            demand = labour0 * (1.0 + s["gdp_growth"]) ** (t - 2024.0)
            supply = labour0 * (1.0 + s["labour_supply_change"]) ** (t - 2024.0)
            return jnp.maximum(demand - supply - workers, 0.0)

        def humanoid_units(t, workers):
            take_up = hum["max_take_up"] * bass_cdf(
                t - h_launch + tau0_h, hum["bass_p"], hum["bass_q"], jnp
            )
            return shortage_at(t, workers) * take_up

        # ---- the year-by-year arithmetic, vectorised over years: t has shape (T, 1)
        t = years[:, None]
        adopt = bass_cdf(t - launch + tau0, bass_p, bass_q, jnp)  # (T, D)
        central = f(p.defense_central)  # (T, 3)
        ratio = central + shifts * ramp(years)[:, None]  # (T, 3) % of GDP
        # dual-use demand: linear in the defense ratio relative to the report's path
        rel_defense = (jnp.mean(ratio, axis=1) / jnp.mean(central, axis=1) - 1.0)[:, None]
        rel_defense = jax.lax.optimization_barrier(rel_defense)  # (T, 1): keeps the reduce apart
        demand_mult = 1.0 + c["defense_elasticity"] * f(p.w_defense) * rel_defense  # (T, D)
        since = years - 2024.0
        spend = defense_spend(
            years, ratio, s["gdp_growth"], s["fx"], s["china_defense_growth"], m, jnp
        )  # (T, 4) bn USD
        capex_global = dc_facility_capex(
            years, s["dc_twh_2030"], s["dc_twh_2035"], s["fx"], dc, jnp
        )  # (T,) tn JPY/yr
        parent = jnp.stack([capex_global, jnp.sum(spend, axis=1) * s["fx"] / 1e3], axis=1)
        tie = p.market_tie
        own = market * market_growth[:, None] * demand_mult  # (T, D)
        tied = jnp.minimum(market, 1.0) * parent[:, np.maximum(tie - 1, 0)]  # (T, D)
        market_t = jnp.where(tie > 0, tied, own) if tie.any() else own
        revenue = market_t * adopt * share
        profit = revenue * margin - f(p.fixed_cost)
        # a failed strategy spends its schedule until its market fails to appear at the onset
        kept = jnp.where(dom_success > 0, 1.0, jnp.where(t > launch, after_onset, 1.0))
        investment = (
            inv_scale
            * investment_weights(
                t,
                launch,
                p.start_year,
                inv_cfg["post_launch_years"],
                inv_cfg["post_launch_decay"],
                jnp,
            )
            * kept
        )
        fcf = profit - investment
        # computed once: otherwise XLA recomputes them for each consumer (statistics, group sums)
        revenue, profit, investment, fcf = jax.lax.optimization_barrier(
            (revenue, profit, investment, fcf)
        )

        # the impacts' domains' adoption, computed again for those I columns (no (T, D) gather)
        imp_adopt = bass_cdf(
            t - launch[imp_dom] + tau0[imp_dom], bass_p[imp_dom], bass_q[imp_dom], jnp
        )  # (T, I)
        impacts = imp_scale * imp_adopt  # (T, I)
        if p.impact_is_revenue.any():
            impacts = jnp.where(p.impact_is_revenue, revenue[:, imp_dom], impacts)
        imp = {k: impacts[:, i] for i, k in enumerate(p.impact_ids)}  # each (T,)
        workers = imp["workers_added"]
        units = humanoid_units(years, workers)  # (T,) installed base wanted

        # ---- the digital deficit with causes, the yen, public finances, incomes (engine.macro)
        ai_spend = market_t[:, ai] * adopt[:, ai]  # (T,) Japan's AI spending
        dc_share = dd["dc_domestic_share"]
        baseline = dd["value_2024"] * (1.0 + s["digital_deficit_growth"]) ** since
        model_none = jnp.minimum(
            f(p.japan_share[ai]) * dv["share_factor"][ai] * p.failure_share_factor, 0.99
        )
        deficit0 = digital_deficit(
            baseline,
            ai_spend,
            dd["compute_share"],
            share[ai],
            jnp.where(success[dcs] > 0, dc_share["captured"], dc_share["failed"]),
            jnp,
        )
        nothing = digital_deficit(
            baseline, ai_spend, dd["compute_share"], model_none, dc_share["failed"], jnp
        )
        grow = (1.0 + infl) ** since
        va_real = va0 * (1.0 + s["gdp_growth"] - p.existing_shrink * failed_fraction) ** since
        va_gap = (va_real - va0 * (1.0 + s["gdp_growth"]) ** since) * grow  # nominal
        gdp = va_real * grow + tr["value_added_ratio"] * jnp.sum(revenue, axis=1)
        earnings = tr["foreign_earnings_share"] * jnp.sum(revenue * p.global_scope, axis=1)
        # the yen reacts to the drag as a share of baseline GDP (no shrink, no new domains): a
        # smaller economy must not turn the same drag into a stronger yen
        gdp_base = va0 * (1.0 + s["gdp_growth"]) ** since * grow
        fx = fx_path(
            s["fx"], deficit0 - earnings, dd["value_2024"], gdp_base, tr["fx_elasticity"], jnp
        )
        yen = fx / s["fx"]  # USD-priced flows in yen at the path's exchange rate
        imp["digital_deficit_restraint"] = (nothing - deficit0) * yen
        fiscal = (
            imp["social_security_savings"]
            + tax * jnp.sum(jnp.maximum(profit, 0.0), axis=1)
            - public_share * jnp.sum(investment, axis=1)
        )
        pb = primary_balance(gdp, fis["pb_base_ratio"], fiscal, fis["tax_to_gdp"], va_gap)
        population = tr["population_2024"] * (1.0 + tr["population_growth"]) ** since

        # ---- the stateful part of a year (lax.scan): humanoids installed so far, public debt
        def step(state: YearState, x):
            wanted, pb_t = x
            bought = jnp.maximum(wanted - state.humanoid_units, 0.0)
            debt = debt_step(state.debt, pb_t, fis["interest_rate"])
            new = YearState(humanoid_units=jnp.maximum(wanted, state.humanoid_units), debt=debt)
            return new, (bought, debt)

        workers0 = imp_scale[-1] * 0.0  # no anti-ageing workers before the horizon
        gdp_before = va0 * (1.0 + s["gdp_growth"] + infl) ** (years[0] - 1.0 - 2024.0)
        init = YearState(
            humanoid_units=humanoid_units(years[0] - 1.0, workers0),
            debt=fis["debt_to_gdp_2024"] * gdp_before,
        )
        _, (bought, debt) = jax.lax.scan(step, init, (units, pb))

        macro_y = {
            **imp,  # each impact is a macro variable of the same name
            "digital_deficit": deficit0 * yen,
            "fx": fx,
            "current_account_drag": (deficit0 - earnings) * yen,
            "primary_balance": pb,
            "debt_to_gdp": debt / gdp,
            "gni_per_capita": gni_per_capita(gdp, tr["primary_income_ratio"], population, fx),
            "labour_shortage": shortage_at(years, workers),
            "humanoid_demand": bought * f(p.humanoid_price),
            "existing_value_added": va0
            * (1.0 + s["gdp_growth"] - p.existing_shrink * failed_fraction) ** since,
            "fiscal_effect": fiscal,
            "defense_ratio": ratio,
            "defense_spend": spend,
            "dc_facility_capex": jnp.stack(
                [capex_global, capex_global * s["dc_japan_share"]], axis=1
            ),
        }
        dom_y = {
            "revenue": revenue,
            "operating_profit": profit,
            "investment": investment,
            "fcf": fcf,
        }
        audit = {
            "domain": {"market_2040": market_t[p.index_2040], "japan_share_2040": share},  # (D,)
            "strategy": {"strategy_success": success},  # (S,) 0/1
        }
        return dom_y, macro_y, audit

    if success_prob is None:
        success_prob = f(p.success_prob)
    dom_y, macro_y, audit = jax.vmap(simulate_path, in_axes=(0, None))(values, success_prob)
    return outcomes(dom_y, macro_y, p, audit)


def _group_sum(x, membership: np.ndarray, mask: np.ndarray | None = None):
    """Sum the last (domain) axis of ``x`` into groups; ``membership`` is a (D, G) 0/1 matrix.

    Called on whole chunks (leading batch axes), so it is one large matrix product.
    """
    m = membership if mask is None else membership * np.asarray(mask, float)[:, None]
    lead = x.shape[:-1]
    out = x.reshape(-1, x.shape[-1]) @ jnp.asarray(m, x.dtype)
    return out.reshape(lead + (m.shape[1],))


def outcomes(dom_y, macro_y, p: ModelParams, audit: dict | None = None):
    """Per-path scalars and reported yearly trajectories of a batch.

    dom_y: var -> (B, T, D); macro_y: var -> (B, T) or (B, T, k); audit: var -> (B, D), per-path
    domain inputs reported beside the outcomes (``DOMAIN_AUDIT_VARS``) under ``audit["domain"]``,
    and ``audit["strategy"]["strategy_success"]`` (B, S) 0/1.
    """
    i40 = p.index_2040
    upto = slice(0, i40 + 1)
    nrep = p.n_report_years

    def level_scalars(y):  # y: var -> (B, T, E)
        return {
            "revenue_2040": y["revenue"][:, i40],
            "operating_profit_2040": y["operating_profit"][:, i40],
            "investment_cum_2040": jnp.sum(y["investment"][:, upto], axis=1),
            "fcf_cum_2040": jnp.sum(y["fcf"][:, upto], axis=1),
        }

    # strategies and areas in one product per variable; fcf is linear: profit - investment
    n_strat = p.domain_strategy.shape[1]
    groups = np.concatenate([p.domain_strategy, p.domain_area], axis=1)  # (D, S + A)
    summed = {
        k: _group_sum(dom_y[k], groups) for k in ("revenue", "operating_profit", "investment")
    }
    summed["fcf"] = summed["operating_profit"] - summed["investment"]
    strat_y = {k: summed[k][..., :n_strat] for k in dom_y}
    area_y = {k: summed[k][..., n_strat:] for k in dom_y}
    strat_y, area_y = jax.lax.optimization_barrier((strat_y, area_y))  # sliced once, not per use
    audit = audit or {}
    dom_s = {**level_scalars(dom_y), **audit.get("domain", {})}
    strat_s = {**level_scalars(strat_y), **audit.get("strategy", {})}
    for var in ("investment_cum_2040", "operating_profit_2040"):
        strat_s[f"{var}_report_basis"] = _group_sum(dom_s[var], p.domain_strategy, p.report_basis)
    macro_s = {f"{k}_2040": v[:, i40] for k, v in macro_y.items()}
    macro_s["humanoid_demand_cum"] = jnp.sum(macro_y["humanoid_demand"][:, :nrep], axis=1)
    macro_s["investment_total_cum_2040"] = jnp.sum(
        dom_s["investment_cum_2040"][:, np.flatnonzero(p.report_basis)], axis=1
    )
    macro_s["fiscal_effect_cum_2040"] = jnp.sum(macro_y["fiscal_effect"][:, upto], axis=1)
    scalars = {
        "domain": dom_s,
        "strategy": strat_s,
        "area": level_scalars(area_y),
        "macro": macro_s,
    }
    cut = lambda d: {k: v[:, :nrep] for k, v in d.items()}  # noqa: E731
    yearly = {
        "domain_yearly": cut(dom_y),
        "strategy_yearly": cut(strat_y),
        "area_yearly": cut(area_y),
        "macro_yearly": cut(macro_y),
    }
    return scalars, yearly
