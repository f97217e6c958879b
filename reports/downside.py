"""Downside metrics: value at risk, expected shortfall and exceedance probabilities, with MCSE.

Array layer: :func:`value_at_risk`, :func:`expected_shortfall` and
:func:`exceedance_probability` take ``x`` shaped ``(..., chain, draw)`` (ArviZ's array
convention; a 1-D array is one chain) and return an :class:`Estimate` ``(value, mcse)`` with the
leading shape. The DataTree layer (:func:`downside`, :func:`exceedance`) walks variables by name.

``side`` says which tail is bad: ``"low"`` (profits, revenue, FCF, value added, savings: bad
outcomes are low values) or ``"high"`` (digital deficit, investment, labour shortage). The
DataTree layer reads it from each variable's ``bad_side`` attr, which the engine writes
(``engine.results.bad_side``, the one definition); the array layer takes it as an argument.

- VaR: ``low``: the alpha-quantile; ``high``: the (1 - alpha)-quantile (linear interpolation).
  MCSE: ArviZ's order-statistic quantile MCSE with the ESS of the tail indicator
  ``1{x <= VaR}`` (``high``: ``1{x >= VaR}``), VaR from all draws (``arviz_stats`` relative ESS
  of the indicator on the first ``diag_max_draws`` draws of each chain, times the number of
  draws; ArviZ's quantile ESS is the same with the subset's own quantile).
- ES: ``low``: mean of the draws ``<= VaR``; ``high``: mean of the draws ``>= VaR``. MCSE is the
  asymptotic standard error of the sample ES (e.g. Chen 2008, J. Financial Econometrics 6:87)::

      es_mcse = sqrt((tail_var + (1 - alpha) * (es - var)**2) / (alpha * n_eff))

  ``tail_var / (alpha * n_eff)`` is the tail sample's ``sd**2 / n_tail``; the second term is the
  uncertainty that the estimated VaR (the tail's edge) adds. ``n_eff`` is the VaR's ESS.
- Exceedance ``P(X > t)`` (side ``high``) or ``P(X < t)`` (side ``low``): the fraction of draws,
  MCSE ``sqrt(p (1 - p) / n_eff)`` with ``n_eff`` the ESS of the indicator (ArviZ "mean" ESS).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from reports.summaries import (
    DIAG_MAX_DRAWS,
    SAMPLE_DIMS,
    YEAR_DIM,
    ReportOptionError,
    diagnostic_subset,
    entity_dim,
    iter_variables,
    quantile_mcse_from_sorted,
    relative_ess,
    sample_groups,
    sorted_quantile,
    stack_cells,
)
from reports.tails import buffer_exceedance, buffer_tail_metrics, tail_buffer

__all__ = [
    "DEFAULT_THRESHOLDS",
    "SCALAR_GROUPS",
    "Estimate",
    "bad_side",
    "downside",
    "exceedance",
    "exceedance_probability",
    "expected_shortfall",
    "run_paths",
    "select_cells",
    "value_at_risk",
]

SIDES = ("low", "high")
SCALAR_GROUPS = ("domain", "strategy", "area", "macro")

DEFAULT_THRESHOLDS = [
    {
        "group": "macro",
        "variable": "digital_deficit_2040",
        "entity": None,
        "year": None,
        "threshold": 30.0,
        "side": "high",
    },
    {
        "group": "strategy",
        "variable": "operating_profit_2040",
        "entity": "*",
        "year": None,
        "threshold": 0.0,
        "side": "low",
    },
    {
        "group": "macro",
        "variable": "investment_total_cum_2040",
        "entity": None,
        "year": None,
        "threshold": 190.0,
        "side": "high",
    },
]
"""P(digital_deficit_2040 > 30), P(operating_profit_2040 < 0) per strategy,
P(investment_total_cum_2040 > 190). ``entity "*"`` expands to every entity."""


class Estimate(NamedTuple):
    """A Monte Carlo estimate and its Monte Carlo standard error (same shapes)."""

    value: np.ndarray
    mcse: np.ndarray


def _check_side(side: str) -> str:
    if side not in SIDES:
        raise ReportOptionError(f"side must be one of {SIDES}, got {side!r}")
    return side


def _check_alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ReportOptionError(f"alpha must lie in (0, 1), got {alpha}")
    return float(alpha)


def _as_cells(x) -> tuple[np.ndarray, tuple[int, ...]]:
    """``(..., chain, draw)`` (or 1-D) -> ``(n_cells, chain, draw)`` float64 and the lead shape."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    lead = x.shape[:-2]
    return x.reshape(-1, *x.shape[-2:]), lead


