"""Work a serving process repeats in the background, through database outages.

A step that fails is retried at the next turn; the first failure of a run of them is
logged as a warning and the recovery as information, so an outage writes two lines,
not one per turn.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import NoReturn


def repeat(
    step: Callable[[], object],
    *,
    interval: float,
    log: logging.Logger,
    failed: Callable[[Exception], str],
    recovered: str,
    wake: threading.Event | None = None,
) -> NoReturn:
    """Run ``step`` every ``interval`` seconds (sooner when ``wake`` is set), forever.
    ``failed`` counts a failure and says what it means (logged once per outage)."""
    wake = wake or threading.Event()
    failing = False
    while True:
        wake.wait(interval)
        wake.clear()
        try:
            step()
        except Exception as exc:  # keep serving through database outages
            message = failed(exc)
            if not failing:
                log.warning("%s", message)
            failing = True
        else:
            if failing:
                log.info("%s", recovered)
            failing = False
