"""Training the MLP policy offline: float training with numpy, int8 quantization.

:func:`fit` trains the float network of ``model.predictor.mlp`` (inputs
feature / 256, outputs start and end offsets in units of 64 pages and a
confidence logit) on examples from :func:`labels`, deterministically from a
seed (Adam, mean squared error on the offsets of confident examples, binary
cross entropy on the confidence). :func:`quantize` turns it into
``MlpWeights``: int8 weights at power-of-two scales chosen so every rescale
is a shift, int32 biases, the confidence threshold that puts the quantized
logit above ln 4. :func:`agreement` compares the float and quantized
decisions (the prefetch masks) example by example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model.checks import (
    check_instance,
    check_int,
    check_mask,
    check_real,
    check_sequence,
)
from model.predictor.base import BlockFaults
from model.predictor.mlp import (
    HIDDEN,
    HIDDEN_MAX,
    INPUTS,
    OUTPUTS,
    MlpWeights,
    check_features,
    decide,
)

OFFSET_UNIT = 64  # the float outputs are offsets / 64
EDGE_MARGIN = 64  # targets that reach the block's edge are pushed past it by this
LN4 = math.log(4.0)
USEFUL_SHARE = 0.8


@dataclass
class Example:
    """One policy call: its features, the batch, and what the future used."""

    features: list[int]
    faults: BlockFaults
    future: int

    def __post_init__(self):
        check_features(self.features)
        check_instance("faults", self.faults, BlockFaults)
        check_mask("future", self.future, self.faults.num_pages)


def labels(example: Example) -> tuple[float, float, float]:
    """(start, end, confident) targets: the span of the units the future uses that are
    neither faulted nor resident, relative to the faulted span; confident when at
    least 80 % of the span's new units get used (an empty future: confident, empty)."""
    check_instance("example", example, Example)
    f = example.faults
    n = f.num_pages
    low = (f.faulted & -f.faulted).bit_length() - 1
    high = f.faulted.bit_length() - 1
    wanted = example.future & ~f.faulted & ~f.resident
    if not wanted:
        return 0.0, float(low - high - 1), 1.0
    lo = (wanted & -wanted).bit_length() - 1
    hi = wanted.bit_length()
    span = ((1 << (hi - lo)) - 1) << lo
    new = span & ~f.faulted & ~f.resident
    share = wanted.bit_count() / max(1, new.bit_count())
    start, end = lo - low, hi - (high + 1)
    if lo == 0:
        start -= EDGE_MARGIN
    if hi == n:
        end += EDGE_MARGIN
    return float(start), float(end), 1.0 if share >= USEFUL_SHARE else 0.0


