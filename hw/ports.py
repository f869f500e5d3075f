"""The ports of a component as a netlist sees them.

A stream with ``always_ready`` (``amaranth.lib.stream``) has a constant ``ready``,
which is part of the signature but not a port; these helpers leave such constants out.
"""

from __future__ import annotations

from amaranth.hdl import Const, Value
from amaranth.hdl._ir import PortDirection
from amaranth.lib import wiring

__all__ = ["port_map", "port_values"]


def port_values(component: wiring.Component):
    """``(name, flow, value)`` of every non-constant port (``name`` joined with ``__``,
    ``value`` a ``Value``)."""
    for path, member, value in component.signature.flatten(component):
        value = Value.cast(value)
        if isinstance(value, Const):
            continue
        yield "__".join(map(str, path)), member.flow, value


def port_map(component: wiring.Component) -> dict:
    """The ``ports=`` argument of ``amaranth.back.verilog.convert`` for ``component``."""
    return {
        name: (value, PortDirection.Input if flow == wiring.In else PortDirection.Output)
        for name, flow, value in port_values(component)
    }
