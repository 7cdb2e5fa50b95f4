"""A griffe extension (see ``mkdocs.yml``): docstrings that a module sets at import time.

griffe reads the source without running it, so a docstring assigned after the class statement
(``LSTM.__doc__ = DOC_TEMPLATE.format(...)``, one template for the three layers) is invisible to
it. For each class that has no docstring in the source, this imports the module and takes the
class's runtime ``__doc__``.
"""

from __future__ import annotations

import importlib
import inspect

import griffe


class RuntimeDocstrings(griffe.Extension):
    def on_class_instance(self, *, node, cls: griffe.Class, agent, **kwargs) -> None:
        if cls.docstring is not None:
            return
        try:
            runtime = getattr(importlib.import_module(cls.module.path), cls.name)
        except Exception:  # not importable, or not a module-level class: leave it as griffe found it
            return
        doc = runtime.__dict__.get("__doc__") if isinstance(runtime, type) else None
        if doc:
            cls.docstring = griffe.Docstring(inspect.cleandoc(doc), parent=cls, parser=agent.docstring_parser,
                                             parser_options=agent.docstring_options)
