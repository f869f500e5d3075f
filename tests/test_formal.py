"""The formal runner (``python -m formal``): arguments, and one proof with its mutant.

The full set of proofs runs under ``make formal`` (CI); here the quickest proof runs
end to end, on the real engine (must pass) and with its injected bug (must fail).
"""

from __future__ import annotations

import dataclasses

import pytest

from formal.__main__ import PROOFS, main
from formal.mutants import MUTANTS
from formal.run import Proof, missing_tools, prove
from formal.uvm_tree import MaskStaysInBlock


def test_tools_are_installed():
    assert missing_tools() == [], "make setup installs the formal extra"


def test_every_mutant_names_a_proof():
    names = {proof.name for proof in PROOFS}
    assert len(names) == len(PROOFS)
    for mutant in MUTANTS:
        assert mutant.proof in names, mutant.name
    assert names <= {mutant.proof for mutant in MUTANTS}, "a proof without an injected bug"


def test_proof_arguments_are_checked():
    with pytest.raises(ValueError, match="depth"):
        Proof("p", MaskStaysInBlock, depth=1, why_depth="", claim="")
    with pytest.raises(TypeError, match="name"):
        Proof(3, MaskStaysInBlock, depth=4, why_depth="", claim="")
    with pytest.raises(ValueError, match="solver"):
        Proof("p", MaskStaysInBlock, depth=4, why_depth="", claim="", solver="sat")


def test_list_and_unknown_names(capsys):
    assert main(["--list"]) == 0
    listed = capsys.readouterr().out
    for proof in PROOFS:
        assert proof.name in listed and f"depth {proof.depth}" in listed
    assert main(["--only", "no_such_proof"]) == 2
    assert "nothing matches" in capsys.readouterr().err


def test_uvm_proof_holds_and_its_bug_is_caught():
    proof = next(p for p in PROOFS if p.name == "uvm_mask_in_block")
    short = dataclasses.replace(proof, depth=proof.depth - 2)
    assert prove(short, label="pytest").passed
    mutant = next(m for m in MUTANTS if m.name == "engine_shifting_mask")
    with mutant.patch():
        outcome = prove(short, label="pytest-mutant")
    assert not outcome.passed
    assert outcome.failed_at.startswith("formal/uvm_tree.py:") and outcome.step >= 0
