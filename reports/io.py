"""Atomic file writes: write a temporary file in the target's directory, then ``os.replace``.

A reader (or a crashed run) never sees a half-written file: the target either keeps its old
contents or has the complete new ones. The engine reuses these helpers for its own outputs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

__all__ = ["write_bytes_atomic", "write_csv_atomic", "write_text_atomic"]


def write_bytes_atomic(data: bytes, path: str | os.PathLike) -> Path:
    """Write ``data`` to ``path`` atomically and return the path.

    The parent directory is created if needed. The temporary file lives in the same directory so
    that ``os.replace`` is a rename on one filesystem.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    return path


def write_text_atomic(text: str, path: str | os.PathLike, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8 by default) and return the path."""
    return write_bytes_atomic(text.encode(encoding), path)


def write_csv_atomic(df: pd.DataFrame, path: str | os.PathLike, index: bool = False) -> Path:
    """Write a DataFrame as CSV atomically and return the path (no index column by default)."""
    return write_text_atomic(df.to_csv(index=index), path)
