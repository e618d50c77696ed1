"""ppnotes: the tested models behind the book *Pipeline depth and LLM performance*.

One module per chapter topic (``partition``, ``bubble``/``schedules``, ``comm``, ``memory``,
...) plus shared parts (``hardware``, ``models``, ``plots``, ``widgets``, ``quiz``, ``glue``).
"""

__version__ = "0.1.0"
