"""The prediction core: every policy behind one event interface, chosen at run time.

The golden model of ``hw/predictor/core.py``. The core answers fault events
(one block's faulted and resident units of one batch, the block number, the tag
of its first fault and whether the event opens a new fault batch) with a
prefetch mask, learns from feedback (a block's useful and useless prefetched
units), and is programmed by register writes (:class:`Reg`). Every policy it
runs is one of ``model.predictor``'s, so the core answers exactly what the
system simulator's policy of the same name answers.

Registers (``write(address, value)``, value a 32-bit word read as signed):

| address | register | legal values |
|---|---|---|
| 0 | POLICY: :class:`PolicyId` | a policy built into the core |
| 1 | DEADBLOCK: dead-block filter on the policy | 0, 1 (1 needs the filter built) |
| 2 | WINDOW: width of ``window`` | a power of two, 1..256 |
| 3 | DECAY_THRESHOLD: ``decay``'s threshold | 1..65536 |
| 4 | UVM_THRESHOLD | 1..100 |
| 5 | UVM_MIN_FAULTS | 1..20 |
| 6 | BANDIT_EPOCH: fault batches per epoch | 1..255 |
| 7, 8 | MLP_S1, MLP_S2: the MLP's shifts | 0..31 |
| 9 | MLP_CONF: the MLP's confidence threshold | any |
| 15 | CLEAR_ERROR | any (clears the error register) |
| 0x100 + i | MLP weight i (:func:`weight_index`) | w: -128..127, b: any |

A write to POLICY or DEADBLOCK starts the policy afresh: every table it learns
(stride table, accuracy, dead-block counters, UVM counters, bandit statistics)
is cleared. Other writes change a parameter and keep what was learned. A write
of an illegal value, to an unknown address, or selecting a policy that is not
built changes nothing and sets the error register (:class:`ErrorCode` and the
address) unless an error is already held; CLEAR_ERROR clears it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from model.checks import (
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_mask,
    check_pow2,
    check_sequence,
    check_tuple,
)
from model.predictor.bandit import EPOCH, UcbBandit
from model.predictor.base import BlockFaults, Predictor
from model.predictor.deadblock import DeadBlockFilter
from model.predictor.decay import THRESHOLD as DECAY_THRESHOLD
from model.predictor.decay import DistanceDecay
from model.predictor.mlp import (
    HIDDEN,
    INPUTS,
    OUTPUTS,
    MlpPrefetcher,
    MlpWeights,
    default_weights_path,
)
from model.predictor.none import NoPrefetch
from model.predictor.stride import ENTRIES as STRIDE_ENTRIES
from model.predictor.stride import StridePrefetcher, check_entries
from model.predictor.uvm import UvmTree
from model.predictor.window import FixedWindow
from model.uvm_tree import MIN_FAULTS_MAX, PAGE_SIZE, THRESHOLD_DEFAULT


class PolicyId(enum.IntEnum):
    """Values of the POLICY register (the order of :data:`BANDIT_ARM_IDS` is the bandit's)."""

    NONE = 0
    WINDOW = 1
    DECAY = 2
    STRIDE = 3
    UVM = 4
    MLP = 5
    BANDIT = 6


class Reg(enum.IntEnum):
    """Register addresses (module doc)."""

    POLICY = 0
    DEADBLOCK = 1
    WINDOW = 2
    DECAY_THRESHOLD = 3
    UVM_THRESHOLD = 4
    UVM_MIN_FAULTS = 5
    BANDIT_EPOCH = 6
    MLP_S1 = 7
    MLP_S2 = 8
    MLP_CONF = 9
    CLEAR_ERROR = 15


class ErrorCode(enum.IntEnum):
    """Why a register write was refused."""

    NONE = 0
    VALUE = 1  # the value is outside the register's legal range
    ADDRESS = 2  # no register at this address
    UNBUILT = 3  # the policy (or the filter) is not built into this core


#: the bandit's arms, in arm order: uvm, window16, window32, decay, stride, mlp
BANDIT_ARM_IDS = (PolicyId.UVM, PolicyId.WINDOW, PolicyId.WINDOW, PolicyId.DECAY,
                  PolicyId.STRIDE, PolicyId.MLP)
BANDIT_WINDOWS = (16, 32)
WEIGHT_BASE = 0x100
WEIGHT_COUNT = INPUTS * HIDDEN + HIDDEN * OUTPUTS + HIDDEN + OUTPUTS  # 195
ADDRESS_BITS = 9
ALL_POLICIES = tuple(PolicyId)
TAG_BITS = 8
BLOCK_BITS = 32
UVM_COUNTER_ENTRIES = 32


def weight_index(kind: str, *index: int) -> int:
    """Offset from WEIGHT_BASE of ``w1[i][j]``, ``w2[j][k]``, ``b1[j]`` or ``b2[k]``."""
    check_choice("kind", kind, ("w1", "w2", "b1", "b2"))
    shape = {"w1": (INPUTS, HIDDEN), "w2": (HIDDEN, OUTPUTS), "b1": (HIDDEN,),
             "b2": (OUTPUTS,)}[kind]
    if len(index) != len(shape):
        raise ValueError(f"index: {kind} takes {len(shape)} indices, got {len(index)}")
    for position, (i, size) in enumerate(zip(index, shape, strict=True)):
        check_int(f"index[{position}]", i, 0, size - 1)
    if kind == "w1":
        i, j = index
        return i * HIDDEN + j
    if kind == "w2":
        j, k = index
        return INPUTS * HIDDEN + j * OUTPUTS + k
    if kind == "b1":
        return INPUTS * HIDDEN + HIDDEN * OUTPUTS + index[0]
    return INPUTS * HIDDEN + HIDDEN * OUTPUTS + HIDDEN + index[0]


def weight_words(weights: MlpWeights) -> list[int]:
    """The WEIGHT_COUNT values of the weight registers, in address order."""
    check_instance("weights", weights, MlpWeights)
    words = [0] * WEIGHT_COUNT
    for i in range(INPUTS):
        for j in range(HIDDEN):
            words[weight_index("w1", i, j)] = weights.w1[i][j]
    for j in range(HIDDEN):
        for k in range(OUTPUTS):
            words[weight_index("w2", j, k)] = weights.w2[j][k]
        words[weight_index("b1", j)] = weights.b1[j]
    for k in range(OUTPUTS):
        words[weight_index("b2", k)] = weights.b2[k]
    return words


def weights_from_words(words: list[int], *, s1: int, s2: int, conf_threshold: int,
                       logit_shift: int) -> MlpWeights:
    """:class:`MlpWeights` from register values (inverse of :func:`weight_words`)."""
    words = check_sequence("words", words)
    if len(words) != WEIGHT_COUNT:
        raise ValueError(f"words must have {WEIGHT_COUNT} items, got {len(words)}")
    return MlpWeights(
        w1=tuple(tuple(words[weight_index("w1", i, j)] for j in range(HIDDEN))
                 for i in range(INPUTS)),
        b1=tuple(words[weight_index("b1", j)] for j in range(HIDDEN)),
        w2=tuple(tuple(words[weight_index("w2", j, k)] for k in range(OUTPUTS))
                 for j in range(HIDDEN)),
        b2=tuple(words[weight_index("b2", k)] for k in range(OUTPUTS)),
        s1=s1, s2=s2, conf_threshold=conf_threshold, logit_shift=logit_shift)


def _signed32(value: int) -> int:
    value &= 0xFFFF_FFFF
    return value - (1 << 32) if value >> 31 else value


@dataclass(frozen=True)
class PredictorParams:
    """Build parameters of the prediction core, shared by ``hw/predictor`` and this model.

    ``units``: units (pages or buffer lines) per block, a power of two 32..512;
    ``policies``: the :class:`PolicyId` values built in (``NONE`` always is;
    ``BANDIT`` needs all of its arms); ``deadblock``: the dead-block filter is
    built; ``stride_entries``: streams of the stride table (power of two 1..256);
    ``weights``: the MLP weights the core holds after reset (None: the shipped
    file).
    """

    units: int = 512
    policies: tuple[PolicyId, ...] = ALL_POLICIES
    deadblock: bool = True
    stride_entries: int = STRIDE_ENTRIES
    weights: MlpWeights | None = field(default=None, compare=False)

    def __post_init__(self):
        check_pow2("units", self.units, 32, 512)
        check_tuple("policies", self.policies)
        if not self.policies:
            raise ValueError("policies must hold at least one PolicyId, got ()")
        for i, policy in enumerate(self.policies):
            check_instance(f"policies[{i}]", policy, PolicyId)
        policies = tuple(sorted(set(self.policies) | {PolicyId.NONE}))
        object.__setattr__(self, "policies", policies)
        if PolicyId.BANDIT in policies:
            missing = [p.name for p in BANDIT_ARM_IDS if p not in policies]
            if missing:
                raise ValueError(f"policies: BANDIT needs its arms, missing {missing[0]}")
        check_bool("deadblock", self.deadblock)
        check_entries(self.stride_entries, "stride_entries")
        if self.weights is not None:
            check_instance("weights", self.weights, MlpWeights)

    def has(self, policy: PolicyId) -> bool:
        return check_instance("policy", policy, PolicyId) in self.policies

    @property
    def reset_weights(self) -> MlpWeights:
        return self.weights if self.weights is not None else MlpWeights.load(default_weights_path())

    @property
    def groups(self) -> int:
        """Big pages (16 units) per block."""
        return self.units // 16


@dataclass
class Registers:
    """The core's register file (reset values: the policies' defaults)."""

    policy: PolicyId = PolicyId.NONE
    deadblock: bool = False
    window: int = 16
    decay_threshold: int = DECAY_THRESHOLD
    uvm_threshold: int = THRESHOLD_DEFAULT
    uvm_min_faults: int = 1
    bandit_epoch: int = EPOCH
    s1: int = 0
    s2: int = 0
    conf_threshold: int = 0
    logit_shift: int = 0
    weights: list[int] = field(default_factory=list)
    error_code: ErrorCode = ErrorCode.NONE
    error_address: int = 0

    def __post_init__(self):
        check_instance("policy", self.policy, PolicyId)
        check_bool("deadblock", self.deadblock)
        for name, lo, hi in _RANGES.values():
            check_int(name, getattr(self, name), lo, hi)
        check_pow2("window", self.window, 1, 256)
        check_int("logit_shift", self.logit_shift, 0, 31)
        check_sequence("weights", self.weights, item=check_int)
        if self.weights and len(self.weights) != WEIGHT_COUNT:
            raise ValueError(f"weights must have 0 or {WEIGHT_COUNT} items, "
                             f"got {len(self.weights)}")
        check_instance("error_code", self.error_code, ErrorCode)
        check_int("error_address", self.error_address, 0, (1 << ADDRESS_BITS) - 1)


_RANGES = {
    Reg.WINDOW: ("window", 1, 256), Reg.DECAY_THRESHOLD: ("decay_threshold", 1, 1 << 16),
    Reg.UVM_THRESHOLD: ("uvm_threshold", 1, 100),
    Reg.UVM_MIN_FAULTS: ("uvm_min_faults", 1, MIN_FAULTS_MAX),
    Reg.BANDIT_EPOCH: ("bandit_epoch", 1, 255), Reg.MLP_S1: ("s1", 0, 31),
    Reg.MLP_S2: ("s2", 0, 31), Reg.MLP_CONF: ("conf_threshold", -(1 << 31), (1 << 31) - 1),
}


class PredictorCore:
    """Register-programmed policy host; see the module doc for the contract."""

    def __init__(self, params: PredictorParams | None = None):
        self.params = params if params is not None else PredictorParams()
        check_instance("params", self.params, PredictorParams)
        weights = self.params.reset_weights
        self.regs = Registers(s1=weights.s1, s2=weights.s2, conf_threshold=weights.conf_threshold,
                              logit_shift=weights.logit_shift, weights=weight_words(weights))
        self.batch = -1
        self.policy: Predictor = NoPrefetch()
        self._start()

    # -- registers

    def write(self, address: int, value: int) -> ErrorCode:
        """Write register ``address`` (0..2**ADDRESS_BITS - 1) with the 32-bit word
        ``value`` (-2**31..2**32 - 1, read as signed); returns the error of this write
        (NONE if taken). An illegal register value is an error code, not an exception."""
        check_int("address", address, 0, (1 << ADDRESS_BITS) - 1)
        check_int("value", value, -(1 << 31), (1 << 32) - 1)
        code = self._write(address, _signed32(value))
        if code != ErrorCode.NONE and self.regs.error_code == ErrorCode.NONE:
            self.regs.error_code, self.regs.error_address = code, address
        return code

    def _write(self, address: int, value: int) -> ErrorCode:
        regs = self.regs
        if WEIGHT_BASE <= address < WEIGHT_BASE + WEIGHT_COUNT:
            if not self.params.has(PolicyId.MLP):
                return ErrorCode.UNBUILT
            index = address - WEIGHT_BASE
            if index < INPUTS * HIDDEN + HIDDEN * OUTPUTS and not -128 <= value <= 127:
                return ErrorCode.VALUE
            regs.weights[index] = value
            self._configure()
            return ErrorCode.NONE
        if address == Reg.CLEAR_ERROR:
            regs.error_code, regs.error_address = ErrorCode.NONE, 0
            return ErrorCode.NONE
        if address == Reg.POLICY:
            if value not in set(PolicyId):
                return ErrorCode.VALUE
            if not self.params.has(PolicyId(value)):
                return ErrorCode.UNBUILT
            regs.policy = PolicyId(value)
            self._start()
            return ErrorCode.NONE
        if address == Reg.DEADBLOCK:
            if value not in (0, 1):
                return ErrorCode.VALUE
            if value and not self.params.deadblock:
                return ErrorCode.UNBUILT
            regs.deadblock = bool(value)
            self._start()
            return ErrorCode.NONE
        if address not in set(Reg):
            return ErrorCode.ADDRESS
        name, lo, hi = _RANGES[Reg(address)]
        if not lo <= value <= hi or (address == Reg.WINDOW and value & (value - 1)):
            return ErrorCode.VALUE
        setattr(regs, name, value)
        self._configure()
        return ErrorCode.NONE

    def _weights(self) -> MlpWeights:
        r = self.regs
        return weights_from_words(r.weights, s1=r.s1, s2=r.s2, conf_threshold=r.conf_threshold,
                                  logit_shift=r.logit_shift)

    def _start(self) -> None:
        """A fresh instance of the selected policy (POLICY and DEADBLOCK writes)."""
        r, p = self.regs, self.params
        entries = p.stride_entries

        def uvm():
            return UvmTree(r.uvm_threshold, r.uvm_min_faults, UVM_COUNTER_ENTRIES)

        def mlp():
            return MlpPrefetcher(self._weights(), entries)

        build = {
            PolicyId.NONE: NoPrefetch, PolicyId.WINDOW: lambda: FixedWindow(r.window),
            PolicyId.DECAY: lambda: DistanceDecay(r.decay_threshold),
            PolicyId.STRIDE: lambda: StridePrefetcher(entries), PolicyId.UVM: uvm,
            PolicyId.MLP: mlp,
            PolicyId.BANDIT: lambda: UcbBandit(
                [uvm(), FixedWindow(BANDIT_WINDOWS[0]), FixedWindow(BANDIT_WINDOWS[1]),
                 DistanceDecay(r.decay_threshold), StridePrefetcher(entries), mlp()],
                r.bandit_epoch),
        }
        policy = build[r.policy]()
        self.policy = DeadBlockFilter(policy) if r.deadblock else policy
        block_bytes = p.units * PAGE_SIZE  # the geometry, for feedback before any event
        for part in [self.policy, policy, *getattr(policy, "arms", ())]:
            if isinstance(part, DeadBlockFilter):
                part._geometry = (p.units, PAGE_SIZE)
            elif isinstance(part, MlpPrefetcher):
                part._block_bytes = block_bytes

    def _configure(self) -> None:
        """Apply the parameter registers to the running policy (its state kept)."""
        r = self.regs
        inner = self.policy.inner if isinstance(self.policy, DeadBlockFilter) else self.policy
        parts = inner.arms if isinstance(inner, UcbBandit) else [inner]
        if isinstance(inner, UcbBandit):
            inner.epoch = r.bandit_epoch
        weights = self._weights() if self.params.has(PolicyId.MLP) else None
        for part in parts:
            if isinstance(part, FixedWindow) and inner is part:
                part.width = r.window
            elif isinstance(part, DistanceDecay):
                part.threshold = r.decay_threshold
            elif isinstance(part, UvmTree):
                part.threshold, part.min_faults = r.uvm_threshold, r.uvm_min_faults
            elif isinstance(part, MlpPrefetcher):
                part.weights = weights

    # -- traffic

    def faults(self, block: int, tag: int, new_batch: bool, faulted: int,
               resident: int = 0) -> BlockFaults:
        """The policy call of one event (block coordinates of ``units`` 4 KiB units)."""
        units = self.params.units
        check_int("block", block, 0, (1 << BLOCK_BITS) - 1)
        check_int("tag", tag, 0, (1 << TAG_BITS) - 1)
        check_bool("new_batch", new_batch)
        check_mask("faulted", faulted, units)
        check_mask("resident", resident, units)
        if new_batch or self.batch < 0:
            self.batch += 1
        low = (faulted & -faulted).bit_length() - 1
        return BlockFaults(block_start=block * units * PAGE_SIZE, num_pages=units,
                           faulted=faulted, faulted_region=(low, faulted.bit_length()),
                           resident=resident, tag=tag, batch=self.batch)

    def event(self, block: int, tag: int, new_batch: bool, faulted: int,
              resident: int = 0) -> tuple[int, int]:
        """(prefetch mask, bandit arm) for one fault event; the arm is 0 unless the
        policy is the bandit."""
        call = self.faults(block, tag, new_batch, faulted, resident)
        mask = self.policy.prefetch(call) & ~faulted & ~resident
        return mask, self.arm

    def feedback(self, block: int, useful: int, useless: int) -> None:
        """A block's prefetched units used (``useful``) or evicted unused (``useless``)."""
        check_int("block", block, 0, (1 << BLOCK_BITS) - 1)
        check_mask("useful", useful, self.params.units)
        check_mask("useless", useless, self.params.units)
        if self.policy.wants_feedback:
            self.policy.feedback(block * self.params.units * PAGE_SIZE, useful, useless)

    @property
    def arm(self) -> int:
        inner = self.policy.inner if isinstance(self.policy, DeadBlockFilter) else self.policy
        return inner.current if isinstance(inner, UcbBandit) else 0

    @property
    def error(self) -> tuple[ErrorCode, int]:
        return self.regs.error_code, self.regs.error_address
