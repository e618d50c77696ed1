"""Run a command while a busy loop occupies every core: the book must build on a busy machine.

Usage: ``python tools/busy_cores.py [--cores N] -- COMMAND [ARG ...]``

Starts N processes (default: every core this process may use) that spin on pure Python
arithmetic, runs COMMAND, stops the spinners and exits with COMMAND's exit code. It is how CI
and ``make busy-book`` check that a reader's laptop with a browser, an editor and a video call
open still builds the book (issue 18): the lab's measurements are then noisy, and the page must
say so instead of failing the build or printing a false claim.

The spinners end with this process, however it ends: each one polls its parent's pid and exits
when the parent is gone (so a killed CI step leaves no busy loop behind).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import time


def _spin(parent: int) -> None:
    """Burn one core until the parent process is gone."""
    n = 0
    while True:
        for _ in range(200_000):
            n = (n * 1103515245 + 12345) % 2147483648
        if os.getppid() != parent:
            return


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=usable_cores(), help="busy loops to start")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    if args.cores < 1:
        parser.error(f"--cores must be an integer >= 1, got {args.cores}")
    ctx = mp.get_context("fork")
    spinners = [
        ctx.Process(target=_spin, args=(os.getpid(),), daemon=True) for _ in range(args.cores)
    ]
    for s in spinners:
        s.start()
    print(f"busy_cores: {args.cores} busy loop(s) running while: {' '.join(command)}", flush=True)
    start = time.perf_counter()
    try:
        return subprocess.call(command)
    finally:
        for s in spinners:
            s.terminate()
        for s in spinners:
            s.join(timeout=5)
        took = time.perf_counter() - start
        print(f"busy_cores: stopped {args.cores} busy loop(s) after {took:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
