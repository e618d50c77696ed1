"""Wait for every widget message when the build executes a notebook, or fail loudly.

myst-nb executes notebooks with nbclient, which records the explorers' widgets from the
kernel's IOPub messages. After a cell's reply nbclient waits only ``iopub_timeout`` (4 s) for
the rest of those messages and then silently drops them. An explorer sends a thousand or more,
so on a busy two-core machine some were lost: the page then referenced widget models it did
not contain ("widget model not found") and the explorer showed nothing. Here the wait is long,
and a timeout stops the build instead of shipping a broken page.

The book executes in myst-nb's "force" mode, which runs nbclient's own ``execute`` (through
jupyter-cache) and builds a plain ``nbclient.client.NotebookClient``; the "inline" mode builds
myst-nb's ``ModifiedNotebookClient``. Both are replaced, so the patience holds in either mode.
"""

from __future__ import annotations

import nbclient.client
from myst_nb.core.execute import inline
from traitlets import Bool, Integer

IOPUB_TIMEOUT = 300  # seconds; a cell's output normally arrives within a second of its reply


class PatientClient(nbclient.client.NotebookClient):
    """nbclient's client with a long IOPub wait that raises instead of dropping messages
    (used by myst-nb's "force" and "auto" modes)."""

    iopub_timeout = Integer(IOPUB_TIMEOUT)
    raise_on_iopub_timeout = Bool(True)


class PatientNotebookClient(inline.ModifiedNotebookClient):
    """myst-nb's inline client with the same patience."""

    iopub_timeout = Integer(IOPUB_TIMEOUT)
    raise_on_iopub_timeout = Bool(True)


def setup(app):
    # nbclient's execute() and inline.py look their client class up by its module-level name
    # each time they run a notebook.
    nbclient.client.NotebookClient = PatientClient
    inline.ModifiedNotebookClient = PatientNotebookClient
    return {"version": "1.1", "parallel_read_safe": True, "parallel_write_safe": True}
