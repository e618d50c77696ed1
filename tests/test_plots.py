"""ppnotes.plots as a package: every topic module's figures are public under one name each."""

from __future__ import annotations

import importlib
import pkgutil

import ppnotes.plots as plots


def _topic_modules():
    for info in pkgutil.iter_modules(plots.__path__):
        module = importlib.import_module(f"ppnotes.plots.{info.name}")
        if hasattr(module, "__all__"):
            yield module


def test_star_import_gives_every_topic_modules_names():
    namespace: dict = {}
    exec("from ppnotes.plots import *", namespace)
    modules = list(_topic_modules())
    assert len(modules) >= 9
    for module in modules:
        missing = set(module.__all__) - set(namespace)
        assert not missing, f"{module.__name__}: {sorted(missing)} not in ppnotes.plots.__all__"


def test_no_two_topic_modules_export_the_same_name():
    # a later star import would silently replace the earlier module's function
    owner: dict = {}
    for module in _topic_modules():
        for name in module.__all__:
            assert name not in owner, f"{name} exported by {owner.get(name)} and {module.__name__}"
            owner[name] = module.__name__
            assert callable(getattr(plots, name)) or name.isupper(), name
