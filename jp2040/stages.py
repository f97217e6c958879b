"""Wall time of the stages of a CLI run (simulate, scenarios, summaries, figures, ...), so a user
sees where a long run's minutes go: logged as each stage ends and kept in ``manifest.json``."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

log = logging.getLogger("jp2040")


class Stages:
    """``with stages("figures"): ...`` adds the block's wall time (s) to ``stages.times``."""

    def __init__(self):
        self.times: dict[str, float] = {}
        self.start = time.perf_counter()

    @contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            self.times[name] = round(self.times.get(name, 0.0) + dt, 3)
            log.info("stage %s: %.1f s", name, dt)

    def total(self) -> float:
        """Seconds since the stages began (s)."""
        return round(time.perf_counter() - self.start, 3)

    def line(self) -> str:
        """``simulate 12.3 s, write 1.0 s, ...; total 20.1 s``."""
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in self.times.items())
        return f"{parts}; total {self.total():.1f} s"