def _tail_metrics(cells, alphas, side, diag_max_draws):
    """VaR, ES and their MCSEs for each alpha; ``cells`` is ``(n_cells, chain, draw)``."""
    n_cells = cells.shape[0]
    flat = cells.reshape(n_cells, -1)
    n = flat.shape[1]
    sorted_flat = np.sort(flat, axis=1).T  # (n, n_cells)
    sub = diagnostic_subset(np.moveaxis(cells, 0, -1), diag_max_draws)
    out = {}
    for alpha in alphas:
        prob = alpha if side == "low" else 1.0 - alpha
        var = sorted_quantile(sorted_flat, prob)
        hit = sub <= var[:, None, None] if side == "low" else sub >= var[:, None, None]
        ess = relative_ess(hit.astype(np.float64), "mean") * n
        var_mcse = quantile_mcse_from_sorted(sorted_flat, prob, ess)
        tail = flat <= var[:, None] if side == "low" else flat >= var[:, None]
        n_tail = tail.sum(axis=1)
        es = np.where(tail, flat, 0.0).sum(axis=1) / n_tail
        tail_var = np.where(tail, (flat - es[:, None]) ** 2, 0.0).sum(axis=1) / np.maximum(
            n_tail - 1, 1
        )
        es_mcse = np.sqrt((tail_var + (1 - alpha) * (es - var) ** 2) / (alpha * ess))
        out[alpha] = (var, es, var_mcse, es_mcse)
    return out


def value_at_risk(x, alpha: float, side: str = "low", *, diag_max_draws=DIAG_MAX_DRAWS):
    """Value at risk of ``x`` (shape ``(..., chain, draw)`` or ``(n,)``) with its MCSE.

    ``side="low"``: the ``alpha``-quantile; ``side="high"``: the ``(1 - alpha)``-quantile.
    Returns an :class:`Estimate` with the leading shape of ``x``, in the units of ``x``.
    """
    alpha, side = _check_alpha(alpha), _check_side(side)
    cells, lead = _as_cells(x)
    var, _, var_mcse, _ = _tail_metrics(cells, [alpha], side, diag_max_draws)[alpha]
    return Estimate(var.reshape(lead), var_mcse.reshape(lead))


def expected_shortfall(x, alpha: float, side: str = "low", *, diag_max_draws=DIAG_MAX_DRAWS):
    """Expected shortfall (mean beyond the VaR, on the bad side) with its MCSE.

    ``x`` is ``(..., chain, draw)`` or ``(n,)``; see the module docstring for the MCSE formula.
    For ``X ~ N(mu, sigma)``, ``side="low"``: ``mu - sigma * phi(z_alpha) / alpha``.
    """
    alpha, side = _check_alpha(alpha), _check_side(side)
    cells, lead = _as_cells(x)
    _, es, _, es_mcse = _tail_metrics(cells, [alpha], side, diag_max_draws)[alpha]
    return Estimate(es.reshape(lead), es_mcse.reshape(lead))


def exceedance_probability(
    x, threshold: float, side: str = "high", *, diag_max_draws=DIAG_MAX_DRAWS
):
    """``P(X > threshold)`` (side ``high``) or ``P(X < threshold)`` (side ``low``) with MCSE.

    ``x`` is ``(..., chain, draw)`` or ``(n,)``. MCSE ``sqrt(p (1 - p) / n_eff)``, ``n_eff`` the
    ArviZ ESS of the exceedance indicator.
    """
    side = _check_side(side)
    cells, lead = _as_cells(x)
    hit = cells > threshold if side == "high" else cells < threshold
    hit = hit.astype(np.float64)
    n = hit.shape[1] * hit.shape[2]
    p = hit.reshape(hit.shape[0], -1).mean(axis=1)
    sub = diagnostic_subset(np.moveaxis(hit, 0, -1), diag_max_draws)
    n_eff = relative_ess(sub, "mean") * n
    mcse = np.sqrt(p * (1 - p) / n_eff)
    return Estimate(p.reshape(lead), mcse.reshape(lead))


def bad_side(name: str, attrs: dict | None) -> str:
    """The bad side of variable ``name``: its ``bad_side`` attr (``"low"`` or ``"high"``).

    The engine defines it once (``engine.results.bad_side``) and writes it on every variable of
    results.nc; a bare array has no attrs, so its caller passes ``side`` itself. A missing or
    invalid attr raises :class:`ReportOptionError` naming the variable.
    """
    side = (attrs or {}).get("bad_side")
    if side not in SIDES:
        raise ReportOptionError(
            f"variable {name!r}: bad_side attr must be one of {SIDES}, got {side!r} "
            "(results.nc from the engine has it on every variable)"
        )
    return side