@dataclass
class FloatMlp:
    """The float network: ``w1`` INPUTS x HIDDEN, ``b1`` HIDDEN, ``w2`` HIDDEN x OUTPUTS,
    ``b2`` OUTPUTS (numpy arrays of those shapes)."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    def __post_init__(self):
        for name, shape in (("w1", (INPUTS, HIDDEN)), ("b1", (HIDDEN,)),
                            ("w2", (HIDDEN, OUTPUTS)), ("b2", (OUTPUTS,))):
            value = check_instance(name, getattr(self, name), np.ndarray)
            if value.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {value.shape}")

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """Float outputs for integer features x (rows of 8)."""
        check_instance("x", x, np.ndarray)
        if x.ndim != 2 or x.shape[1] != INPUTS:
            raise ValueError(f"x must have shape (rows, {INPUTS}), got {x.shape}")
        hidden = np.maximum(x / 256.0 @ self.w1 + self.b1, 0.0)
        return hidden @ self.w2 + self.b2

    def answer(self, features: list[int]) -> tuple[int, int, bool]:
        """(start, end, confident) as the float network decides."""
        check_features(features)
        out = self.outputs(np.array([features], dtype=np.float64))[0]
        return (math.floor(out[0] * OFFSET_UNIT), math.floor(out[1] * OFFSET_UNIT),
                bool(out[2] > LN4))


def _check_examples(examples, min_len: int = 0) -> None:
    check_sequence("examples", examples, min_len=min_len,
                   item=lambda name, e: check_instance(name, e, Example))


def _grid(values: np.ndarray, exponent: int, limit: int = 127) -> np.ndarray:
    """``values`` snapped to the int8 grid of step 2**-exponent."""
    return np.clip(np.round(values * 2.0**exponent), -limit - 1, limit) / 2.0**exponent


def fit(examples: list[Example], *, seed: int = 1, epochs: int = 200, snapped_epochs: int = 60,
        batch: int = 256, rate: float = 3e-3) -> FloatMlp:
    """Train the float network on the examples (deterministic from ``seed``).

    After ``epochs`` epochs of plain training, ``snapped_epochs`` more run with the
    weights snapped to the int8 grids they will be quantized to (the gradient passes
    the rounding unchanged), and the network returned has its weights on those grids:
    the int8 network then differs from it only by rounding activations.
    """
    _check_examples(examples, min_len=1)
    check_int("seed", seed, 0)
    check_int("epochs", epochs, 0)
    check_int("snapped_epochs", snapped_epochs, 0)
    check_int("batch", batch, 1)
    check_real("rate", rate, 0, lo_open=True)
    rng = np.random.default_rng(seed)
    x = np.array([e.features for e in examples], dtype=np.float64) / 256.0
    y = np.array([labels(e) for e in examples], dtype=np.float64)
    y[:, :2] /= OFFSET_UNIT
    params = {
        "w1": rng.normal(0, math.sqrt(2 / INPUTS), (INPUTS, HIDDEN)),
        "b1": np.zeros(HIDDEN),
        "w2": rng.normal(0, math.sqrt(1 / HIDDEN), (HIDDEN, OUTPUTS)),
        "b2": np.zeros(OUTPUTS),
    }
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    step = 0
    exponents = None
    for epoch in range(epochs + snapped_epochs):
        if epoch == epochs:
            exponents = (_exponent(params["w1"]), _exponent(params["w2"]))
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            xb, yb = x[idx], y[idx]
            w1, w2 = params["w1"], params["w2"]
            if exponents is not None:
                w1, w2 = _grid(w1, exponents[0]), _grid(w2, exponents[1])
            pre = xb @ w1 + params["b1"]
            hidden = np.maximum(pre, 0.0)
            out = hidden @ w2 + params["b2"]
            grad_out = np.zeros_like(out)
            confident = yb[:, 2:3]
            grad_out[:, :2] = 2 * (out[:, :2] - yb[:, :2]) * confident / len(xb)
            grad_out[:, 2] = (1 / (1 + np.exp(-out[:, 2])) - yb[:, 2]) / len(xb)
            grads = {"w2": hidden.T @ grad_out, "b2": grad_out.sum(0)}
            grad_hidden = grad_out @ w2.T * (pre > 0)
            grads["w1"] = xb.T @ grad_hidden
            grads["b1"] = grad_hidden.sum(0)
            step += 1
            for key, grad in grads.items():
                m, v = moments[key]
                m[...] = 0.9 * m + 0.1 * grad
                v[...] = 0.999 * v + 0.001 * grad * grad
                params[key] -= rate * (m / (1 - 0.9 ** step)) / (
                    np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
    if exponents is not None:
        params["w1"] = _grid(params["w1"], exponents[0])
        params["w2"] = _grid(params["w2"], exponents[1])
    return FloatMlp(**params)


def _exponent(values: np.ndarray, limit: int = 127) -> int:
    """Largest e with max|values| * 2**e <= limit."""
    top = float(np.abs(values).max())
    return 24 if top == 0 else math.floor(math.log2(limit / top))


def quantize(model: FloatMlp, examples: list[Example], meta: dict | None = None) -> MlpWeights:
    """int8 weights at power-of-two scales (module doc); ``examples`` size the hidden
    shift so the hidden layer of the training data fits its 16 bits."""
    check_instance("model", model, FloatMlp)
    _check_examples(examples, min_len=1)
    if meta is not None:
        check_instance("meta", meta, dict)
    a = _exponent(model.w1)
    w1 = np.clip(np.round(model.w1 * 2.0**a), -128, 127).astype(int)
    b1 = np.round(model.b1 * 256 * 2.0**a).astype(int)
    x = np.array([e.features for e in examples], dtype=np.int64)
    acc1 = np.maximum(x @ w1 + b1, 0)
    s1 = max(0, math.ceil(math.log2(max(1, int(acc1.max())) / HIDDEN_MAX)))
    c = _exponent(model.w2)
    scale = 8 + a - s1 + c
    b2 = np.round(model.b2 * 2.0 ** (8 + a - s1 + c)).astype(int)
    w2 = np.clip(np.round(model.w2 * 2.0**c), -128, 127).astype(int)
    s2 = scale - int(math.log2(OFFSET_UNIT))
    if s2 < 0 or scale > 31:
        raise ValueError(f"quantization scales out of range (s2 {s2}, logit shift {scale})")
    threshold = math.floor(LN4 * 2.0**scale) + 1
    return MlpWeights(w1=tuple(tuple(int(v) for v in row) for row in w1),
                      b1=tuple(int(v) for v in b1),
                      w2=tuple(tuple(int(v) for v in row) for row in w2),
                      b2=tuple(int(v) for v in b2), s1=s1, s2=s2, conf_threshold=threshold,
                      logit_shift=scale, meta=dict(meta or {}))


def agreement(model: FloatMlp, weights: MlpWeights, examples: list[Example]) -> dict:
    """How often the quantized network takes the float network's decision: the same gate
    and, when confident, the same prefetch mask."""
    check_instance("model", model, FloatMlp)
    check_instance("weights", weights, MlpWeights)
    _check_examples(examples)
    same_gate = same_mask = 0
    for e in examples:
        fs, fe, fc = model.answer(e.features)
        qs, qe, logit, _ = weights.forward(e.features)
        qc = logit >= weights.conf_threshold
        same_gate += fc == qc
        same_mask += decide(e.faults, fs, fe, fc) == decide(e.faults, qs, qe, qc)
    n = max(1, len(examples))
    return {"examples": len(examples), "gate": same_gate / n, "decision": same_mask / n}
