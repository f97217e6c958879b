"""Provenance of a run: config, seed, package versions, device and git revision."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

PACKAGES = (
    "jp2040",
    "jax",
    "jaxlib",
    "numpy",
    "pandas",
    "arviz",
    "arviz-stats",
    "xarray",
    "hydra-core",
    "omegaconf",
    "netCDF4",
    "matplotlib",
    "scipy",
)


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_revision(root: Path | None = None) -> str:
    """The source tree's commit (with ``-dirty`` when modified), or ``unknown``."""
    root = root or Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_summary(devices) -> str:
    """``"cpu: 2 x cpu"``, ``"gpu: 1 x NVIDIA H200"``: platform, count and kind of the devices."""
    if not devices:
        return "none"
    kinds = sorted({getattr(d, "device_kind", d.platform) for d in devices})
    return f"{devices[0].platform}: {len(devices)} x {', '.join(kinds)}"


def build_manifest(cfg, raw=None, overrides=()) -> dict:
    import jax

    m = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": cfg.engine.seed,
        "scenario": cfg.scenario.name,
        "n_paths": cfg.engine.n_paths,
        "chains": cfg.engine.chains,
        "chunk_size": cfg.engine.chunk_size,
        "dtype": cfg.engine.dtype,
        "overrides": list(overrides),
        "config": cfg.raw,
        "versions": package_versions(),
        "git_revision": git_revision(),
        "backend": jax.default_backend(),
        "device": device_summary(jax.devices()),
        "devices": [str(d) for d in jax.devices()],
        "host": platform.node(),
    }
    if raw is not None:
        m.update(
            devices_used=raw.devices,
            wall_time_s=round(raw.wall_time_s, 3),
            compile_time_s=round(raw.compile_time_s, 3),
            paths_per_s=round(raw.n_paths / max(raw.wall_time_s, 1e-9), 1),
        )
    return m
