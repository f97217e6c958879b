"""The not-so-bright transmission: digital deficit -> current account -> yen -> public finances
and incomes. Pure functions of arrays (NumPy or jax.numpy through ``xp``), one path, shapes (T,)
over the simulated years unless noted. Money in tn JPY a year.

The chain (report: chapter 1, デジタル赤字; chapter 4, the growth image and the fiscal outlook):
failing to capture AI leaves Japan's AI spending to foreign suppliers, the digital deficit widens,
the current account weakens, the yen falls, the yen cost of the imports rises, and slower value
added and lost savings worsen the primary balance, the debt ratio and income per head.
"""

from __future__ import annotations

import numpy as np


def digital_deficit(baseline, ai_spend, compute_share, model_share, dc_share, xp=np):
    """Digital-services deficit before the exchange-rate effect (tn JPY/yr).

    deficit = baseline + ai_spend x [(1 - c) x (1 - s_model) + c x (1 - s_dc)]

    ``baseline``: the non-AI digital deficit (cloud, software, advertising) growing on its trend;
    ``ai_spend``: Japan's AI spending (the sovereign_ai market x AI adoption); ``c``: its compute
    and hosting share; ``s_model``: the domestic share of models and services (sovereign AI's
    share on the path); ``s_dc``: the domestic share of compute (a domestic data-centre build-out).
    """
    foreign = (1.0 - compute_share) * (1.0 - model_share) + compute_share * (1.0 - dc_share)
    return baseline + ai_spend * foreign


def fx_path(fx_base, drag, drag_2024, gdp, elasticity, xp=np):
    """Yen per USD: ``fx_base x (1 + elasticity x 100 x (drag - drag_2024) / gdp)``.

    ``gdp`` is the baseline nominal GDP path (no shrink, no new domains), so the same drag moves
    the yen the same way in every scenario. The yen weakens by ``elasticity`` (fraction per 1%
    of GDP) for each percent of GDP by which the current-account drag exceeds its 2024 level: the depreciation that would close that gap
    through net exports (IMF WEO October 2015, chapter 3: a 10% real depreciation raises net
    exports by ~1.5% of GDP, so ~6.7% per 1% of GDP). Floored at half the base rate.
    """
    return fx_base * xp.maximum(1.0 + elasticity * 100.0 * (drag - drag_2024) / gdp, 0.5)


def primary_balance(gdp, pb_base_ratio, fiscal_effect, tax_to_gdp, value_added_gap):
    """Primary balance of general government (tn JPY/yr).

    pb = pb_base_ratio x GDP + fiscal_effect + tax_to_gdp x value_added_gap

    ``fiscal_effect``: tax on the promising domains' profits + social-security savings - the
    public share of their investment; ``value_added_gap``: existing industries' value added
    against the baseline path (negative when they shrink), taxed at the tax-to-GDP ratio.
    """
    return pb_base_ratio * gdp + fiscal_effect + tax_to_gdp * value_added_gap


def debt_step(debt, pb, rate):
    """Public debt next year (tn JPY): ``debt x (1 + rate) - pb``."""
    return debt * (1.0 + rate) - pb


def gni_per_capita(gdp, primary_income_ratio, population, fx):
    """Gross national income per person (thousand USD at the path's yen rate).

    GNI = GDP x (1 + net primary income / GDP); per person; tn JPY -> thousand USD:
    ``gdp (1 + r) / population (million) / fx x 1e3``.
    """
    return gdp * (1.0 + primary_income_ratio) / population / fx * 1e3
