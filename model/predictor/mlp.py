"""``mlp``: an int8 multilayer perceptron, 8 features -> 16 hidden (ReLU) -> 3 outputs.

**Features** (each an integer 0..255 from the fault batch and two small tables;
the network reads feature / 256):

| # | feature | scaling |
|---|---|---|
| 0 | faulted units in the batch | count * 256 // units, at most 255 |
| 1 | resident units of the block | count * 256 // units, at most 255 |
| 2 | first faulted unit | unit * 256 // units |
| 3 | last faulted unit | unit * 256 // units |
| 4 | density of the faulted span | faulted * 255 // (last - first + 1) |
| 5 | resident units just below the first fault (a run) | run * 256 // units, at most 255 |
| 6 | stride confidence of the stream (``stride``'s rules, own table) | confidence * 2 (0..200) |
| 7 | accuracy of the block's earlier prefetches | 255 * useful // (useful + useless); 128 unknown |

**Arithmetic** (``MlpWeights``): ``acc1[j] = b1[j] + sum_i x[i] * w1[i][j]``
(int8 weights, int32 bias and accumulator); ``h[j] = min(max(acc1[j], 0) >> s1,
65535)`` (ReLU, shift rounding down, saturation to 16 bits); ``acc2[k] = b2[k] +
sum_j h[j] * w2[j][k]``. Outputs: start offset ``saturate(acc2[0] >> s2, 12
bits)`` and end offset ``saturate(acc2[1] >> s2, 12 bits)`` in units,
confident when ``acc2[2] >= conf_threshold``. The threshold is the smallest
integer whose logit ``acc2[2] / 2**logit_shift`` exceeds ln 4, so a confident
answer has sigmoid(logit) > 0.8, the seed's gate, with no sigmoid in hardware.

**Decision**: when confident, units ``[first + start, last + 1 + end)`` of the
block (clamped; possibly empty); otherwise the 16-unit window around each
faulted unit. State: the weights (8x16 + 16x3 int8, 19 int32 biases: 252 B),
the stride table of ``stride`` (352 B) and 64 accuracy counter pairs (128 B).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from model.checks import (
    check_bool,
    check_instance,
    check_int,
    check_sequence,
    check_tuple,
)
from model.predictor.base import BlockFaults, Predictor, check_feedback
from model.predictor.fixed import saturate
from model.predictor.stride import ENTRIES, ENTRY_BYTES, StrideEntry, _update, check_entries
from model.predictor.window import window_mask

INPUTS, HIDDEN, OUTPUTS = 8, 16, 3
HIDDEN_MAX = (1 << 16) - 1  # hidden activations saturate to 16 bits
FEATURES = ("faulted", "resident", "first", "last", "span_density", "resident_run",
            "stride_confidence", "accuracy")
ACCURACY_ENTRIES = 64
OFFSET_BITS = 12
FORMAT = "dmaprefetch-mlp"
VERSION = 1


@dataclass(frozen=True)
class MlpWeights:
    """Quantized weights and the shifts of the integer arithmetic (module doc)."""

    w1: tuple[tuple[int, ...], ...]
    b1: tuple[int, ...]
    w2: tuple[tuple[int, ...], ...]
    b2: tuple[int, ...]
    s1: int
    s2: int
    conf_threshold: int
    logit_shift: int
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        def row(name, values, width, lo, hi):
            check_tuple(name, values, width)
            for i, v in enumerate(values):
                check_int(f"{name}[{i}]", v, lo, hi)

        def matrix(name, rows, height, width, lo, hi):
            check_tuple(name, rows, height)
            for i, r in enumerate(rows):
                row(f"{name}[{i}]", r, width, lo, hi)

        matrix("w1", self.w1, INPUTS, HIDDEN, -128, 127)
        matrix("w2", self.w2, HIDDEN, OUTPUTS, -128, 127)
        row("b1", self.b1, HIDDEN, -(1 << 31), (1 << 31) - 1)
        row("b2", self.b2, OUTPUTS, -(1 << 31), (1 << 31) - 1)
        for name in ("s1", "s2", "logit_shift"):
            check_int(name, getattr(self, name), 0, 31)
        check_int("conf_threshold", self.conf_threshold, -(1 << 31), (1 << 31) - 1)
        check_instance("meta", self.meta, dict)

    @property
    def state_bytes(self) -> int:
        return INPUTS * HIDDEN + HIDDEN * OUTPUTS + 4 * (HIDDEN + OUTPUTS)

    def forward(self, x: list[int]) -> tuple[int, int, int, list[int]]:
        """(start offset, end offset, confidence logit acc2[2], hidden) for features x
        (INPUTS ints 0..255)."""
        check_features(x, "x")
        hidden = []
        for j in range(HIDDEN):
            acc = self.b1[j] + sum(x[i] * self.w1[i][j] for i in range(INPUTS))
            hidden.append(min(max(acc, 0) >> self.s1, HIDDEN_MAX))
        out = [self.b2[k] + sum(hidden[j] * self.w2[j][k] for j in range(HIDDEN))
               for k in range(OUTPUTS)]
        start = saturate(out[0] >> self.s2, OFFSET_BITS)
        end = saturate(out[1] >> self.s2, OFFSET_BITS)
        return start, end, out[2], hidden

    def save(self, path: str | Path) -> None:
        check_instance("path", path, (str, Path))
        document = {"format": FORMAT, "version": VERSION, "features": list(FEATURES),
                    **{k: v for k, v in asdict(self).items() if k != "meta"},
                    "meta": self.meta}
        Path(path).write_text(json.dumps(document, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> MlpWeights:
        """Weights from a file written by :meth:`save`: TypeError when ``path`` is not a
        str or Path, ValueError naming the problem of the file."""
        path = Path(check_instance("path", path, (str, Path)))
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable weights file ({exc})") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError(f"{path}: not a {FORMAT} weights file")
        if document.get("version") != VERSION or document.get("features") != list(FEATURES):
            raise ValueError(f"{path}: version {document.get('version')} or features differ "
                             f"from this model's ({VERSION}, {', '.join(FEATURES)})")
        try:
            return cls(w1=tuple(tuple(r) for r in document["w1"]), b1=tuple(document["b1"]),
                       w2=tuple(tuple(r) for r in document["w2"]), b2=tuple(document["b2"]),
                       s1=document["s1"], s2=document["s2"],
                       conf_threshold=document["conf_threshold"],
                       logit_shift=document["logit_shift"], meta=document.get("meta", {}))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: missing or malformed field {exc}") from None


def check_features(x, name: str = "features") -> list[int]:
    """``x`` if it is a list or tuple of INPUTS feature ints 0..255; TypeError / ValueError
    naming the argument ``name``."""
    x = check_sequence(name, x, item=lambda n, v: check_int(n, v, 0, 255))
    if len(x) != INPUTS:
        raise ValueError(f"{name} must have {INPUTS} items, got {len(x)}")
    return x


def default_weights_path() -> Path:
    """The weights shipped with the project (``python -m sim train`` writes them)."""
    return Path(__file__).with_name("mlp_weights.json")


class FeatureState:
    """The two tables the features read: a stride table (``stride_entries`` streams)
    and per-block accuracy."""

    def __init__(self, stride_entries: int = ENTRIES):
        entries = check_entries(stride_entries, "stride_entries")
        self.stride = [StrideEntry() for _ in range(entries)]
        self.useful = [0] * ACCURACY_ENTRIES
        self.useless = [0] * ACCURACY_ENTRIES

    def features(self, faults: BlockFaults) -> list[int]:
        check_instance("faults", faults, BlockFaults)
        n = faults.num_pages
        faulted = faults.faulted.bit_count()
        low = (faults.faulted & -faults.faulted).bit_length() - 1
        high = faults.faulted.bit_length() - 1
        run = 0
        while run < low and faults.resident >> (low - 1 - run) & 1:
            run += 1
        block = faults.block_start // (n * faults.unit_bytes)
        key = (block << 8) | faults.tag
        entry = self.stride[key % len(self.stride)]
        mask = faults.faulted
        while mask:
            bit = mask & -mask
            _update(entry, key, bit.bit_length() - 1)
            mask ^= bit
        index = block % ACCURACY_ENTRIES
        seen = self.useful[index] + self.useless[index]
        accuracy = 255 * self.useful[index] // seen if seen else 128
        return [min(255, faulted * 256 // n), min(255, faults.resident.bit_count() * 256 // n),
                low * 256 // n, high * 256 // n, faulted * 255 // (high - low + 1),
                min(255, run * 256 // n), 2 * entry.confidence, accuracy]

    def feedback(self, block_start: int, useful: int, useless: int, block_bytes: int) -> None:
        check_feedback(block_start, useful, useless)
        check_int("block_bytes", block_bytes, 1)
        index = block_start // block_bytes % ACCURACY_ENTRIES
        for table, count in ((self.useful, useful.bit_count()),
                             (self.useless, useless.bit_count())):
            table[index] += count
        while self.useful[index] > 255 or self.useless[index] > 255:
            self.useful[index] >>= 1
            self.useless[index] >>= 1

    @property
    def state_bytes(self) -> int:
        return len(self.stride) * ENTRY_BYTES + 2 * ACCURACY_ENTRIES


def decide(faults: BlockFaults, start: int, end: int, confident: bool) -> int:
    """The prefetch mask of an MLP answer (module doc)."""
    check_instance("faults", faults, BlockFaults)
    check_int("start", start)
    check_int("end", end)
    check_bool("confident", confident)
    n = faults.num_pages
    if not confident:
        mask = window_mask(faults.faulted, 16, n)
    else:
        low = (faults.faulted & -faults.faulted).bit_length() - 1
        high = faults.faulted.bit_length() - 1
        lo, hi = max(0, low + start), min(n, high + 1 + end)
        mask = ((1 << (hi - lo)) - 1) << lo if lo < hi else 0
    return mask & ~faults.faulted & ~faults.resident


class MlpPrefetcher(Predictor):
    name = "mlp"
    wants_feedback = True

    def __init__(self, weights: MlpWeights | None = None, stride_entries: int = ENTRIES):
        if weights is None:
            weights = MlpWeights.load(default_weights_path())
        check_instance("weights", weights, MlpWeights)
        self.weights = weights
        self.state = FeatureState(stride_entries)
        self._block_bytes = 512 * 4096
        self.decisions: list[tuple[list[int], int, int, bool]] | None = None

    def record_decisions(self) -> None:
        """Keep (features, start, end, confident) of every call (for the RTL check)."""
        self.decisions = []

    def prefetch(self, faults: BlockFaults) -> int:
        check_instance("faults", faults, BlockFaults)
        self._block_bytes = faults.num_pages * faults.unit_bytes
        x = self.state.features(faults)
        start, end, logit, _ = self.weights.forward(x)
        confident = logit >= self.weights.conf_threshold
        if self.decisions is not None:
            self.decisions.append((x, start, end, confident))
        return decide(faults, start, end, confident)

    def feedback(self, block_start: int, useful: int, useless: int) -> None:
        check_feedback(block_start, useful, useless)
        self.state.feedback(block_start, useful, useless, self._block_bytes)

    @property
    def state_bytes(self) -> int:
        return self.weights.state_bytes + self.state.state_bytes
