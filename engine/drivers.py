"""The driver table: every uncertain input of a path, its distribution and its correlation.

A driver is drawn once per path. Its uniform comes from its own key, folded from the path key by a
stable id of its name (``distributions.keys``), so adding a driver never changes another's random
numbers and switching scenario never changes any (common random numbers). Uniforms pass through the
copula (correlated drivers only) and then each driver's quantile function.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from distributions.copula import GaussianCopula, StudentTCopula
from distributions.spec import from_spec
from engine.config import Config, ConfigError
from engine.model_names import DOMAIN_DRIVERS, GLOBAL_DRIVERS, IMPACTS

METADATA_KEYS = ("source", "ref", "why")
ARRIVAL_DRIVERS = ("agi", "ftqc", "photonics")
COPULA_MIXING = "copula.chi2_mixing"


def strip_metadata(spec):
    """Drop provenance keys (``source``, ``ref``, ``why``) from a spec, recursively."""
    if isinstance(spec, Mapping):
        return {k: strip_metadata(v) for k, v in spec.items() if k not in METADATA_KEYS}
    if isinstance(spec, list):
        return [strip_metadata(v) for v in spec]
    return spec


@dataclass(frozen=True)
class DriverTable:
    """Names and distributions of all drivers, in a fixed column order.

    Attributes:
        names: driver names, e.g. ``agi``, ``launch_delay.fusion``; one column each.
        dists: their distributions (``None`` for ``policy_success.*``: the raw uniform is used).
        specs: the config specs they were built from (for reports).
        copula: a copula over ``copula_columns`` or ``None``.
        copula_columns: column indices of the correlated drivers, in the copula's order.
        uniform_names: names whose uniforms are drawn per path: ``names`` plus the t copula's
            mixing variable when there is one.
    """

    names: tuple[str, ...]
    dists: tuple
    specs: tuple
    copula: object | None
    copula_columns: tuple[int, ...]
    uniform_names: tuple[str, ...]
    group_columns: tuple[tuple[int, ...], ...] = ()  # columns that share one spec (see groups)

    @property
    def n_drivers(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def columns(self, prefix: str) -> list[int]:
        """Column indices of ``<prefix>.<entity>`` drivers, in table order."""
        return [i for i, n in enumerate(self.names) if n.startswith(prefix + ".")]

    def values(self, uniforms, apply_copula: bool = True):
        """Map per-path uniforms to driver values.

        Args:
            uniforms: shape (..., len(uniform_names)), in (0, 1).
            apply_copula: False for designs that must stay independent (Saltelli).
        Returns:
            shape (..., n_drivers): each driver in its own units.
        """
        u = uniforms[..., : self.n_drivers]
        if apply_copula and self.copula is not None:
            cols = jnp.asarray(self.copula_columns)
            sub = u[..., cols]
            if isinstance(self.copula, StudentTCopula):
                sub = jnp.concatenate([sub, uniforms[..., self.n_drivers :]], axis=-1)
            u = u.at[..., cols].set(self.copula.transform(sub))
        # one quantile-function call per distinct spec (e.g. all 25 launch delays at once):
        # the same numbers as column by column, and a far smaller program to compile
        parts, order = [], []
        for dist, cols in self.groups:
            parts.append(dist.icdf(u[..., jnp.asarray(cols)]).astype(u.dtype))
            order.extend(cols)
        raw = [j for j, dist in enumerate(self.dists) if dist is None]
        parts.append(u[..., jnp.asarray(raw)])
        order.extend(raw)
        inverse = np.argsort(np.asarray(order))
        return jnp.concatenate(parts, axis=-1)[..., jnp.asarray(inverse)]

    @property
    def groups(self) -> list[tuple[object, tuple[int, ...]]]:
        """(distribution, columns) for each distinct driver spec; ``policy_success`` stays raw."""
        return [(self.dists[cols[0]], cols) for cols in self.group_columns]


def _group_columns(dists, specs) -> tuple[tuple[int, ...], ...]:
    """Columns of the drivers that share one spec (one quantile-function call each)."""
    seen: dict[str, list[int]] = {}
    for j, (dist, spec) in enumerate(zip(dists, specs, strict=True)):
        if dist is None:
            continue
        key = json.dumps(strip_metadata(spec), sort_keys=True, default=str)
        seen.setdefault(key, []).append(j)
    return tuple(tuple(c) for c in seen.values())


# The table is a JAX pytree: the distributions' parameters and the copula's factor are leaves (a
# changed median or correlation is a new argument, not a new program); names, groups and columns
# are static. Unflattened copies (inside jit) carry no specs.
def _table_flatten(t: DriverTable):
    aux = (t.names, t.copula_columns, t.uniform_names, t.group_columns)
    return (t.dists, t.copula), aux


def _table_unflatten(aux, children) -> DriverTable:
    names, copula_columns, uniform_names, group_columns = aux
    dists, copula = children
    return DriverTable(names, dists, (), copula, copula_columns, uniform_names, group_columns)


jax.tree_util.register_pytree_node(DriverTable, _table_flatten, _table_unflatten)


def build_driver_table(cfg: Config) -> DriverTable:
    """Build every driver's distribution and the copula from the config (raises ConfigError)."""
    d = cfg.drivers
    entries: list[tuple[str, object, str]] = []  # (name, spec, config path)
    for name in GLOBAL_DRIVERS:
        entries.append((name, d[name], f"drivers.{name}"))
    for dom, dcfg in cfg.domains.items():
        for key in DOMAIN_DRIVERS:
            if key in dcfg.drivers:
                entries.append((f"{key}.{dom}", dcfg.drivers[key], f"domains.{dom}.drivers.{key}"))
            else:
                entries.append(
                    (f"{key}.{dom}", d["domain_defaults"][key], f"drivers.domain_defaults.{key}")
                )
    for s in cfg.strategies:
        entries.append(
            (
                f"policy_delay.{s}",
                d["strategy_defaults"]["policy_delay"],
                "drivers.strategy_defaults.policy_delay",
            )
        )
        entries.append((f"policy_success.{s}", None, f"scenario.policy_success_prob.{s}"))
        entries.append((f"policy_precondition.{s}", None, "macro.strategy_dependence.strength"))
    for imp in IMPACTS:
        entries.append(
            (
                f"impact_factor.{imp}",
                d["impact_defaults"]["impact_factor"],
                "drivers.impact_defaults.impact_factor",
            )
        )

    names = tuple(e[0] for e in entries)
    dists = []
    for _name, spec, path in entries:
        if spec is None:
            dists.append(None)
            continue
        try:
            dists.append(from_spec(strip_metadata(spec), path=path))
        except ValueError as err:
            raise ConfigError(str(err)) from err
    copula, columns = _build_copula(d["correlation"], names)
    uniform_names = names + ((COPULA_MIXING,) if isinstance(copula, StudentTCopula) else ())
    specs = tuple(e[1] for e in entries)
    return DriverTable(
        names=names,
        dists=tuple(dists),
        specs=specs,
        copula=copula,
        copula_columns=columns,
        uniform_names=uniform_names,
        group_columns=_group_columns(dists, specs),
    )


