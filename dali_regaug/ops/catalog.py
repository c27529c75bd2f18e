"""Every operator's declaration, collected from the modules of :mod:`dali_regaug.ops` (each
module lists its own in ``OPERATORS``): adding an operator touches only its own module."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import pkgutil

from dali_regaug import ops as ops_pkg
from dali_regaug.declare import Operator


@functools.lru_cache(maxsize=None)
def operators() -> dict[str, Operator]:
    """``{name: declaration}`` of every operator, in name order."""
    found = {}
    for info in pkgutil.iter_modules(ops_pkg.__path__):
        module = importlib.import_module(f"{ops_pkg.__name__}.{info.name}")
        for op in getattr(module, "OPERATORS", ()):
            if op.name in found:
                raise TypeError(f"operator {op.name} is declared twice "
                                f"({found[op.name].module} and {module.__name__})")
            found[op.name] = dataclasses.replace(op, module=op.module or module.__name__)
    return dict(sorted(found.items()))


@functools.lru_cache(maxsize=None)
def aliases() -> dict[str, str]:
    """``{alias: name}`` of the spec's other names."""
    return {a: op.name for op in operators().values() for a in op.aliases}


def get(name: str) -> Operator:
    """The declaration of ``name`` (or an alias); an unknown name lists the known ones."""
    key = str(name).lower()
    key = aliases().get(key, key)
    table = operators()
    if key not in table:
        raise ValueError(f"unknown operator {name!r}; expected one of {', '.join(table)} (or "
                         f"{', '.join(aliases())}); see dali-regaug ops")
    return table[key]
