"""The first screen of ``report.html``: the run's header facts, the answer in words, the risk
table and the sentences on what drives the downside, all read from the run directory's files.

Every function takes a :class:`reports.rundir.RunData` (tables absent from the run are None) and
returns plain data or escaped HTML; variables are picked by name from ``downside.csv``,
``exceedance.csv``, ``summary.csv``, ``sensitivity.csv`` and ``discovery.csv``, so new outputs
with the same columns slot in.
"""

from __future__ import annotations

import html
import math

import pandas as pd

from reports.outcomes import HEADLINE_OUTCOMES
from reports.rundir import RunData
from reports.targets import ReportFigures

__all__ = ["RISK_OUTCOMES", "answer_text", "driver_sentences", "run_facts", "risk_table"]

RISK_OUTCOMES = tuple(o for o in HEADLINE_OUTCOMES if o[1] != "investment_cum_2040")
"""(group, variable) of the first-screen risk table, in order; every entity of each."""
MAX_RISK_ROWS = 15
TAIL_ALPHA = 0.05

SCENARIO_TEXT = {
    "capture": "the report's main case: every strategy's enabling policy arrives (its timing "
    "stays uncertain)",
    "not_so_bright": "the report's \u201cnot-so-bright future\u201d: capture fails in every "
    "strategy, existing industries shrink and the digital deficit grows unrestrained",
    "mixed": "whether Japan captures each strategy is uncertain: on each path each strategy's "
    "enabling policy arrives or not",
}


def _get(mapping, *keys, default=None):
    for key in keys:
        if not isinstance(mapping, dict) or key not in mapping:
            return default
        mapping = mapping[key]
    return mapping


def run_facts(run: RunData) -> dict[str, str]:
    """Scenario, paths, seed, device, git revision and date of the run (``"?"`` when absent).

    The device is the manifest's ``device``, else its backend and the devices used.
    """
    m = run.manifest
    device = m.get("device")
    used, listed = m.get("devices_used") or [], m.get("devices") or []
    if device and used and len(used) != len(listed):
        device = f"{device} ({len(used)} used)"
    if not device:
        used = m.get("devices_used") or m.get("devices")
        backend = m.get("backend")
        if used:
            device = f"{backend or ''} ({', '.join(map(str, used))})".strip()
        device = device or backend
    n_paths = m.get("n_paths") or _get(m, "config", "engine", "n_paths")
    rev = m.get("git_revision") or m.get("git_rev")
    return {
        "scenario": str(m.get("scenario") or _get(m, "config", "scenario", "name") or "?"),
        "paths": f"{int(n_paths):,}" if isinstance(n_paths, int | float) else "?",
        "seed": str(m.get("seed", _get(m, "config", "engine", "seed", default="?"))),
        "device": str(device or "?"),
        "git": str(rev)[:10] if rev else "?",
        "date": str(m.get("created") or m.get("date") or "?").replace("T", " "),
    }


def scenario_text(run: RunData) -> str:
    """One plain sentence on what the run's scenario means (with its policy probabilities)."""
    name = run_facts(run)["scenario"]
    text = SCENARIO_TEXT.get(name, f"scenario {name}")
    probs = _get(run.manifest, "config", "scenario", "policy_success_prob")
    if isinstance(probs, dict) and probs and name not in ("capture", "not_so_bright"):
        parts = ", ".join(f"{k} {v:.0%}" for k, v in probs.items() if isinstance(v, int | float))
        text += f" (probability of the policy arriving: {parts})"
    return text


