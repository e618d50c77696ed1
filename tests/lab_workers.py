"""Module-level workers for the lab's process tests (the ``spawn`` start method imports them
by name, so they cannot live inside a test function)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def hang_on_rank_one(rank, p, port):
    """Rank 1 never returns (for the time-out test)."""
    if rank == 1:
        time.sleep(600)
    return rank


def sleep_and_report(rank, p, port, folder):
    """Write this rank's pid into ``folder/rank<r>.pid``, then sleep (for the orphan and
    SIGTERM tests)."""
    path = Path(folder) / f"rank{rank}.pid"
    path.with_suffix(".tmp").write_text(str(os.getpid()))
    path.with_suffix(".tmp").rename(path)
    time.sleep(600)
    return rank