def run_paths(dt: xr.DataTree) -> int | None:
    """All paths of the run (the tail buffers' count, else the manifest's config), or None."""
    if "tails" in dt.children and "n_paths" in dt["tails"].attrs:
        return int(dt["tails"].attrs["n_paths"])
    try:
        return int(json.loads(dt.attrs["manifest"])["config"]["engine"]["n_paths"])
    except (KeyError, TypeError, ValueError):
        return None


def _scalar_groups(dt: xr.DataTree) -> list[str]:
    return [g for g in SCALAR_GROUPS if g in sample_groups(dt)]


def downside(
    dt: xr.DataTree,
    alphas: Sequence[float] = (0.05, 0.01),
    variables: Iterable[str] | None = None,
    *,
    diag_max_draws: int | None = DIAG_MAX_DRAWS,
) -> pd.DataFrame:
    """VaR and ES of per-path scalars, one row per variable x entity x alpha.

    ``variables``: names (``"operating_profit_2040"``, any scalar group) or ``"group/name"``;
    default every variable of the groups ``domain``, ``strategy``, ``area``, ``macro``.
    Returns columns ``group``, ``variable``, ``entity``, ``year``, ``side``, ``alpha``, ``var``,
    ``es``, ``var_mcse``, ``es_mcse`` (values in each variable's units) and ``source``: ``tail
    buffer, all N paths`` where the run's exact tail buffers (``/tails``, reports.tails) hold
    what the estimate needs (any alpha <= engine.tail_alpha), ``all N paths`` where every path
    was kept, else ``M of N paths kept`` (a subsample estimate, its MCSE that of M paths).
    """
    alphas = [_check_alpha(a) for a in alphas]
    frames = []
    n_all = run_paths(dt)
    for group, name, da in iter_variables(dt, _scalar_groups(dt), variables):
        side = bad_side(name, da.attrs)
        values, index = stack_cells(da)
        cells = np.moveaxis(values, -1, 0)
        metrics = _tail_metrics(cells, alphas, side, diag_max_draws)
        n_kept = values.shape[0] * values.shape[1]
        kept_source = (
            f"all {n_kept} paths" if n_all in (None, n_kept) else f"{n_kept} of {n_all} paths kept"
        )
        buf = tail_buffer(dt, group, name, side)
        if buf is not None and list(buf.entity) != list(index["entity"]) and len(buf.entity) > 1:
            buf = None  # entity order differs: never mix cells
        for alpha in alphas:
            var, es, var_mcse, es_mcse = metrics[alpha]
            source = np.full(len(var), kept_source, dtype=object)
            if buf is not None:
                exact = buffer_tail_metrics(buf, alpha, diag_max_draws)
                ok = exact["covered"]
                var, es = np.where(ok, exact["var"], var), np.where(ok, exact["es"], es)
                var_mcse = np.where(ok, exact["var_mcse"], var_mcse)
                es_mcse = np.where(ok, exact["es_mcse"], es_mcse)
                source[ok] = f"tail buffer, all {buf.n_paths} paths"
            frame = index.copy()
            frame.insert(0, "variable", name)
            frame.insert(0, "group", group)
            frame["side"] = side
            frame["alpha"] = alpha
            frame["var"], frame["es"] = var, es
            frame["var_mcse"], frame["es_mcse"] = var_mcse, es_mcse
            frame["source"] = source
            frames.append(frame)
    columns = ["group", "variable", "entity", "year", "side", "alpha", "var", "es"]
    columns += ["var_mcse", "es_mcse", "source"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def select_cells(
    dt: xr.DataTree,
    variable: str,
    *,
    group: str | None = None,
    entity: str | None = None,
    year: int | None = None,
) -> list[tuple[str, str, xr.DataArray]]:
    """Find a variable's draws: a list of ``(group, entity, DataArray (chain, draw))``.

    ``year=None`` looks in the per-path scalar groups, an int year in the ``*_yearly`` groups.
    ``entity`` is an id, ``"*"`` (every entity) or None/"" (a variable without entity dim).
    Unknown groups, variables, entities or years raise :class:`ReportOptionError` naming the
    valid ones.
    """
    scalar = _scalar_groups(dt)
    candidates = scalar if year is None else [f"{g}_yearly" for g in scalar]
    candidates = [g for g in candidates if g in dt.children]
    if group is not None:
        wanted = group if year is None else f"{group.removesuffix('_yearly')}_yearly"
        if wanted not in candidates:
            raise ReportOptionError(f"unknown group {group!r}; valid groups: {candidates}")
        candidates = [wanted]
    found = [g for g in candidates if variable in dt[g].to_dataset().data_vars]
    if not found:
        valid = sorted({str(v) for g in candidates for v in dt[g].to_dataset().data_vars})
        raise ReportOptionError(f"unknown variable {variable!r}; valid: {valid}")
    if len(found) > 1 and entity not in (None, "", "*"):
        found = [
            g
            for g in found
            if entity_dim(dt[g][variable]) in dt[g].coords
            and entity in dt[g][variable][entity_dim(dt[g][variable])].values.astype(str)
        ] or found
    if len(found) > 1:
        raise ReportOptionError(
            f"variable {variable!r} is in groups {found}; give 'group' to choose one"
        )
    grp = found[0]
    da = dt[grp][variable]
    if year is not None:
        years = [int(y) for y in da[YEAR_DIM].values]
        if int(year) not in years:
            raise ReportOptionError(f"unknown year {year} for {variable!r}; valid: {years}")
        da = da.sel({YEAR_DIM: int(year)})
    ent_dim = entity_dim(da)
    if ent_dim is None:
        if entity not in (None, "", "*"):
            raise ReportOptionError(f"variable {variable!r} has no entity dim; got {entity!r}")
        return [(grp, "", da.transpose(*SAMPLE_DIMS))]
    ids = [str(v) for v in da[ent_dim].values]
    if entity in (None, "", "*"):
        chosen = ids
    elif entity in ids:
        chosen = [entity]
    else:
        raise ReportOptionError(f"unknown {ent_dim} {entity!r} for {variable!r}; valid: {ids}")
    return [(grp, e, da.isel({ent_dim: ids.index(e)}).transpose(*SAMPLE_DIMS)) for e in chosen]


def exceedance(
    dt: xr.DataTree,
    thresholds: Sequence[dict] | None = None,
    *,
    diag_max_draws: int | None = DIAG_MAX_DRAWS,
) -> pd.DataFrame:
    """Exceedance probabilities for a list of thresholds (default :data:`DEFAULT_THRESHOLDS`).

    Each threshold is a dict with keys ``variable``, ``threshold``, ``side`` (``"high"``:
    P(X > t), ``"low"``: P(X < t)) and optional ``entity`` (id, ``"*"`` for all, None),
    ``year`` (None: the per-path scalar; an int: that year of the ``*_yearly`` group) and
    ``group``. Returns columns ``group``, ``variable``, ``entity``, ``year``, ``threshold``,
    ``side``, ``probability``, ``mcse`` and ``source`` (as :func:`downside`: the tail buffer
    where it holds every path beyond the threshold).
    """
    rows = []
    n_all = run_paths(dt)
    for spec in DEFAULT_THRESHOLDS if thresholds is None else thresholds:
        missing = {"variable", "threshold", "side"} - set(spec)
        if missing:
            raise ReportOptionError(f"threshold {spec} lacks keys {sorted(missing)}")
        side = _check_side(spec["side"])
        year = spec.get("year")
        for grp, ent, da in select_cells(
            dt, spec["variable"], group=spec.get("group"), entity=spec.get("entity"), year=year
        ):
            est = exceedance_probability(
                da.values, float(spec["threshold"]), side, diag_max_draws=diag_max_draws
            )
            n_kept = int(da.sizes["chain"] * da.sizes["draw"])
            source = (
                f"all {n_kept} paths"
                if n_all in (None, n_kept)
                else f"{n_kept} of {n_all} paths kept"
            )
            buf = None if year is not None else tail_buffer(dt, grp, spec["variable"], side)
            if buf is not None:
                cell = list(buf.entity).index(ent) if ent in list(buf.entity) else 0
                exact = buffer_exceedance(buf, float(spec["threshold"]), diag_max_draws)
                if exact["covered"][cell]:
                    est = Estimate(exact["probability"][cell], exact["mcse"][cell])
                    source = f"tail buffer, all {buf.n_paths} paths"
            rows.append(
                {
                    "group": grp,
                    "variable": spec["variable"],
                    "entity": ent,
                    "year": year,
                    "threshold": float(spec["threshold"]),
                    "side": side,
                    "probability": float(est.value),
                    "mcse": float(est.mcse),
                    "source": source,
                }
            )
    columns = ["group", "variable", "entity", "year", "threshold", "side", "probability", "mcse"]
    df = pd.DataFrame(rows, columns=[*columns, "source"])
    df["year"] = pd.array(df["year"].tolist(), dtype="Int64")
    return df
