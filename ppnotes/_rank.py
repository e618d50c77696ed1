"""The body of one lab rank (chapter 10), kept apart from :mod:`ppnotes.real_pipeline` so
that it imports nothing heavy: SIGTERM must be blocked before numpy or torch start threads
(threads inherit the signal mask; a thread that does not block SIGTERM would let the default
action kill the rank before the watchdog can say why). The worker and its arguments arrive
pickled and are unpickled only after that.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import socket
import sys
import threading
import traceback
from pathlib import Path

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_WATCH_INTERVAL = 0.5  # seconds between the watchdog's checks of the parent


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (``prctl(PR_SET_PDEATHSIG)``),
    then close the race: if the parent died before the request, exit now."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl: the watchdog still covers it
            pass
    if os.getppid() != parent_pid:
        os._exit(1)


def _process_name(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "a process that has ended"
    text = raw.replace(b"\0", b" ").decode(errors="replace").strip()[:120]
    return text or "a process that has ended"


def _sigterm_message(rank: int, p: int, sender: int, parent_pid: int, reason) -> str:
    """What a rank says when SIGTERM ends it: who sent it and why (the launcher writes its
    reason into shared memory before it signals)."""
    if sender == parent_pid:
        cause = reason.value.decode(errors="replace") if reason is not None else ""
        return (
            f"rank {rank} of {p} terminated by SIGTERM from the launcher (pid {parent_pid}): "
            f"{cause or 'no reason recorded'}"
        )
    return (
        f"rank {rank} of {p} terminated by SIGTERM from pid {sender} "
        f"({_process_name(sender)}), not by the launcher and not by a failure of this rank"
    )


def _watchdog(rank: int, p: int, parent_pid: int, reason, out) -> None:
    """Rank side: end the process when the parent is gone, and answer SIGTERM with its cause.

    SIGTERM is blocked in every thread of the rank (see :func:`_entry`), so it waits here,
    where ``sigtimedwait`` also tells who sent it; every ``_WATCH_INTERVAL`` s without a signal
    the parent's pid is checked (an orphan is re-parented, so ``getppid`` changes).
    """
    while True:
        info = signal.sigtimedwait([signal.SIGTERM], _WATCH_INTERVAL)
        if info is not None:
            message = _sigterm_message(rank, p, info.si_pid, parent_pid, reason)
            print(message, file=sys.stderr, flush=True)
            if info.si_pid != parent_pid:  # the launcher is still listening: tell it
                try:
                    out.put((rank, False, message))
                    # close() + join_thread() wait until the queue's feeder thread has written
                    # the message into the pipe; at most 2 s, the rank is ending anyway
                    flush = threading.Thread(
                        target=lambda: (out.close(), out.join_thread()), daemon=True
                    )
                    flush.start()
                    flush.join(2.0)
                except Exception:  # noqa: BLE001 - exiting anyway
                    pass
            os._exit(128 + signal.SIGTERM)
        if os.getppid() != parent_pid:
            os._exit(1)


def _fallback_handler(rank: int, p: int, parent_pid: int, reason):
    def handler(signum, frame):
        cause = reason.value.decode(errors="replace") if reason is not None else ""
        message = (
            f"rank {rank} of {p} terminated by SIGTERM (sender unknown): "
            f"{cause or 'not sent by the launcher, which records its reason first'}"
        )
        print(message, file=sys.stderr, flush=True)
        os._exit(128 + signal.SIGTERM)

    return handler


def entry(payload: bytes, rank: int, p: int, port: int, out, parent_pid: int, reason) -> None:
    """Process body: die with the parent, block SIGTERM for the watchdog, one thread,
    loopback only; then unpickle ``(worker, args)`` from ``payload``, run
    ``worker(rank, p, port, *args)`` and report its result or its traceback on ``out``."""
    _die_with_parent(parent_pid)
    # Fallback for a thread that already existed and does not block SIGTERM (the parent's
    # main script, re-imported by spawn, may have started numpy's threads): the main thread
    # then reports, without the sender's pid.
    signal.signal(signal.SIGTERM, _fallback_handler(rank, p, parent_pid, reason))
    # Block SIGTERM before any other thread starts (threads inherit the mask), so only the
    # watchdog receives it.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    threading.Thread(target=_watchdog, args=(rank, p, parent_pid, reason, out), daemon=True).start()
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    os.environ["GLOO_SOCKET_IFNAME"] = _loopback_interface()
    try:
        worker, args = pickle.loads(payload)
        out.put((rank, True, worker(rank, p, port, *args)))
    except BaseException:  # noqa: BLE001 - every failure must reach the caller
        out.put((rank, False, traceback.format_exc()))


def _loopback_interface() -> str:
    names = [name for _, name in socket.if_nameindex()]
    return next((n for n in ("lo", "lo0") if n in names), names[0] if names else "lo")
