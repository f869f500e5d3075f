"""ConfigRegisters: the prediction core's register file, with its legality checks.

``write``: one register write per valid cycle (``model.predictor.core`` gives
the addresses, legal values and the error rules: an illegal write changes
nothing and sets the sticky error unless one is held). A write is registered,
checked in the next cycle and applied in the one after (:data:`CONFIG_STAGES`
cycles with ``busy`` high, while the core holds its traffic back).
``values``: the registers (the window as log2 of its width); ``restart``: a
POLICY or DEADBLOCK write is being applied (with ``busy``); ``clear``:
``restart`` one cycle later (every table restarts); ``weight``: MLP weight
writes passed on to the MLP engine; ``error``: code and address.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.predictor.layouts import config_layout, error_layout
from hw.predictor.masks import WINDOW_LOG2_MAX
from model.predictor.core import (
    WEIGHT_BASE,
    WEIGHT_COUNT,
    ErrorCode,
    PolicyId,
    PredictorParams,
    Reg,
    Registers,
)
from model.predictor.mlp import HIDDEN, INPUTS, OUTPUTS
from model.uvm_tree import MIN_FAULTS_MAX

INT8_WEIGHTS = INPUTS * HIDDEN + HIDDEN * OUTPUTS  # weight words below this are int8
#: cycles after a write's handshake with ``busy`` high: registered, then checked
CONFIG_STAGES = 2


def values_layout() -> data.StructLayout:
    return data.StructLayout({
        "policy": unsigned(3), "deadblock": unsigned(1),
        "window_log2": unsigned(4),
        "decay_threshold": unsigned(17), "uvm_threshold": unsigned(7),
        "uvm_min_faults": unsigned(5), "bandit_epoch": unsigned(8),
        "s1": unsigned(5), "s2": unsigned(5), "conf_threshold": signed(32),
    })


def weight_write_layout() -> data.StructLayout:
    return data.StructLayout({"index": unsigned(8), "value": signed(32)})


class ConfigRegisters(wiring.Component):
    """See the module doc."""

    def __init__(self, params: PredictorParams):
        self.params = params
        weights = params.reset_weights
        reset = Registers()
        self._init = {
            "policy": int(reset.policy), "deadblock": int(reset.deadblock),
            "window_log2": reset.window.bit_length() - 1,
            "decay_threshold": reset.decay_threshold, "uvm_threshold": reset.uvm_threshold,
            "uvm_min_faults": reset.uvm_min_faults, "bandit_epoch": reset.bandit_epoch,
            "s1": weights.s1, "s2": weights.s2, "conf_threshold": weights.conf_threshold,
        }
        super().__init__({
            "write": In(stream.Signature(config_layout(), always_ready=True)),
            "values": Out(values_layout(), init=self._init),
            "busy": Out(1),
            "restart": Out(1),
            "clear": Out(1),
            "weight": Out(stream.Signature(weight_write_layout(), always_ready=True)),
            "error": Out(error_layout()),
        })

    def elaborate(self, platform):
        m = Module()
        pending = Signal(config_layout())  # the write, registered: checked this cycle
        pending_valid = Signal()
        m.d.sync += [pending_valid.eq(self.write.valid), pending.eq(self.write.payload)]
        checked = Signal(config_layout())  # the write and its code: applied this cycle
        valid = Signal()
        code = Signal(2)
        m.d.sync += [valid.eq(pending_valid), checked.eq(pending)]
        m.d.comb += self.busy.eq(pending_valid | valid)
        m.d.sync += code.eq(self._check(m, pending))
        address, value = checked.address, checked.value
        in_weights = (address >= WEIGHT_BASE) & (address < WEIGHT_BASE + WEIGHT_COUNT)
        index = Signal(8)
        m.d.comb += index.eq(address - WEIGHT_BASE)
        taken = valid & (code == ErrorCode.NONE)
        values = self.values
        fields = {Reg.POLICY: values.policy, Reg.DEADBLOCK: values.deadblock,
                  Reg.DECAY_THRESHOLD: values.decay_threshold,
                  Reg.UVM_THRESHOLD: values.uvm_threshold,
                  Reg.UVM_MIN_FAULTS: values.uvm_min_faults,
                  Reg.BANDIT_EPOCH: values.bandit_epoch, Reg.MLP_S1: values.s1,
                  Reg.MLP_S2: values.s2, Reg.MLP_CONF: values.conf_threshold}
        m.d.comb += self.restart.eq(taken & ((address == Reg.POLICY) | (address == Reg.DEADBLOCK)))
        m.d.sync += self.clear.eq(self.restart)
        with m.If(taken):
            with m.Switch(address):
                for reg, field in fields.items():
                    with m.Case(reg):
                        m.d.sync += field.eq(value)
                with m.Case(Reg.WINDOW):
                    for log2 in range(WINDOW_LOG2_MAX + 1):
                        with m.If(value == 1 << log2):
                            m.d.sync += values.window_log2.eq(log2)
                with m.Case(Reg.CLEAR_ERROR):
                    m.d.sync += [self.error.code.eq(ErrorCode.NONE), self.error.address.eq(0)]
        with m.If(valid & (code != ErrorCode.NONE)
                  & (self.error.code == ErrorCode.NONE)):
            m.d.sync += [self.error.code.eq(code), self.error.address.eq(address)]
        m.d.comb += [
            self.weight.valid.eq(taken & in_weights),
            self.weight.payload.index.eq(index), self.weight.payload.value.eq(value),
        ]
        return m

    def _check(self, m, write) -> Signal:
        """The ``ErrorCode`` of ``write`` (NONE: legal)."""
        params = self.params
        code = Signal(2)
        address, value = write.address, write.value
        in_weights = (address >= WEIGHT_BASE) & (address < WEIGHT_BASE + WEIGHT_COUNT)
        index = Signal(8)
        m.d.comb += index.eq(address - WEIGHT_BASE)
        built = Const(0, 1)
        for policy in params.policies:
            built = built | (value == policy)

        def within(lo, hi):
            return (value >= lo) & (value <= hi)

        power_of_two = Const(0, 1)
        for log2 in range(WINDOW_LOG2_MAX + 1):
            power_of_two = power_of_two | (value == 1 << log2)
        checks = {  # register -> (legal, error when not legal)
            Reg.POLICY: Mux(~within(0, max(PolicyId)), ErrorCode.VALUE,
                            Mux(built, ErrorCode.NONE, ErrorCode.UNBUILT)),
            Reg.DEADBLOCK: Mux(~within(0, 1), ErrorCode.VALUE,
                               Mux((value == 1) & (not params.deadblock), ErrorCode.UNBUILT,
                                   ErrorCode.NONE)),
            Reg.WINDOW: Mux(power_of_two, ErrorCode.NONE, ErrorCode.VALUE),
            Reg.DECAY_THRESHOLD: Mux(within(1, 1 << 16), ErrorCode.NONE, ErrorCode.VALUE),
            Reg.UVM_THRESHOLD: Mux(within(1, 100), ErrorCode.NONE, ErrorCode.VALUE),
            Reg.UVM_MIN_FAULTS: Mux(within(1, MIN_FAULTS_MAX), ErrorCode.NONE, ErrorCode.VALUE),
            Reg.BANDIT_EPOCH: Mux(within(1, 255), ErrorCode.NONE, ErrorCode.VALUE),
            Reg.MLP_S1: Mux(within(0, 31), ErrorCode.NONE, ErrorCode.VALUE),
            Reg.MLP_S2: Mux(within(0, 31), ErrorCode.NONE, ErrorCode.VALUE),
            Reg.MLP_CONF: ErrorCode.NONE, Reg.CLEAR_ERROR: ErrorCode.NONE,
        }
        has_mlp = params.has(PolicyId.MLP)
        with m.If(in_weights):
            if has_mlp:
                m.d.comb += code.eq(Mux((index < INT8_WEIGHTS) & ~within(-128, 127),
                                        ErrorCode.VALUE, ErrorCode.NONE))
            else:
                m.d.comb += code.eq(ErrorCode.UNBUILT)
        with m.Else():
            with m.Switch(address):
                for reg, check in checks.items():
                    with m.Case(reg):
                        m.d.comb += code.eq(check)
                with m.Default():
                    m.d.comb += code.eq(ErrorCode.ADDRESS)
        return code
