"""The report's point figures that the report's figures and tables mark, read from the configs.

Source: Mizuho Industry Research No. 80 (31 March 2026), strategy chart (each strategy's
cumulative 2026-40 investment and 2040 operating profit, report basis) and the "not-so-bright
future" section (a ~30 tn JPY digital deficit in 2040). The strategy figures come from the run's
resolved config (``manifest.json`` -> ``config.strategies``, i.e. ``configs/strategies``), with
``configs/calibration/targets.yaml`` as the fallback; the deficit from ``targets.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

__all__ = ["ReportFigures", "report_figures"]

TARGETS_FILE = Path(__file__).resolve().parent.parent / "configs" / "calibration" / "targets.yaml"


@dataclass(frozen=True)
class ReportFigures:
    """The report's figures in tn JPY: ``investment[strategy]`` (cumulative 2026-40, report
    basis), ``profit[strategy]`` (2040 operating profit, report basis), ``deficit_2040`` (the
    not-so-bright digital deficit, tn JPY/yr) and ``total_investment`` (">180 tn JPY")."""

    investment: dict[str, float] = field(default_factory=dict)
    profit: dict[str, float] = field(default_factory=dict)
    deficit_2040: float | None = None
    total_investment: float | None = None

    def for_variable(self, variable: str) -> dict[str, float]:
        """{entity or "": figure} for a result variable name (empty when the report has none)."""
        base = variable.removesuffix("_report_basis")
        if base == "investment_cum_2040":
            return dict(self.investment)
        if base == "operating_profit_2040":
            return dict(self.profit)
        if base == "digital_deficit_2040" and self.deficit_2040 is not None:
            return {"": self.deficit_2040}
        if base == "investment_total_cum_2040" and self.total_investment is not None:
            return {"": self.total_investment}
        return {}


def _value(entry):
    if isinstance(entry, dict):
        entry = entry.get("value")
    try:
        return float(entry)
    except (TypeError, ValueError):
        return None


def _load_targets(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def report_figures(
    manifest: dict | None = None, targets_file: Path = TARGETS_FILE
) -> ReportFigures:
    """The report's figures for a run (``manifest``: the run's manifest.json, may be None).

    Missing entries are left out rather than guessed; a figure that is absent is not marked.
    """
    targets = _load_targets(targets_file)
    investment = {k: _value(v) for k, v in (targets.get("strategy_investment") or {}).items()}
    profit = {k: _value(v) for k, v in (targets.get("strategy_profit") or {}).items()}
    strategies = ((manifest or {}).get("config") or {}).get("strategies") or {}
    for name, spec in strategies.items() if isinstance(strategies, dict) else ():
        if isinstance(spec, dict):
            if _value(spec.get("investment_cum_2040")) is not None:
                investment[name] = _value(spec["investment_cum_2040"])
            if _value(spec.get("operating_profit_2040")) is not None:
                profit[name] = _value(spec["operating_profit_2040"])
    return ReportFigures(
        investment={k: v for k, v in investment.items() if v is not None},
        profit={k: v for k, v in profit.items() if v is not None},
        deficit_2040=_value(targets.get("not_so_bright_deficit_2040")),
        total_investment=_value(targets.get("total_investment_at_least")),
    )
