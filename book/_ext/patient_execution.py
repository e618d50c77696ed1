"""Wait for every widget message when the build executes a notebook, or fail loudly.

myst-nb executes notebooks with nbclient, which records the explorers' widgets from the
kernel's IOPub messages. After a cell's reply nbclient waits only ``iopub_timeout`` (4 s) for
the rest of those messages and then silently drops them. An explorer sends a thousand or more,
so on a busy two-core machine some were lost: the page then referenced widget models it did
not contain ("widget model not found") and the explorer showed nothing. Here the wait is long,
and a timeout stops the build instead of shipping a broken page.
"""

from __future__ import annotations

from myst_nb.core.execute import inline
from traitlets import Bool, Integer

IOPUB_TIMEOUT = 300  # seconds; a cell's output normally arrives within a second of its reply


class PatientNotebookClient(inline.ModifiedNotebookClient):
    """myst-nb's client with a long IOPub wait that raises instead of dropping messages."""

    iopub_timeout = Integer(IOPUB_TIMEOUT)
    raise_on_iopub_timeout = Bool(True)


def setup(app):
    # inline.py looks the client class up by its module-level name when it runs a notebook.
    inline.ModifiedNotebookClient = PatientNotebookClient
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
