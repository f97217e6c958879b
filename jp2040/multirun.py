"""The Hydra callback of a multirun: after the last run, ``sweep.csv`` and ``sweep.png`` in the
sweep directory (``reports.sweep.write_sweep``). Enabled in ``configs/config.yaml``
(``hydra.callbacks.sweep``)."""

from __future__ import annotations

import logging

from hydra.experimental.callback import Callback

from reports.sweep import write_sweep

log = logging.getLogger("jp2040.sweep")


class SweepCallback(Callback):
    """Hydra callback: after a multirun, write ``sweep.csv``/``sweep.png`` in the sweep dir.

    Enable with ``hydra.callbacks.sweep._target_=jp2040.multirun.SweepCallback``. A failure is
    logged, not raised, so that it cannot hide the runs' own results.
    """

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = config.hydra.sweep.dir
        try:
            for path in write_sweep(sweep_dir):
                log.info("sweep: wrote %s", path)
        except Exception:  # noqa: BLE001 - report, do not abort the multirun's exit
            log.exception("sweep: could not summarise %s", sweep_dir)
