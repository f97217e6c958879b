"""Ctrl-C and SIGTERM for the command line: stop between chunks, keep what was merged.

:func:`install` replaces the SIGINT and SIGTERM handlers of the CLI process. Inside
:func:`graceful` (the main simulation), a first signal only sets a flag: the chunk loop
(``engine.run.simulate_raw``) checks :func:`requested` after merging each chunk, saves a
checkpoint of everything merged so far and raises :class:`Interrupted`. Outside it (compiling
the report, writing files) the first signal raises :class:`Interrupted` at once; atomic writes
remove their temporary file. A second signal exits the process at once (``os._exit``), without
saving. Exit status 128 + signal number: 130 for SIGINT, 143 for SIGTERM.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from contextlib import contextmanager

log = logging.getLogger("jp2040")

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_state = {"signum": None, "graceful": False}


class Interrupted(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error
    """The run stopped on a signal. ``done``/``total``: chunks merged and chunks of the run
    (None when the signal came outside the chunk loop); ``checkpoint``: the file saved, if any."""

    def __init__(self, signum: int, done=None, total=None, checkpoint=None):
        super().__init__(signal.Signals(signum).name)
        self.signum, self.done, self.total, self.checkpoint = signum, done, total, checkpoint

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def requested() -> int | None:
    """The signal number received inside :func:`graceful`, or None."""
    return _state["signum"] if _state["graceful"] else None


def _handler(signum, frame) -> None:
    name = signal.Signals(signum).name
    if _state["signum"] is not None:
        sys.stderr.write(f"\n{name} again: exiting at once, nothing saved\n")
        sys.stderr.flush()
        os._exit(128 + signum)
    _state["signum"] = signum
    if not _state["graceful"]:
        raise Interrupted(signum)
    log.warning(
        "%s: stopping after the chunk in flight and saving a checkpoint (again to exit at once)",
        name,
    )


def install() -> bool:
    """Handle SIGINT and SIGTERM as described above; False (nothing done) off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return False
    _state["signum"] = None
    for s in SIGNALS:
        signal.signal(s, _handler)
    return True


@contextmanager
def graceful():
    """Within this block a first signal stops the chunk loop at the next chunk boundary."""
    _state["graceful"] = True
    try:
        yield
    finally:
        _state["graceful"] = False
    if _state["signum"] is not None:  # arrived after the last chunk was merged
        raise Interrupted(_state["signum"])


def message(err: Interrupted, run_dir, run_dir_given: bool) -> str:
    """The one line printed for an interrupted run."""
    again = (
        "rerun the same command to resume"
        if run_dir_given
        else f"rerun the same command with hydra.run.dir={run_dir} to resume"
    )
    if err.done is not None and err.checkpoint is not None:
        return f"interrupted at chunk {err.done} of {err.total}; {again}"
    if err.done is not None:
        return f"interrupted at chunk {err.done} of {err.total}"
    return f"interrupted ({err}); finished files in {run_dir} are whole, no partial file is left"
