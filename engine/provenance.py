"""Where each model parameter comes from: ``jp2040 report.provenance=true`` lists them all."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping

import pandas as pd
import yaml

from engine.config import CONFIG_DIR, Config

PROVENANCE_FILE = CONFIG_DIR / "provenance.yaml"
GROUPS = ("domains", "strategies", "scenario", "macro")
SPEC_META = ("source", "ref", "why")


def _leaves(node, path):
    if isinstance(node, Mapping):
        if (
            node
            and all(isinstance(v, (int, float, str)) for v in node.values())
            and "source" in node
        ):
            yield path, {k: v for k, v in node.items() if k not in SPEC_META}, node
            return
        for k, v in node.items():
            if k in SPEC_META:
                continue
            yield from _leaves(v, f"{path}.{k}")
    else:
        yield path, node, None


def provenance_table(cfg: Config) -> pd.DataFrame:
    """One row per parameter: ``parameter``, ``value``, ``source``, ``ref``."""
    patterns = yaml.safe_load(PROVENANCE_FILE.read_text())
    rows = []
    for group in GROUPS:
        for path, value, meta in _leaves(cfg.raw[group], group):
            if meta is not None:
                rows.append((path, value, meta.get("source", "MISSING"), meta.get("ref", "")))
                continue
            hits = [p for p in patterns if fnmatch.fnmatchcase(path, p)]
            if hits:
                best = max(hits, key=len)
                rows.append((path, value, *patterns[best]))
            else:
                rows.append((path, value, "MISSING", ""))
    for name, spec in cfg.drivers.items():
        if name == "correlation":
            for i, e in enumerate(spec.get("entries") or []):
                rows.append(
                    (
                        f"drivers.correlation.entries[{i}]",
                        f"{e['pair']} rho={e['rho']}",
                        e.get("source", "MISSING"),
                        e.get("why", ""),
                    )
                )
            continue
        specs = spec.items() if name.endswith("_defaults") else [(name, spec)]
        for sub, s in specs:
            label = f"drivers.{name}.{sub}" if name.endswith("_defaults") else f"drivers.{name}"
            shown = {k: v for k, v in s.items() if k not in SPEC_META}
            rows.append((label, shown, s.get("source", "MISSING"), s.get("ref", "")))
    df = pd.DataFrame(rows, columns=["parameter", "value", "source", "ref"])
    df["value"] = df["value"].astype(str)
    return df
