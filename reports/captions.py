"""Captions of the report's figures, by file stem: what each shows and how to read it.

Stems are those written by :func:`reports.figures.make_figures`,
:func:`reports.figures_headline.make_headline_figures` and :func:`reports.explain.write_explanation`
(``sensitivity_<i>``, ``tornado_<i>``, ``prim_<i>``: the i-th outcome of ``sensitivity.csv``).
"""

from __future__ import annotations

import re

__all__ = ["caption", "figure_section"]

STYLE = "Red diamonds: the report's figures; red shading: the downside."

FIXED = {
    "headline_deficit": (
        "Digital deficit in 2040",
        "Share of simulated paths by the size of Japan's 2040 digital deficit (tn JPY/yr). The "
        "red line and diamond mark the report's not-so-bright-future figure; paths in the red "
        "area are worse than it. The dashed line is the median.",
    ),
    "headline_strategies": (
        "2040 operating profit and cumulative investment by strategy",
        "Each row is a strategy: the thin line spans 90% of paths, the thick bar 50%, the "
        "white dot is the median; the red diamond is the report's figure (report basis: the "
        "members the report's chart counts). A diamond inside the thick bar means the report's "
        "figure is a typical outcome; outside the thin line, an unlikely one.",
    ),
    "scenarios": (
        "Scenarios compared on the same paths",
        "Each panel is one outcome; each row the path-by-path difference of a scenario from "
        "capture (the report's main case), simulated with the same random numbers: the line "
        "spans 90% of the paired differences, the dot is their mean. Left of zero is lower "
        "than under capture; the red side is worse.",
    ),
    "drivers": (
        "Driver distributions (prior check)",
        "Histograms of the first 16 drivers' draws across paths, as the engine sampled them: "
        "check that each has the range and shape its source gives.",
    ),
}

PATTERNS = (
    (
        r"forest_(.+)_(strategy|domain|area)",
        "{0} by {1}",
        "Each row is one {1}: the thin line spans 90% of paths, the thick bar 50%, the dot is "
        "the median. Rows are comparable on one axis; a bar crossing zero means a loss is "
        "plausible (shaded where low values are bad).",
    ),
    (
        r"fan_(operating_profit|revenue|fcf|investment)_(.+)",
        "{0} by year: {1}",
        "Yearly quantiles over the kept trajectories: the line is the median, the dark band "
        "holds 50% of paths, the light band 90%. The band's width is the uncertainty in that "
        "year.",
    ),
    (
        r"fan_digital_deficit",
        "digital deficit by year",
        "Yearly quantiles of the digital deficit over the kept trajectories (median line, 50% "
        "and 90% bands); the red diamond in the last year is the report's not-so-bright figure.",
    ),
    (
        r"exceedance_(.+)",
        "{0}: how likely each level is",
        "For each level t on the x axis, the share of paths beyond t (log scale). The dashed "
        "line is the 5% VaR (5% of paths are worse), the dash-dotted line the 5% expected "
        "shortfall (the average of those worst 5%); the shaded area is that tail.",
    ),
    (
        r"sensitivity_(\d+)",
        "Sensitivity indices: {outcome}",
        "For the drivers with the largest indices: first-order index (share of the outcome's "
        "variance explained by the driver alone), Spearman rank correlation and PAWN distance, "
        "each with its bootstrap interval; the tail KS distance (how differently the driver is "
        "distributed in the outcome's worst 5% of kept paths) and, where the run replayed it, "
        "the same on the true tail (the worst paths of all paths). Longer bars matter more.",
    ),
    (
        r"tornado_(\d+)",
        "Tornado: {outcome}",
        "For each driver, the median outcome when the driver sits near its low (blue) and high "
        "(orange) quantile, against the overall median. The widest rows move the outcome most.",
    ),
    (
        r"prim_(\d+)",
        "Scenario discovery (PRIM): {outcome}",
        "Each point is a box of driver ranges found by PRIM for the worst 5% of {outcome}: "
        "coverage (share of the bad paths inside the box) against density (share of the box's "
        "paths that are bad). The chosen box is the one the sentences above describe.",
    ),
)


def caption(stem: str, outcomes: list[str] | None = None) -> tuple[str, str]:
    """(title, how to read it) of a figure file stem; ``outcomes``: the outcomes of
    ``sensitivity.csv`` in order (for ``sensitivity_<i>`` and friends)."""
    if stem in FIXED:
        return FIXED[stem]
    for pattern, title, text in sorted(PATTERNS, key=lambda p: -len(p[0])):
        m = re.fullmatch(pattern, stem)
        if not m:
            continue
        groups = [g.replace("_", " ") if not g.isdigit() else g for g in m.groups()]
        outcome = "the outcome"
        if m.groups() and m.group(1).isdigit() and outcomes:
            i = int(m.group(1))
            outcome = outcomes[i] if i < len(outcomes) else outcome
        return title.format(*groups, outcome=outcome), text.format(*groups, outcome=outcome)
    return stem.replace("_", " "), "A figure of the run."


def figure_section(stem: str) -> str:
    """Which report section a figure belongs to (the anchor id)."""
    if stem.startswith("headline_"):
        return "answer"
    if stem == "scenarios":
        return "scenarios"
    if re.fullmatch(r"(sensitivity|tornado|prim)_\d+", stem):
        return "drivers"
    if stem.startswith(("forest_", "fan_operating")):
        return "strategies"
    if stem.startswith(("fan_", "exceedance_")):
        return "macro"
    if stem == "drivers":
        return "inputs"
    return "other"
