"""Stopping a run without losing it.

Within :class:`GracefulStop`, the first Ctrl-C (SIGINT) or SIGTERM raises ``KeyboardInterrupt`` so the
measuring stops; every later one is only noted, so the finished rows and the report are written
whole. Call :meth:`GracefulStop.hold` before writing them in a run that was not stopped, so that a
signal arriving then is noted too.
"""

from __future__ import annotations

import signal
import threading

__all__ = ["GracefulStop", "StopRequested"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested(KeyboardInterrupt):
    """A stop signal (Ctrl-C, SIGTERM) that :class:`GracefulStop` turned into an exception; a bare
    ``KeyboardInterrupt`` raised by the user's own code is not one."""


class GracefulStop:
    def __init__(self):
        self.stopped_by: int | None = None  # the first signal
        self.noted: list[int] = []  # signals that arrived after it, or while held
        self._held = False
        self._previous: dict = {}

    def __enter__(self) -> "GracefulStop":
        if threading.current_thread() is threading.main_thread():  # signals reach only the main thread
            self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def hold(self) -> None:
        """From now on a signal is noted, not raised."""
        self._held = True

    @property
    def requested(self) -> bool:
        """A stop was asked for, during the measuring or while held."""
        return self.stopped_by is not None or bool(self.noted)

    def _handle(self, signum, frame) -> None:
        if self._held or self.stopped_by is not None:
            self.noted.append(signum)
            return
        self.stopped_by = signum
        self._held = True
        raise StopRequested(f"signal {signum}")
