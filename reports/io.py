"""Atomic file writes: write a temporary file in the target's directory, then ``os.replace``.

A reader (or a crashed run) never sees a half-written file: the target either keeps its old
contents or has the complete new ones. The engine reuses these helpers for its own outputs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from engine.atomic import atomic_path

__all__ = ["write_bytes_atomic", "write_csv_atomic", "write_text_atomic"]


def write_bytes_atomic(data: bytes, path: str | os.PathLike) -> Path:
    """Write ``data`` to ``path`` atomically (``engine.atomic.atomic_path``), fsync-ed, and
    return the path."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(path)


def write_text_atomic(text: str, path: str | os.PathLike, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8 by default) and return the path."""
    return write_bytes_atomic(text.encode(encoding), path)


def write_csv_atomic(df: pd.DataFrame, path: str | os.PathLike, index: bool = False) -> Path:
    """Write a DataFrame as CSV atomically and return the path (no index column by default)."""
    return write_text_atomic(df.to_csv(index=index), path)
