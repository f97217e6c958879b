"""A plain vectorised NumPy implementation of the jp2040 path model, the baseline for bench/engine.py.

Same configs, same equations as ``engine/model.py`` (adoption -> revenue -> profit -> investment
-> macro), written with a leading batch axis B instead of ``vmap`` and run chunk by chunk
(65536 paths at a time by default). Nothing in the per-path hot loop uses JAX:

* uniforms: ``np.random.Generator(PCG64(seed))``, 23-bit open-interval uniforms
  ``(k + 0.5) 2**-23`` like the engine's (other random numbers than the engine's: the comparison
  with the engine is statistical, see tests/bench/test_numpy_reference.py);
* Gaussian copula on normal scores: Cholesky of the Pearson matrix ``2 sin(pi rho_s / 6)`` built
  here from ``drivers.correlation``; ``scipy.special.ndtri`` / ``ndtr``;
* quantile functions in NumPy/SciPy: metalog (Keelin basis, log/logit bounds), normal, lognormal,
  point mass, and the policy-delay mixture of a point mass at ``v <= 0`` (weight ``w``) with a
  lognormal in closed form ``icdf(u) = v if u <= w else lognormal.icdf((u - w) / (1 - w))``
  (the engine inverts the mixture CDF numerically; both give the same function);
* the path model and the outcome aggregation (strategy / area sums, 2040 values, totals);
* streaming statistics of every output, like the engine's ``engine.stats``: count, mean, M2,
  min, max per element, and a fixed-edge histogram (``bins`` + under/overflow) per element with
  edges from a pilot sample of the first chunk, merged across chunks with Chan's formula.

Setup (not in the hot path, not what the benchmark is about) reuses the shared static pieces:
``engine.params.build_params`` (static arrays), the closed-form helpers of ``engine.params`` with
``xp=np`` (``bass_cdf``, ``bass_offset``, ``investment_weights``, ``investment_weight_total``,
``dc_facility_capex``), and ``engine.drivers.build_driver_table`` only to read each driver's name
and fitted parameters (metalog coefficients, lognormal mu/sigma, ...) once.

API: ``simulate_numpy(cfg, n_paths, seed=0, chunk=65536) -> {"level/var": (n, *entity)}``;
``run_numpy`` returns the kept scalars, the streaming statistics and a timing breakdown.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit, ndtr, ndtri

from engine.config import Config
from engine.model_names import DOMAIN_DRIVERS
from engine.params import (
    ModelParams,
    bass_cdf,
    bass_offset,
    build_params,
    dc_facility_capex,
    investment_weight_total,
    investment_weights,
)
from engine.stats import NO_HISTOGRAM_GROUPS, Stats, merge, pilot_edges  # noqa: E402

PILOT_ROWS = 4096  # rows of the first chunk that set the histogram edges


# ----------------------------------------------------------------------------- quantile functions


def metalog_icdf(u, a, low=None, high=None):
    """Keelin metalog quantile (k <= 5 terms) with optional log / logit bounds, NumPy."""
    k = len(a)
    L = np.log(u) - np.log1p(-u)
    c = u - np.float32(0.5) if u.dtype == np.float32 else u - 0.5
    cols = [None, L, c * L, c, c * c]
    m = np.full_like(u, a[0])
    for j in range(1, k):
        m += a[j] * cols[j]
    if low is not None and high is not None:
        return low + (high - low) * expit(m)
    if low is not None:
        return low + np.exp(m)
    if high is not None:
        return high - np.exp(-m)
    return m


def normal_icdf(u, loc, scale):
    return loc + scale * ndtri(u)


def lognormal_icdf(u, mu, sigma):
    return np.exp(mu + sigma * ndtri(u))


def point_lognormal_icdf(u, value, w, mu, sigma):
    """Mixture of a point mass at ``value`` (weight ``w``) with a lognormal on (0, inf), value <= 0:
    F^-1(u) = value for u <= w, else the lognormal's quantile at (u - w) / (1 - w)."""
    v = np.clip((u - w) / (1.0 - w), np.float32(1e-30), None).astype(u.dtype)
    return np.where(u <= w, np.asarray(value, u.dtype), lognormal_icdf(v, mu, sigma))