def _build_copula(corr: Mapping, names: tuple[str, ...]):
    entries = corr.get("entries") or []
    if not entries:
        return None, ()
    involved: list[str] = []
    pairs = {}
    for i, entry in enumerate(entries):
        path = f"drivers.correlation.entries[{i}]"
        pair = entry.get("pair") if isinstance(entry, Mapping) else None
        if not pair or len(pair) != 2:
            raise ConfigError(f"{path}: expected {{pair: [a, b], rho: r}}, got {entry!r}")
        for n in pair:
            if n not in names:
                raise ConfigError(
                    f"{path}.pair: unknown driver {n!r} (valid: {', '.join(names[:15])}, "
                    f"... or <driver>.<domain> such as market_factor.fusion)"
                )
            if n not in involved:
                involved.append(n)
        pairs[(pair[0], pair[1])] = entry.get("rho")
    kind = corr.get("kind", "spearman")
    nearest = bool(corr.get("nearest_psd", False))
    try:
        if corr.get("copula", "gaussian") == "student_t":
            copula = StudentTCopula(
                involved,
                pairs,
                df=corr.get("df", 5),
                kind=kind,
                nearest_psd=nearest,
                path="drivers.correlation",
            )
        else:
            copula = GaussianCopula(
                involved, pairs, kind=kind, nearest_psd=nearest, path="drivers.correlation"
            )
    except ValueError as err:
        raise ConfigError(str(err)) from err
    return copula, tuple(names.index(n) for n in involved)


def prior_table(table: DriverTable, values: np.ndarray) -> pd.DataFrame:  # noqa: F821
    """Median, 5%/95% quantiles (and P(after 2040) for arrival years) of driver draws.

    Args:
        values: shape (n_draws, n_drivers).
    """
    import pandas as pd

    q05, q50, q95 = np.quantile(values, [0.05, 0.5, 0.95], axis=0)
    rows = []
    for j, name in enumerate(table.names):
        after = float(np.mean(values[:, j] > 2040)) if name in ARRIVAL_DRIVERS else np.nan
        rows.append((name, q50[j], q05[j], q95[j], after))
    return pd.DataFrame(rows, columns=["driver", "median", "p05", "p95", "p_after_2040"])