def _num(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return f"{float(value):.{digits}g}"


def _pct(p, mcse=None) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return ""
    p = float(p)
    if p in (0.0, 1.0):
        text = f"{100 * p:.0f}%"
    elif p < 0.001 or p > 0.999:
        text = f"{100 * p:.3f}%"
    else:
        text = f"{100 * p:.1f}%"
    if mcse is not None and not (isinstance(mcse, float) and math.isnan(mcse)) and 0 < p < 1:
        text += f" ± {100 * float(mcse):.1g}"
    return text


def _scalar_rows(df: pd.DataFrame | None, group: str, variable: str) -> pd.DataFrame:
    if df is None:
        return pd.DataFrame()
    keep = (df["group"] == group) & (df["variable"] == variable)
    if "year" in df.columns:
        keep &= df["year"].isna()
    return df[keep]


def _alpha(downside: pd.DataFrame | None) -> float | None:
    if downside is None or not len(downside):
        return None
    alphas = sorted(set(downside["alpha"]))
    return min(alphas, key=lambda a: abs(a - TAIL_ALPHA))


def risk_table(run: RunData, report: ReportFigures) -> pd.DataFrame:
    """At most :data:`MAX_RISK_ROWS` rows for :data:`RISK_OUTCOMES`: median (90% interval),
    P(bad) with its threshold and MCSE (``exceedance.csv``), VaR and ES at 5% with MCSE
    (``downside.csv``) and the report's figure. Columns are display strings."""
    alpha = _alpha(run.downside)
    rows = []
    for group, variable in RISK_OUTCOMES:
        tail = _scalar_rows(run.downside, group, variable)
        if alpha is not None and len(tail):
            tail = tail[tail["alpha"] == alpha]
        summ = _scalar_rows(run.summary, group, variable)
        exc = _scalar_rows(run.exceedance, group, variable)
        entities = list(dict.fromkeys([*tail.get("entity", []), *summ.get("entity", [])]))
        figures = report.for_variable(variable)
        for entity in entities:
            t = tail[tail["entity"] == entity] if len(tail) else tail
            s = summ[summ["entity"] == entity] if len(summ) else summ
            e = exc[exc["entity"] == entity] if len(exc) else exc
            if not len(t) and not len(s):
                continue
            side = t["side"].iloc[0] if len(t) else (e["side"].iloc[0] if len(e) else "")
            row = {
                "outcome": variable + (f" [{entity}]" if entity else ""),
                "bad side": side,
                "median (5-95%)": "",
                "P(bad)": "",
                f"VaR {alpha:.0%}" if alpha else "VaR": "",
                f"ES {alpha:.0%}" if alpha else "ES": "",
                "report": _num(figures.get(entity)),
            }
            if len(s):
                r = s.iloc[0]
                row["median (5-95%)"] = f"{_num(r['p50'])} ({_num(r['p05'])} to {_num(r['p95'])})"
            if len(e):
                r = e.iloc[0]
                op = ">" if r["side"] == "high" else "<"
                row["P(bad)"] = f"{_pct(r['probability'], r['mcse'])} ({op} {_num(r['threshold'])})"
            if len(t):
                r = t.iloc[0]
                keys = list(row)
                row[keys[4]] = f"{_num(r['var'])} ± {_num(r['var_mcse'], 1)}"
                row[keys[5]] = f"{_num(r['es'])} ± {_num(r['es_mcse'], 1)}"
            rows.append(row)
            if len(rows) == MAX_RISK_ROWS:
                return pd.DataFrame(rows)
    return pd.DataFrame(rows)


def _median(run: RunData, group: str, variable: str, entity: str = "") -> float | None:
    s = _scalar_rows(run.summary, group, variable)
    s = s[s["entity"] == entity] if len(s) else s
    return float(s["p50"].iloc[0]) if len(s) else None


def _exceed(run: RunData, group: str, variable: str, entity: str = ""):
    e = _scalar_rows(run.exceedance, group, variable)
    e = e[e["entity"] == entity] if len(e) else e
    return e.iloc[0] if len(e) else None


def _es(run: RunData, group: str, variable: str, entity: str = ""):
    alpha = _alpha(run.downside)
    t = _scalar_rows(run.downside, group, variable)
    t = t[(t["entity"] == entity) & (t["alpha"] == alpha)] if len(t) else t
    return (t.iloc[0], alpha) if len(t) else (None, alpha)


def answer_text(run: RunData, report: ReportFigures) -> list[str]:
    """Up to three plain sentences: how bad and how likely, for the deficit, the strategies'
    profit and the total investment (escaped HTML)."""
    out = []
    med = _median(run, "macro", "digital_deficit_2040")
    if med is not None:
        text = f"The 2040 digital deficit has a median of {_num(med)} tn JPY/yr"
        e = _exceed(run, "macro", "digital_deficit_2040")
        if e is not None:
            text += (
                f"; it exceeds {_num(e['threshold'])} tn JPY/yr (the report's not-so-bright "
                f"figure is {_num(report.deficit_2040)}) on {_pct(e['probability'], e['mcse'])}"
                " of paths"
            )
        es, alpha = _es(run, "macro", "digital_deficit_2040")
        if es is not None:
            text += f", and the worst {alpha:.0%} of paths average {_num(es['es'])} tn JPY/yr"
        out.append(text + ".")
    exc = run.exceedance
    if exc is not None:
        prof = _scalar_rows(exc, "strategy", "operating_profit_2040")
        if len(prof):
            parts = [f"{r.entity} {_pct(r.probability)}" for r in prof.itertuples()]
            text = "Chance of a 2040 operating loss by strategy: " + ", ".join(parts)
            losses = [k for k, v in report.profit.items() if v < 0]
            if report.profit:
                text += (
                    f" (the report expects a loss for {', '.join(losses)} only)"
                    if losses
                    else " (the report expects a profit for every strategy)"
                )
            out.append(text + ".")
    med = _median(run, "macro", "investment_total_cum_2040")
    e = _exceed(run, "macro", "investment_total_cum_2040")
    if med is not None:
        text = f"Total investment 2026-40 has a median of {_num(med)} tn JPY"
        if report.total_investment is not None:
            text += f" (the report: over {_num(report.total_investment)})"
        if e is not None:
            text += f"; P(> {_num(e['threshold'])}) = {_pct(e['probability'], e['mcse'])}"
        out.append(text + ".")
    return [html.escape(t) for t in out]


PREFERRED_OUTCOMES = ("deficit", "operating profit", "investment")


def _box_text(box: pd.DataFrame, max_conditions: int = 2) -> str:
    conds = []
    for r in box.itertuples():
        lower, upper = float(r.lower), float(r.upper)
        if isinstance(getattr(r, "categories", None), str) and r.categories:
            conds.append(f"{r.driver} in {r.categories}")
        elif r.driver.startswith("policy_success.") and upper <= 0.5:
            conds.append(f"{r.driver.split('.', 1)[1]}'s policy fails")
        elif math.isfinite(lower) and not math.isfinite(upper):
            conds.append(f"{r.driver} \u2265 {lower:.4g}")
        elif math.isfinite(upper) and not math.isfinite(lower):
            conds.append(f"{r.driver} \u2264 {upper:.4g}")
        else:
            conds.append(f"{lower:.4g} \u2264 {r.driver} \u2264 {upper:.4g}")
    more = len(conds) - max_conditions
    text = " and ".join(conds[:max_conditions])
    return text + (f" (and {more} more condition{'s' * (more > 1)})" if more > 0 else "")


def driver_sentences(run: RunData, n: int = 3) -> list[str]:
    """``n`` sentences on what drives the downside, one per headline outcome of
    ``sensitivity.csv`` (deficit, then operating profit, then investment first): its strongest
    drivers by first-order index, and the PRIM box of its worst 5% (``discovery.csv``)."""
    sens = run.sensitivity
    if sens is None or "outcome" not in sens.columns or "first_order" not in sens.columns:
        return []
    outcomes = list(dict.fromkeys(sens["outcome"]))
    rank = {o: next((i for i, k in enumerate(PREFERRED_OUTCOMES) if k in o), 9) for o in outcomes}
    chosen, seen = [], set()
    for o in sorted(outcomes, key=lambda o: rank[o]):
        if rank[o] not in seen or rank[o] == 9:
            chosen.append(o)
            seen.add(rank[o])
    out = []
    for outcome in chosen[:n]:
        tab = sens[sens["outcome"] == outcome].sort_values("first_order", ascending=False)
        top = [f"{r.driver} ({r.first_order:.2f})" for r in tab.head(3).itertuples()]
        text = f"{outcome}: mostly {', '.join(top)}"
        disc = run.discovery
        if disc is not None and "outcome" in disc.columns:
            box = disc[disc["outcome"] == outcome]
            if len(box) and "coverage" in box.columns:
                text += (
                    f"; {float(box['coverage'].iloc[0]):.0%} of its worst 5% lie in the box "
                    + _box_text(box)
                )
        out.append(html.escape(text + "."))
    return out
