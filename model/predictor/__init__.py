"""Prefetch policies behind one interface (:class:`~model.predictor.base.Predictor`).

:data:`BASELINES` are the policies the system simulator compares by default;
:func:`make` builds one by name.
"""

from __future__ import annotations

from model.predictor.base import BlockFaults, Predictor
from model.predictor.none import NoPrefetch
from model.predictor.oracle import FutureIndex, Oracle
from model.predictor.uvm import UvmTree
from model.predictor.window import FixedWindow

BASELINES = ("none", "uvm", "window8", "window16", "window32", "oracle")
POLICIES = BASELINES

__all__ = ["BASELINES", "POLICIES", "BlockFaults", "FutureIndex", "Predictor", "make"]


def make(name: str, *, future: FutureIndex | None = None) -> Predictor:
    """The policy called ``name`` (one of :data:`POLICIES`); ``oracle`` needs ``future``."""
    if not isinstance(name, str):
        raise TypeError(f"policy name must be a str, got {type(name).__name__}")
    if name == "none":
        return NoPrefetch()
    if name == "uvm":
        return UvmTree()
    if name in ("window8", "window16", "window32"):
        return FixedWindow(int(name.removeprefix("window")))
    if name == "oracle":
        if future is None:
            raise ValueError("the oracle policy needs the run's future index")
        return Oracle(future)
    raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICIES)}")
