"""The headline outcomes a risk team reads first: one definition for the first-screen risk table
(``reports.html_answer``) and the sweep tables (``reports.sweep``)."""

from __future__ import annotations

HEADLINE_OUTCOMES = (
    ("macro", "digital_deficit_2040"),
    ("macro", "fx_2040"),
    ("macro", "debt_to_gdp_2040"),
    ("macro", "gni_per_capita_2040"),
    ("macro", "primary_balance_2040"),
    ("macro", "investment_total_cum_2040"),
    ("strategy", "operating_profit_2040"),
    ("strategy", "fcf_cum_2040"),
    ("strategy", "investment_cum_2040"),
)
"""(group, variable); strategy variables have one value per strategy."""
