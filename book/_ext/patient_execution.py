"""Record every widget message when the build executes a notebook, or fail loudly.

myst-nb executes notebooks with nbclient, which records the explorers' widgets from the
kernel's IOPub messages. An explorer sends a thousand or more of them in a burst, and two
things lost some on a busy two-core machine, so that a page referenced widget models it did
not contain ("widget model not found") and its explorer showed nothing:

- after a cell's reply nbclient waits only ``iopub_timeout`` (4 s) for the rest of the
  messages and then drops them: here the wait is long, and a timeout stops the build;
- ZeroMQ drops messages once a subscriber's queue holds its high-water mark (1,000 by
  default) while the build's Python process is starved of CPU: here the client's IOPub queue
  is unbounded (``RCVHWM = 0``), so ZeroMQ's own I/O thread keeps draining the kernel's.

Then every executed notebook is checked: each widget model its outputs reference (directly or
through another widget's ``IPY_MODEL_`` reference) must be in the saved widget state. If one
is missing, the notebook is executed again in a fresh kernel, up to :data:`ATTEMPTS` times,
and the build fails with the missing count rather than ship a dead explorer.

The book executes in myst-nb's "force" mode, which runs nbclient's own ``execute`` (through
jupyter-cache) and builds a plain ``nbclient.client.NotebookClient``; the "inline" mode builds
myst-nb's ``ModifiedNotebookClient``. Both are replaced, so this holds in either mode.
"""

from __future__ import annotations

import re

import nbclient.client
import zmq
from myst_nb.core.execute import inline
from nbclient.util import run_sync
from traitlets import Bool, Integer

IOPUB_TIMEOUT = 300  # seconds; a cell's output normally arrives within a second of its reply
ATTEMPTS = 3  # executions of one notebook before its missing widget state fails the build
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MODEL_REF = re.compile(r"IPY_MODEL_([0-9a-f]{32})")


class IncompleteWidgetState(RuntimeError):
    """An executed notebook references widget models whose state was not recorded."""


def missing_widget_models(nb) -> set[str]:
    """Ids of widget models that ``nb``'s outputs (or saved widgets) reference but whose
    state ``nb.metadata.widgets`` does not hold."""
    saved = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    wanted = {
        out["data"][WIDGET_VIEW]["model_id"]
        for cell in nb.get("cells", [])
        for out in cell.get("outputs", [])
        if WIDGET_VIEW in out.get("data", {})
    }
    wanted |= set(MODEL_REF.findall(repr([s.get("state") for s in saved.values()])))
    return wanted - set(saved)


class _Patient:
    """The unbounded IOPub queue and the check, for either client class (each declares the
    patience as its own traits: traitlets reads traits only from its own class hierarchy)."""

    async def async_start_new_kernel_client(self):
        make_client = self.km.client

        def client(**kwargs):
            kc = make_client(**kwargs)
            kc.context.setsockopt(zmq.RCVHWM, 0)  # default for the channels' sockets
            return kc

        self.km.client = client
        return await super().async_start_new_kernel_client()

    async def async_execute(self, reset_kc: bool = False, **kwargs):
        for attempt in range(1, ATTEMPTS + 1):
            # A fresh kernel each time: nbclient shuts its own kernel down after a run, and
            # restarts one it was handed when asked to reset.
            fresh = reset_kc or (attempt > 1 and self.km is not None)
            nb = await super().async_execute(reset_kc=fresh, **kwargs)
            missing = missing_widget_models(nb)
            if not missing:
                return nb
            self.log.warning(
                f"{len(missing)} widget models referenced but not recorded "
                f"(execution {attempt} of {ATTEMPTS}); executing the notebook again"
            )
        raise IncompleteWidgetState(
            f"{len(missing)} widget models referenced but not recorded after {ATTEMPTS} "
            "executions: the machine dropped the kernel's widget messages; the page's explorer "
            "would be dead, so the build stops (run it again on a less loaded machine)"
        )

    # nbclient binds its synchronous ``execute`` to its own coroutine; bind ours.
    execute = run_sync(async_execute)


class PatientClient(_Patient, nbclient.client.NotebookClient):
    """nbclient's client, patient and checked (myst-nb's "force" and "auto" modes)."""

    iopub_timeout = Integer(IOPUB_TIMEOUT)
    raise_on_iopub_timeout = Bool(True)


class PatientNotebookClient(_Patient, inline.ModifiedNotebookClient):
    """myst-nb's inline client with the same patience and check."""

    iopub_timeout = Integer(IOPUB_TIMEOUT)
    raise_on_iopub_timeout = Bool(True)


def setup(app):
    # nbclient's execute() and inline.py look their client class up by its module-level name
    # each time they run a notebook.
    nbclient.client.NotebookClient = PatientClient
    inline.ModifiedNotebookClient = PatientNotebookClient
    return {"version": "1.2", "parallel_read_safe": True, "parallel_write_safe": True}