def _f(x):
    return float(np.asarray(x))


def quantile_fn(dist):
    """(key, fn): a NumPy quantile function for one of the engine's distribution objects.

    ``key`` identifies the parameters, so drivers with the same distribution share one call.
    """
    from distributions import LogNormal, Metalog, Mixture, Normal, PointMass

    if isinstance(dist, Metalog):
        a = tuple(float(x) for x in np.asarray(dist.a, np.float64))
        lo, hi = dist.low, dist.high
        return ("metalog", a, lo, hi), lambda u: metalog_icdf(u, a, lo, hi)
    if isinstance(dist, Normal):
        loc, scale = _f(dist.loc), _f(dist.scale)
        return ("normal", loc, scale), lambda u: normal_icdf(u, loc, scale)
    if isinstance(dist, LogNormal):
        mu, sigma = _f(dist.mu), _f(dist.sigma)
        return ("lognormal", mu, sigma), lambda u: lognormal_icdf(u, mu, sigma)
    if isinstance(dist, PointMass):
        value = _f(dist.value)
        return ("point", value), lambda u: np.full_like(u, value)
    if isinstance(dist, Mixture) and len(dist.components) == 2:
        w = np.asarray(dist.weights, np.float64)
        pm = [i for i, c in enumerate(dist.components) if isinstance(c, PointMass)]
        ln = [i for i, c in enumerate(dist.components) if isinstance(c, LogNormal)]
        if len(pm) == 1 and len(ln) == 1 and _f(dist.components[pm[0]].value) <= 0.0:
            value = _f(dist.components[pm[0]].value)
            wp = float(w[pm[0]])
            mu, sigma = _f(dist.components[ln[0]].mu), _f(dist.components[ln[0]].sigma)
            key = ("point_lognormal", value, wp, mu, sigma)
            return key, lambda u: point_lognormal_icdf(u, value, wp, mu, sigma)
    raise NotImplementedError(
        f"numpy_reference: no NumPy quantile function for {type(dist).__name__} "
        "(supported: metalog, normal, lognormal, pointmass, pointmass(<=0)+lognormal mixture)"
    )


# ----------------------------------------------------------------------------- drivers


def copula_cholesky(corr: dict, names: tuple[str, ...]):
    """(columns, lower Cholesky factor) of the Gaussian copula in ``drivers.correlation``."""
    entries = corr.get("entries") or []
    if not entries:
        return np.zeros(0, np.int64), None
    if corr.get("copula", "gaussian") != "gaussian":
        raise NotImplementedError("numpy_reference: only the Gaussian copula is implemented")
    involved: list[str] = []
    for e in entries:
        for n in e["pair"]:
            if n not in involved:
                involved.append(n)
    d = len(involved)
    m = np.eye(d)
    for e in entries:
        i, j = involved.index(e["pair"][0]), involved.index(e["pair"][1])
        m[i, j] = m[j, i] = float(e["rho"])
    if corr.get("kind", "spearman") == "spearman":
        m = 2.0 * np.sin(np.pi * m / 6.0)  # Spearman -> Pearson of the normal scores
        np.fill_diagonal(m, 1.0)
    return np.array([names.index(n) for n in involved]), np.linalg.cholesky(m)


