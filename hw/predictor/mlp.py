"""The MLP's integer network (``model.predictor.mlp.MlpWeights.forward``), bit exact.

:class:`MlpEngine` takes eight features (0..255) and answers the start and end
offsets (signed 12 bits, in units) and the confidence bit,
``acc2[2] >= conf_threshold``. Layer 1 has 16 multipliers (8-bit feature x
int8 weight), one per hidden unit, fed one feature per cycle; layer 2 has 6
(16-bit hidden value x int8 weight), two hidden values per output per cycle.
Each layer takes :data:`MLP_INTERVAL` cycles and the two overlap, so a new
feature vector is accepted every 8 cycles; the answer follows the input
handshake by :data:`MLP_LATENCY` cycles. Accumulators are 34 bits, wide enough
for any int32 bias plus the products, so nothing wraps or saturates except
where the model does: hidden values at 65535 and the offsets at 12 bits.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.predictor.features import feature_layout
from model.predictor.core import weight_index
from model.predictor.mlp import HIDDEN, HIDDEN_MAX, INPUTS, OFFSET_BITS, OUTPUTS, MlpWeights

#: cycles between two accepted feature vectors (8 features in layer 1, 8 pairs of
#: hidden values in layer 2)
MLP_INTERVAL = 8
#: registers ahead of each layer's accumulators: the operands, the products
OPERAND_STAGES = 2
#: from a layer 1 start to its sums (combinational on the accumulators)
LAYER1_LATENCY = OPERAND_STAGES + MLP_INTERVAL
#: from a layer 2 start (layer 1 sums present) to its registered answer: the
#: shift register of sums, the operands and products, the sums, the answer
LAYER2_LATENCY = 1 + OPERAND_STAGES + MLP_INTERVAL + 1
#: cycles from the input handshake to ``o.valid`` (22)
MLP_LATENCY = LAYER1_LATENCY + LAYER2_LATENCY
assert INPUTS == MLP_INTERVAL and HIDDEN == 2 * MLP_INTERVAL

ACC_BITS = 34  # int32 bias + 8 * (255 * 128) or + 16 * (65535 * 128), with room
HIDDEN_BITS = HIDDEN_MAX.bit_length()
WEIGHT_BITS = 8
BIAS_BITS = 32


def result_layout() -> data.StructLayout:
    """An answer: offsets in units (signed 12 bits) and the confidence bit."""
    return data.StructLayout({"start": signed(OFFSET_BITS), "end": signed(OFFSET_BITS),
                              "confident": unsigned(1)})


def load_layout() -> data.StructLayout:
    """A weight write: word ``index`` (``model.predictor.core.weight_index``) gets ``value``."""
    return data.StructLayout({"index": unsigned(8), "value": signed(BIAS_BITS)})


def _weight_layouts() -> dict[str, data.ArrayLayout]:
    return {
        "w1": data.ArrayLayout(data.ArrayLayout(signed(WEIGHT_BITS), HIDDEN), INPUTS),
        "w2": data.ArrayLayout(data.ArrayLayout(signed(WEIGHT_BITS), OUTPUTS), HIDDEN),
        "b1": data.ArrayLayout(signed(BIAS_BITS), HIDDEN),
        "b2": data.ArrayLayout(signed(BIAS_BITS), OUTPUTS),
    }


def _delay_line(m: Module, pulse, cycles: int, name: str):
    """Signal whose bit k-1 is ``pulse`` delayed by k cycles (k = 1..cycles)."""
    taps = Signal(cycles, name=name)
    m.d.sync += taps.eq(Cat(pulse, taps[:-1]))
    return taps


class WeightRegisters(wiring.Component):
    """The 195 weight words in flip-flops, reset to ``weights``; ``load`` writes one.

    ``w1[i][j]``, ``w2[j][k]``, ``b1[j]``, ``b2[k]`` as in ``MlpWeights``; a weight
    keeps the low 8 bits of the value written, a bias all 32. Flip-flops rather
    than ``lib.memory.Memory``: a reset restores the constructor's weights, as a
    fresh model core has them (memory contents are only set with the bitstream),
    and the 19 biases are all read in the same cycle. The w1 and w2 rows (8 rows
    of 128 and 48 bits, one row per cycle) would fit distributed RAM and save the
    8:1 read multiplexers, about 1000 LUTs, at the price of that reset behaviour.
    """

    def __init__(self, weights: MlpWeights):
        init = {"w1": [list(row) for row in weights.w1], "w2": [list(row) for row in weights.w2],
                "b1": list(weights.b1), "b2": list(weights.b2)}
        super().__init__({
            "load": In(stream.Signature(load_layout(), always_ready=True)),
            **{name: Out(layout, init=init[name]) for name, layout in _weight_layouts().items()},
        })

    def elaborate(self, platform):
        m = Module()
        index, value = self.load.payload.index, self.load.payload.value
        words = [(weight_index("w1", i, j), self.w1[i][j], WEIGHT_BITS)
                 for i in range(INPUTS) for j in range(HIDDEN)]
        words += [(weight_index("w2", j, k), self.w2[j][k], WEIGHT_BITS)
                  for j in range(HIDDEN) for k in range(OUTPUTS)]
        words += [(weight_index("b1", j), self.b1[j], BIAS_BITS) for j in range(HIDDEN)]
        words += [(weight_index("b2", k), self.b2[k], BIAS_BITS) for k in range(OUTPUTS)]
        for address, register, bits in words:
            with m.If(self.load.valid & (index == address)):
                m.d.sync += register.eq(value[:bits])
        return m


class Layer1(wiring.Component):
    """Layer 1 sums: ``sums[j] = b1[j] + sum_i x[i] * w1[i][j]`` (34-bit, exact).

    ``x`` is taken in the cycle ``start`` is high; ``sums`` is right (combinational
    on the accumulators) in the cycle ``done`` is high, :data:`LAYER1_LATENCY`
    cycles later. ``start`` at most every :data:`MLP_INTERVAL` cycles. 16
    multipliers of 8 x 8 bits, one per hidden unit, one feature per cycle.
    """

    def __init__(self):
        layouts = _weight_layouts()
        super().__init__({
            "start": In(1), "x": In(feature_layout()),
            "w1": In(layouts["w1"]), "b1": In(layouts["b1"]),
            "sums": Out(data.ArrayLayout(signed(ACC_BITS), HIDDEN)), "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        taps = _delay_line(m, self.start, LAYER1_LATENCY, "layer1_taps")
        # cycle 1 + p: feature p and its 16 weights in the operand registers
        features = Signal(feature_layout())
        step = Signal(range(INPUTS))
        weights = Signal.like(self.w1[0])
        m.d.sync += [
            features.eq(Mux(self.start, self.x.as_value(),
                            features.as_value() >> WEIGHT_BITS)),
            step.eq(Mux(self.start, 1, step + 1)),
            weights.eq(Array(row.as_value() for row in self.w1)[Mux(self.start, 0, step)]),
        ]
        # cycle 2 + p: the products; cycles 2 .. 9 accumulate, starting from the bias
        first_product = taps[OPERAND_STAGES - 1]
        for j in range(HIDDEN):
            product = Signal(signed(WEIGHT_BITS * 2 + 1), name=f"product{j}")
            acc = Signal(signed(ACC_BITS), name=f"acc{j}")
            m.d.sync += [
                product.eq(features[0] * weights[j]),
                acc.eq(Mux(first_product, self.b1[j], acc) + product),
            ]
            m.d.comb += self.sums[j].eq(acc)
        m.d.comb += self.done.eq(taps[LAYER1_LATENCY - 1])
        return m


def _activation(positive, shift):
    """``min(positive >> shift, HIDDEN_MAX)`` of a value >= 0."""
    shifted = positive >> shift
    return Mux(shifted[HIDDEN_BITS:].any(), HIDDEN_MAX, shifted[:HIDDEN_BITS])


def _saturated_offset(value):
    """``model.predictor.fixed.saturate(value, OFFSET_BITS)`` of a signed value."""
    top = value[OFFSET_BITS - 1:]
    fits = top.all() | ~top.any()
    limit = Mux(value[-1], -(1 << (OFFSET_BITS - 1)), (1 << (OFFSET_BITS - 1)) - 1)
    return Mux(fits, value[:OFFSET_BITS], limit)


class Layer2(wiring.Component):
    """The hidden values, layer 2 and the answer.

    ``hidden[j] = min(max(sums[j], 0) >> s1, 65535)``, two per cycle (two
    activation units for the 16 values), ``acc2[k] = b2[k] + sum_j hidden[j] *
    w2[j][k]``; ``result.start = saturate(acc2[0] >> s2, 12)``, ``result.end``
    likewise from ``acc2[1]``, ``result.confident = acc2[2] >= conf_threshold``.
    ``sums`` is taken in the cycle ``start`` is high; ``result`` is registered and
    valid while ``done`` is high, :data:`LAYER2_LATENCY` cycles later. ``start`` at
    most every :data:`MLP_INTERVAL` cycles; ``s1``, ``s2``, ``conf_threshold``
    steady meanwhile. 6 multipliers of 16 x 8 bits.
    """

    def __init__(self):
        layouts = _weight_layouts()
        super().__init__({
            "start": In(1), "sums": In(data.ArrayLayout(signed(ACC_BITS), HIDDEN)),
            "w2": In(layouts["w2"]), "b2": In(layouts["b2"]),
            "s1": In(5), "s2": In(5), "conf_threshold": In(signed(32)),
            "result": Out(result_layout()), "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        taps = _delay_line(m, self.start, LAYER2_LATENCY, "layer2_taps")
        # cycle 1 + c: sums 2c, 2c + 1 (after ReLU) at the head of a shift register
        positive = Signal(data.ArrayLayout(unsigned(ACC_BITS - 1), HIDDEN))
        step = Signal(range(MLP_INTERVAL))
        m.d.sync += [
            positive.eq(Mux(self.start,
                            Cat(Mux(s < 0, 0, s[:ACC_BITS - 1]) for s in self.sums),
                            positive.as_value() >> (2 * (ACC_BITS - 1)))),
            step.eq(Mux(self.start, 0, step + 1)),
        ]
        # cycle 2 + c: hidden values 2c, 2c + 1 and their weights in the operand registers
        hidden = Signal(data.ArrayLayout(unsigned(HIDDEN_BITS), 2))
        weights = Signal(data.ArrayLayout(self.w2.shape().elem_shape, 2))
        pairs = Array(Cat(self.w2[2 * c].as_value(), self.w2[2 * c + 1].as_value())
                      for c in range(MLP_INTERVAL))
        m.d.sync += [
            hidden.eq(Cat(_activation(positive[half], self.s1) for half in range(2))),
            weights.eq(pairs[step]),
        ]
        # cycle 3 + c: the products; cycles 3 .. 10 accumulate, starting from the bias
        first_product = taps[1 + OPERAND_STAGES - 1]
        accs = []
        for k in range(OUTPUTS):
            products = [Signal(signed(HIDDEN_BITS + WEIGHT_BITS + 1), name=f"product{k}_{half}")
                        for half in range(2)]
            acc = Signal(signed(ACC_BITS), name=f"acc{k}")
            m.d.sync += [product.eq(hidden[half] * weights[half][k])
                         for half, product in enumerate(products)]
            m.d.sync += acc.eq(Mux(first_product, self.b2[k], acc) + products[0] + products[1])
            accs.append(acc)
        # cycle 11: the answer from the final sums, registered
        m.d.sync += [
            self.result.start.eq(_saturated_offset(accs[0] >> self.s2)),
            self.result.end.eq(_saturated_offset(accs[1] >> self.s2)),
            self.result.confident.eq(accs[2] >= self.conf_threshold),
        ]
        m.d.comb += self.done.eq(taps[LAYER2_LATENCY - 1])
        return m


class MlpEngine(wiring.Component):
    """The network with the weight registers; ``weights`` are their reset values.

    - ``i``: features (0..255 each). ``i.ready`` is high after reset and from
      :data:`MLP_INTERVAL` cycles after a handshake until the next handshake.
    - ``o``: the answer, ``o.valid`` exactly :data:`MLP_LATENCY` cycles after the
      input handshake (no backpressure).
    - ``load``: writes weight word ``index`` (0..194, ``weight_index`` order; others
      are ignored); only while no prediction is in flight.
    - ``s1``, ``s2`` (0..31), ``conf_threshold``: held by the enclosing core,
      steady while a prediction is in flight.

    The weights live in flip-flops (:class:`WeightRegisters` says why); 22
    multipliers (16 in :class:`Layer1`, 6 in :class:`Layer2`).
    """

    def __init__(self, weights: MlpWeights):
        if not isinstance(weights, MlpWeights):
            raise TypeError(f"weights must be MlpWeights, got {type(weights).__name__}")
        self.weights = weights
        super().__init__({
            "i": In(stream.Signature(feature_layout())),
            "o": Out(stream.Signature(result_layout(), always_ready=True)),
            "load": In(stream.Signature(load_layout(), always_ready=True)),
            "s1": In(5), "s2": In(5), "conf_threshold": In(signed(32)),
        })

    def elaborate(self, platform):
        m = Module()
        registers = m.submodules.weights = WeightRegisters(self.weights)
        layer1 = m.submodules.layer1 = Layer1()
        layer2 = m.submodules.layer2 = Layer2()
        wiring.connect(m, wiring.flipped(self.load), registers.load)

        accepted = self.i.valid & self.i.ready
        cooldown = Signal(range(MLP_INTERVAL))
        with m.If(accepted):
            m.d.sync += cooldown.eq(MLP_INTERVAL - 1)
        with m.Elif(cooldown != 0):
            m.d.sync += cooldown.eq(cooldown - 1)
        m.d.comb += [
            self.i.ready.eq(cooldown == 0),
            layer1.start.eq(accepted),
            layer1.x.eq(self.i.payload),
            layer1.w1.eq(registers.w1),
            layer1.b1.eq(registers.b1),
            layer2.start.eq(layer1.done),
            layer2.sums.eq(layer1.sums),
            layer2.s1.eq(self.s1),
            layer2.w2.eq(registers.w2),
            layer2.b2.eq(registers.b2),
            layer2.s2.eq(self.s2),
            layer2.conf_threshold.eq(self.conf_threshold),
            self.o.valid.eq(layer2.done),
            self.o.payload.eq(layer2.result),
        ]
        return m