@dataclass
class DriverSampler:
    """Uniforms -> copula -> quantile functions, all NumPy. Built once from the config."""

    names: tuple[str, ...]
    groups: list  # (fn, columns)
    raw_columns: np.ndarray  # policy_success.*: the raw uniform
    copula_columns: np.ndarray
    chol: np.ndarray | None
    dtype: type = np.float32

    @classmethod
    def from_config(cls, cfg: Config, dtype=np.float32) -> DriverSampler:
        from engine.drivers import build_driver_table

        table = build_driver_table(cfg)
        seen: dict = {}
        raw = []
        for j, dist in enumerate(table.dists):
            if dist is None:
                raw.append(j)
                continue
            key, fn = quantile_fn(dist)
            seen.setdefault(key, (fn, []))[1].append(j)
        groups = [(fn, np.array(cols)) for fn, cols in seen.values()]
        cols, chol = copula_cholesky(cfg.drivers["correlation"], table.names)
        return cls(table.names, groups, np.array(raw, np.int64), cols, chol, dtype)

    @property
    def n_uniforms(self) -> int:
        return len(self.names)

    def uniforms(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, n_drivers) uniforms (k + 0.5) 2**-23 in the open interval (0, 1)."""
        k = rng.integers(0, 1 << 23, size=(n, self.n_uniforms), dtype=np.uint32)
        return (k.astype(self.dtype) + self.dtype(0.5)) * self.dtype(2.0**-23)

    def values(self, u: np.ndarray) -> np.ndarray:
        """Driver values (n, n_drivers) from independent uniforms (n, n_drivers)."""
        if self.chol is not None:
            z = ndtri(u[:, self.copula_columns]) @ self.chol.T.astype(u.dtype)
            tiny, top = np.finfo(u.dtype).tiny, 1.0 - np.finfo(u.dtype).epsneg
            u = u.copy()
            u[:, self.copula_columns] = np.clip(ndtr(z), tiny, top)
        out = np.empty_like(u)
        for fn, cols in self.groups:
            out[:, cols] = fn(u[:, cols])
        out[:, self.raw_columns] = u[:, self.raw_columns]
        return out


# ----------------------------------------------------------------------------- the path model


def make_model(params: ModelParams, names: tuple[str, ...], dtype=np.float32):
    """Return ``model(values) -> (scalars, yearly)`` for a batch (B, n_drivers), NumPy only.

    Mirrors ``engine.model.make_path_fn`` + ``engine.model.outcomes`` with the batch axis first:
    domain arrays are (B, T, D), macro (B, T) or (B, T, k).
    """
    p = params
    m = p.macro
    c = m["couplings"]
    idx = {n: i for i, n in enumerate(names)}
    scalar_cols = {n: i for n, i in idx.items() if "." not in n}
    dom_cols = {k: np.array([idx[f"{k}.{d}"] for d in p.domain_ids]) for k in DOMAIN_DRIVERS}
    delay_cols = np.array([idx[f"policy_delay.{s}"] for s in p.strategy_ids])
    success_cols = np.array([idx[f"policy_success.{s}"] for s in p.strategy_ids])
    precond_cols = np.array([idx[f"policy_precondition.{s}"] for s in p.strategy_ids])
    dep_strength = float(m["strategy_dependence"]["strength"])
    tr, fis = m["transmission"], m["fiscal"]
    impact_cols = np.array([idx[f"impact_factor.{i}"] for i in p.impact_ids])

    def f(x):
        return np.asarray(x, dtype)

    years = f(p.years)  # (T,)
    after_onset = f(m["investment_under_failure"]["spend_after_onset"])
    global_scope = f(p.global_scope)
    t3 = years[None, :, None]  # (1, T, 1)
    inv_cfg = m["investment"]
    post, decay = float(inv_cfg["post_launch_years"]), float(inv_cfg["post_launch_decay"])
    dd, dfn, dc, hum = m["digital_deficit"], m["defense"], m["datacenter"], m["humanoids"]
    tax = float(m["fiscal"]["tax_rate"])
    public_share = float(m["fiscal"]["public_share_of_investment"])
    labour0 = float(m["labour"]["employed_2024"])
    va0 = float(m["existing_industries"]["value_added_2024"])
    scale = float(c["earliness_scale_years"])
    market_growth = f((1.0 + m["market_growth"]) ** (p.years - 2040.0))[None, :, None]
    start = float(p.start_year)
    la = float(p.launch_adoption)
    w_agi, w_ftqc, w_def = f(p.w_agi), f(p.w_ftqc), f(p.w_defense)
    launch_year, bp0, bq0 = f(p.launch_year), f(p.bass_p), f(p.bass_q)
    japan_share, margin0, market0 = f(p.japan_share), f(p.margin), f(p.market_2040)
    fixed_cost, inv_total = f(p.fixed_cost), f(p.investment_total)
    success_prob = f(p.success_prob)
    imp_value, imp_fail = f(p.impact_potential), f(p.impact_failure)
    imp_revenue = np.asarray(p.impact_is_revenue, bool)
    tie = np.asarray(p.market_tie)
    central = f(p.defense_central)[None]  # (1, T, 3)
    central_mean = central.mean(axis=2)  # (1, T)
    ramp = f(np.clip((p.years - 2025.0) / 15.0, 0.0, 1.0))[None, :, None]
    since = f(p.years - 2024.0)[None, :]  # (1, T)
    tau0_h = float(bass_offset(hum["bass_p"], hum["bass_q"], la))
    hp, hq = float(hum["bass_p"]), float(hum["bass_q"])
    max_take_up = float(hum["max_take_up"])
    humanoid_price = f(p.humanoid_price)[None, :]
    i_workers = p.impact_ids.index("workers_added")
    i_restraint = p.impact_ids.index("digital_deficit_restraint")
    i_social = p.impact_ids.index("social_security_savings")
    gdp_us = float(dfn["gdp_usd_2024"]["united_states"])
    gdp_nato = float(dfn["gdp_usd_2024"]["nato"])
    g_usd = float(dfn["nominal_gdp_growth_usd"])
    china0 = float(dfn["china_spend_2024_bn_usd"])
    infl = float(dfn["japan_inflation"])
    gdp0 = float(m["japan_gdp_2024"])
    strat_m = f(p.domain_strategy)
    area_m = f(p.domain_area)
    basis_m = f(p.domain_strategy * p.report_basis[:, None])
    basis_idx = np.flatnonzero(p.report_basis)
    i40, nrep = p.index_2040, p.n_report_years
    one, fail_share = f(1.0), f(p.failure_share_factor)

    def model(v):
        s = {n: v[:, i] for n, i in scalar_cols.items()}  # each (B,)
        dv = {k: v[:, cols] for k, cols in dom_cols.items()}  # each (B, D)
        base = v[:, success_cols] < success_prob  # (B, S)
        pre_failed = ~base[:, [p.precondition]]
        others = np.arange(base.shape[1]) != p.precondition
        knocked = pre_failed & (v[:, precond_cols] < dep_strength) & others
        success = (base & ~knocked).astype(dtype)  # (B, S)
        policy_delay = v[:, delay_cols]
        impact_factor = v[:, impact_cols]

        e_agi = np.clip((c["agi_reference_year"] - s["agi"]) / scale, -1.0, 1.0)
        e_ftqc = np.clip((c["ftqc_reference_year"] - s["ftqc"]) / scale, -1.0, 1.0)
        pull = w_agi * e_agi[:, None] + w_ftqc * e_ftqc[:, None]  # (B, D)

        nominal = np.where(
            p.is_photonics, s["photonics"][:, None], launch_year + dv["launch_delay"]
        )
        launch = nominal + policy_delay[:, p.strategy_index] - c["launch_pull_years"] * pull
        bass_p = bp0 * dv["bass_p_factor"]
        bass_q = bq0 * dv["bass_q_factor"] * np.exp(c["diffusion_boost"] * pull)
        tau0 = bass_offset(bass_p, bass_q, la, np)
        dom_success = success[:, p.strategy_index]
        share = japan_share * dv["share_factor"]
        share = np.minimum(share * np.where(dom_success > 0, one, fail_share), 0.99)
        margin = margin0 * dv["margin_factor"]
        market = market0 * dv["market_factor"]
        w_total = investment_weight_total(launch, start, post, decay, np)
        inv_scale = inv_total * dv["cost_overrun"] / w_total  # (B, D)

        imp_success = success[:, p.impact_strategy]
        imp_mult = impact_factor * np.where(imp_success > 0, 1.0, imp_fail)  # (B, I)
        imp_scale = imp_value * imp_mult

        shifts = np.stack(
            [s["defense_shift_united_states"], s["defense_shift_nato"], s["defense_shift_japan"]],
            axis=1,
        )  # (B, 3)
        h_launch = hum["reference_launch_year"] + s["humanoid_launch_delay"]  # (B,)
        failed_fraction = 1.0 - success.mean(axis=1)  # (B,)
        g1 = (1.0 + s["gdp_growth"])[:, None]
        ls1 = (1.0 + s["labour_supply_change"])[:, None]

        def shortage_at(t, workers):  # t (1, T) or scalar, workers (B, T) or (B, 1)
            demand = labour0 * g1 ** (t - 2024.0)
            supply = labour0 * ls1 ** (t - 2024.0)
            return np.maximum(demand - supply - workers, 0.0)

        def humanoid_units(t, workers):
            take_up = max_take_up * bass_cdf(t - h_launch[:, None] + tau0_h, hp, hq, np)
            return shortage_at(t, workers) * take_up

        # ---- yearly arithmetic, (B, T, D)
        adopt = bass_cdf(t3 - launch[:, None] + tau0[:, None], bass_p[:, None], bass_q[:, None], np)
        ratio = central + shifts[:, None, :] * ramp  # (B, T, 3)
        rel_defense = ratio.mean(axis=2) / central_mean - 1.0  # (B, T)
        demand_mult = 1.0 + c["defense_elasticity"] * w_def * rel_defense[:, :, None]
        gdp_jp = gdp0 * (1.0 + s["gdp_growth"] + infl)[:, None] ** since
        growth_usd = (1.0 + g_usd) ** since
        spend = np.stack(
            [
                ratio[:, :, 0] / 100 * gdp_us * growth_usd * 1e3,
                ratio[:, :, 1] / 100 * gdp_nato * growth_usd * 1e3,
                ratio[:, :, 2] / 100 * gdp_jp / s["fx"][:, None] * 1e3,
                china0 * (1.0 + s["china_defense_growth"])[:, None] ** since,
            ],
            axis=2,
        )
        capex_global = dc_facility_capex(
            since + 2024.0,
            s["dc_twh_2030"][:, None],
            s["dc_twh_2035"][:, None],
            s["fx"][:, None],
            dc,
            np,
        )

        # a tied market is a fraction of its parent: DC facility CAPEX or the four powers' defense
        parents = np.stack([capex_global, spend.sum(axis=2) * s["fx"][:, None] / 1e3], axis=2)
        tied = np.minimum(market, 1.0)[:, None] * parents[:, :, np.maximum(tie - 1, 0)]
        market_t = np.where(tie > 0, tied, market[:, None] * market_growth * demand_mult)
        revenue = market_t * share[:, None] * adopt
        profit = revenue * margin[:, None] - fixed_cost
        cut = np.where(t3 > launch[:, None], after_onset, one)  # failed: spend until the onset
        kept = np.where(dom_success[:, None] > 0, one, cut)
        investment = (
            inv_scale[:, None]
            * investment_weights(t3, launch[:, None], start, post, decay, np)
            * kept
        )
        fcf = profit - investment

        impacts = imp_scale[:, None] * adopt[:, :, p.impact_domain]
        impacts = np.where(imp_revenue, revenue[:, :, p.impact_domain], impacts)
        workers = impacts[:, :, i_workers]
        units = humanoid_units(since + 2024.0, workers)  # (B, T)
        # ---- the carried state: installed humanoid base, bought = growth of the running max
        init = humanoid_units(years[0] - 1.0, np.zeros_like(units[:, :1]))  # (B, 1)
        installed = np.maximum.accumulate(np.concatenate([init, units], axis=1), axis=1)
        bought = np.maximum(units - installed[:, :-1], 0.0)

        # ---- digital deficit -> yen -> public finances -> incomes
        ai = p.ai_domain
        ai_spend = market_t[:, :, ai] * adopt[:, :, ai]  # (B, T)
        c_share = float(dd["compute_share"])
        dc_cap, dc_fail = (float(dd["dc_domestic_share"][k]) for k in ("captured", "failed"))
        dc_path = f(np.where(success[:, p.dc_strategy] > 0, dc_cap, dc_fail))[:, None]
        base_deficit = dd["value_2024"] * (1.0 + s["digital_deficit_growth"])[:, None] ** since
        model_none = np.minimum(japan_share[ai] * dv["share_factor"][:, ai] * fail_share, 0.99)
        foreign = (1 - c_share) * (1 - share[:, ai : ai + 1]) + c_share * (1 - dc_path)
        foreign_none = (1 - c_share) * (1 - model_none[:, None]) + c_share * (1 - dc_fail)
        deficit0 = base_deficit + ai_spend * foreign
        nothing = base_deficit + ai_spend * foreign_none
        grow = (1.0 + infl) ** since
        g = s["gdp_growth"][:, None]
        va_real = va0 * (1.0 + g - p.existing_shrink * failed_fraction[:, None]) ** since
        va_gap = (va_real - va0 * (1.0 + g) ** since) * grow
        gdp = va_real * grow + tr["value_added_ratio"] * revenue.sum(axis=2)
        gdp_base = va0 * (1.0 + g) ** since * grow
        earnings = tr["foreign_earnings_share"] * (revenue * global_scope).sum(axis=2)
        drag = deficit0 - earnings
        fx0 = s["fx"][:, None]
        fx = fx0 * np.maximum(
            1.0 + tr["fx_elasticity"] * 100.0 * (drag - dd["value_2024"]) / gdp_base, 0.5
        )
        yen = fx / fx0
        impacts[:, :, i_restraint] = (nothing - deficit0) * yen
        fiscal = (
            impacts[:, :, i_social]
            + tax * np.maximum(profit, 0.0).sum(axis=2)
            - public_share * investment.sum(axis=2)
        )
        pb = fis["pb_base_ratio"] * gdp + fiscal + fis["tax_to_gdp"] * va_gap
        debt = np.empty_like(pb)
        prev = fis["debt_to_gdp_2024"] * va0 * (1.0 + s["gdp_growth"] + infl) ** (start - 2025.0)
        for k in range(pb.shape[1]):
            prev = prev * (1.0 + fis["interest_rate"]) - pb[:, k]
            debt[:, k] = prev
        population = tr["population_2024"] * (1.0 + tr["population_growth"]) ** since
        gni = gdp * (1.0 + tr["primary_income_ratio"]) / population / fx * 1e3

        imp = {k: impacts[:, :, i] for i, k in enumerate(p.impact_ids)}
        macro_y = {
            **imp,
            "digital_deficit": deficit0 * yen,
            "fx": fx,
            "current_account_drag": drag * yen,
            "primary_balance": pb,
            "debt_to_gdp": debt / gdp,
            "gni_per_capita": gni,
            "labour_shortage": shortage_at(since + 2024.0, workers),
            "humanoid_demand": bought * humanoid_price,
            "existing_value_added": va0
            * (1.0 + s["gdp_growth"] - p.existing_shrink * failed_fraction)[:, None] ** since,
            "fiscal_effect": fiscal,
            "defense_ratio": ratio,
            "defense_spend": spend,
            "dc_facility_capex": np.stack(
                [capex_global, capex_global * s["dc_japan_share"][:, None]], axis=2
            ),
        }
        dom_y = {
            "revenue": revenue,
            "operating_profit": profit,
            "investment": investment,
            "fcf": fcf,
        }
        audit = {"market_2040": market_t[:, i40], "japan_share_2040": share}
        return outcomes(dom_y, macro_y, audit, success)

    def outcomes(dom_y, macro_y, audit, success):
        def level_scalars(y):
            return {
                "revenue_2040": y["revenue"][:, i40],
                "operating_profit_2040": y["operating_profit"][:, i40],
                "investment_cum_2040": y["investment"][:, : i40 + 1].sum(axis=1),
                "fcf_cum_2040": y["fcf"][:, : i40 + 1].sum(axis=1),
            }

        strat_y = {k: x @ strat_m for k, x in dom_y.items()}
        area_y = {k: x @ area_m for k, x in dom_y.items()}
        dom_s = {**level_scalars(dom_y), **audit}
        strat_s = {**level_scalars(strat_y), "strategy_success": success}
        for var in ("investment_cum_2040", "operating_profit_2040"):
            strat_s[f"{var}_report_basis"] = dom_s[var] @ basis_m
        macro_s = {f"{k}_2040": x[:, i40] for k, x in macro_y.items()}
        macro_s["humanoid_demand_cum"] = macro_y["humanoid_demand"][:, :nrep].sum(axis=1)
        macro_s["investment_total_cum_2040"] = dom_s["investment_cum_2040"][:, basis_idx].sum(
            axis=1
        )
        macro_s["fiscal_effect_cum_2040"] = macro_y["fiscal_effect"][:, : i40 + 1].sum(axis=1)
        scalars = {
            "domain": dom_s,
            "strategy": strat_s,
            "area": level_scalars(area_y),
            "macro": macro_s,
        }

        def cut(d):
            return {k: x[:, :nrep] for k, x in d.items()}

        yearly = {
            "domain_yearly": cut(dom_y),
            "strategy_yearly": cut(strat_y),
            "area_yearly": cut(area_y),
            "macro_yearly": cut(macro_y),
        }
        return scalars, yearly

    return model


# ----------------------------------------------------------------------------- streaming stats


# Host-side merging, quantiles and pilot edges are plain NumPy in the engine too: shared.
NpStats = Stats


def chunk_stats(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, bins: int) -> NpStats:
    """Count, mean, M2, min, max and the fixed-edge histogram of one chunk of one output."""
    b = x.shape[0]
    shape = x.shape[1:]
    n_elem = math.prod(shape)
    flat = x.reshape(b, n_elem)
    mean = flat.mean(axis=0, dtype=np.float64)
    m2 = ((flat - mean.astype(x.dtype)) ** 2).sum(axis=0, dtype=np.float64)
    if bins == 0:  # no histogram for this leaf (engine.stats.NO_HISTOGRAM_GROUPS)
        hist = np.zeros((n_elem, 2), np.int64)
    else:
        lo_f = lo.reshape(-1).astype(x.dtype)
        inv_w = (bins / (hi - lo)).reshape(-1).astype(x.dtype)
        k = np.floor((flat - lo_f) * inv_w)
        np.clip(k, -1, bins, out=k)
        k = k.astype(np.intp)
        k += np.arange(1, n_elem * (bins + 2) + 1, bins + 2, dtype=np.intp)  # +1: underflow cell
        hist = np.bincount(k.reshape(-1), minlength=n_elem * (bins + 2))
    return NpStats(
        n=float(b),
        mean=mean.reshape(shape),
        m2=m2.reshape(shape),
        min=flat.min(axis=0).astype(np.float64).reshape(shape),
        max=flat.max(axis=0).astype(np.float64).reshape(shape),
        hist=hist.reshape(shape + (hist.size // n_elem,)),
        lo=np.asarray(lo, np.float64).reshape(shape),
        hi=np.asarray(hi, np.float64).reshape(shape),
    )


# ----------------------------------------------------------------------------- runner


@dataclass
class NumpyRun:
    scalars: dict  # "level/var" -> (kept, *entity)
    stats: dict  # "group/var" -> NpStats over all paths
    n_paths: int
    wall_s: float
    timings: dict = field(default_factory=dict)  # seconds per stage, summed over chunks

    def summary(self) -> dict:
        """ "group/var" -> (mean, sd, p05, p50, p95) from the streaming statistics."""
        out = {}
        for name, st in self.stats.items():
            sd = np.sqrt(st.m2 / max(st.n - 1, 1))
            if st.hist.shape[-1] > 2:
                q = [st.quantile(q) for q in (0.05, 0.5, 0.95)]
            else:  # no histogram (NO_HISTOGRAM_GROUPS) and no kept trajectories here
                q = [np.full(st.mean.shape, np.nan)] * 3
            out[name] = (st.mean, sd, *q)
        return out


def _flatten(tree: dict) -> dict:
    return {f"{g}/{k}": v for g, d in tree.items() for k, v in d.items()}


def run_numpy(
    cfg: Config,
    n_paths: int,
    seed: int = 0,
    chunk: int = 65536,
    keep: int | None = None,
    stats: bool = True,
    dtype=np.float32,
) -> NumpyRun:
    """Simulate ``n_paths`` paths in chunks with NumPy; keep the first ``keep`` paths' scalars
    (all by default) and streaming statistics of every scalar and yearly output.

    ``timings`` has the seconds spent in uniforms, driver values (copula + quantile functions),
    the path model, statistics and the rest (non-finite check, keeping), over all chunks.
    """
    t_start = time.perf_counter()
    params = build_params(cfg)
    sampler = DriverSampler.from_config(cfg, dtype)
    model = make_model(params, sampler.names, dtype)
    rng = np.random.Generator(np.random.PCG64(seed))
    keep = n_paths if keep is None else min(keep, n_paths)
    bins = cfg.engine.histogram_bins
    timings = dict.fromkeys(("setup", "uniforms", "drivers", "model", "stats", "other"), 0.0)
    timings["setup"] = time.perf_counter() - t_start
    kept: dict = {}
    acc: dict = {}
    edges: dict = {}
    done = 0
    while done < n_paths:
        b = min(chunk, n_paths - done)
        t0 = time.perf_counter()
        u = sampler.uniforms(rng, b)
        t1 = time.perf_counter()
        values = sampler.values(u)
        t2 = time.perf_counter()
        scalars, yearly = model(values)
        t3 = time.perf_counter()
        outputs = {**_flatten(scalars), **_flatten(yearly)}
        for name, x in outputs.items():
            if not np.isfinite(x).all():
                row = int(np.argmax(~np.isfinite(x.reshape(b, -1)).all(axis=1)))
                raise FloatingPointError(f"non-finite value in {name} at path {done + row}")
        if done < keep:
            take = min(b, keep - done)
            for name, x in _flatten(scalars).items():
                if name not in kept:
                    kept[name] = np.empty((keep,) + x.shape[1:], x.dtype)
                kept[name][done : done + take] = x[:take]
        t4 = time.perf_counter()
        if stats:
            if not edges:
                edges = {name: pilot_edges(x[:PILOT_ROWS]) for name, x in outputs.items()}
            for name, x in outputs.items():
                no_hist = name.split("/")[0] in NO_HISTOGRAM_GROUPS  # as the engine
                part = chunk_stats(x, *edges[name], 0 if no_hist else bins)
                acc[name] = merge(acc.get(name), part)
        t5 = time.perf_counter()
        for key, dt in zip(
            ("uniforms", "drivers", "model", "other", "stats"),
            (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4),
        ):
            timings[key] += dt
        done += b
    return NumpyRun(kept, acc, n_paths, time.perf_counter() - t_start, timings)


def simulate_numpy(
    cfg: Config, n_paths: int, seed: int = 0, chunk: int = 65536
) -> dict[str, np.ndarray]:
    """Per-path scalars of ``n_paths`` NumPy paths: ``{"strategy/operating_profit_2040": (n, S),
    "macro/digital_deficit_2040": (n,), ...}`` (same names and entity order as the engine's)."""
    return run_numpy(cfg, n_paths, seed=seed, chunk=chunk).scalars


def time_numpy(cfg: Config, n_paths: int, seed: int = 0, chunk: int = 65536, keep: int = 250_000):
    """(wall seconds including the summary, paths/s, timings) of a full NumPy run."""
    t0 = time.perf_counter()
    run = run_numpy(cfg, n_paths, seed=seed, chunk=chunk, keep=keep)
    t1 = time.perf_counter()
    run.summary()
    t2 = time.perf_counter()
    timings = {**run.timings, "summary": t2 - t1}
    wall = t2 - t0
    return wall, n_paths / wall, timings
