"""``python -m formal``: every bounded proof on the RTL, then every injected bug.

Prints one row per run (proof or mutant, depth, expected and actual result, seconds)
and exits 1 when a proof fails or a mutant passes (a property that cannot fail proves
nothing). ``--only NAME`` runs the proofs and mutants whose name contains NAME;
``--list`` prints the proofs with their claims and depths.
"""

from __future__ import annotations

import argparse
import sys
import time

from formal import dra, prefetch_buffer, uvm_tree
from formal.mutants import MUTANTS
from formal.run import Proof, missing_tools, prove

PROOFS: list[Proof] = [*dra.PROOFS, *uvm_tree.PROOFS, *prefetch_buffer.PROOFS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m formal", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run only proofs / mutants whose name "
                                                   "contains this")
    parser.add_argument("--list", action="store_true", help="list the proofs and exit")
    parser.add_argument("--no-mutants", action="store_true", help="skip the injected bugs")
    args = parser.parse_args(argv)
    by_name = {proof.name: proof for proof in PROOFS}
    if args.list:
        for proof in PROOFS:
            print(f"{proof.name} (depth {proof.depth}): {proof.claim}")
            print(f"    depth: {proof.why_depth}")
        return 0
    missing = missing_tools()
    if missing:
        print(f"error: formal tools missing: {', '.join(missing)} (run make setup)",
              file=sys.stderr)
        return 2
    runs = [(proof.name, proof, True, None) for proof in PROOFS if args.only in proof.name]
    if not args.no_mutants:
        runs += [(mutant.name, by_name[mutant.proof], False, mutant) for mutant in MUTANTS
                 if args.only in mutant.name or args.only in mutant.proof]
    if not runs:
        print(f"error: nothing matches --only {args.only!r}; names: "
              f"{', '.join([*by_name, *(m.name for m in MUTANTS)])}", file=sys.stderr)
        return 2
    print(f"{'run':34} {'proof':26} {'depth':>5} {'expected':>8} {'result':>6} {'seconds':>8}")
    wrong = []
    began = time.monotonic()
    for name, proof, should_pass, mutant in runs:
        if mutant is None:
            outcome = prove(proof)
        else:
            with mutant.patch():
                outcome = prove(proof, label=mutant.name)
        result = "PASS" if outcome.passed else "FAIL"
        expected = "PASS" if should_pass else "FAIL"
        print(f"{name:34} {proof.name:26} {proof.depth:5} {expected:>8} {result:>6} "
              f"{outcome.seconds:8.1f}", flush=True)
        if outcome.passed != should_pass:
            wrong.append(name)
        if not outcome.passed:
            print(f"    failed at {outcome.failed_at}, step {outcome.step} "
                  f"(trace: {outcome.workdir}/proof/engine_0/)", flush=True)
    total = time.monotonic() - began
    proofs = sum(1 for run in runs if run[3] is None)
    print(f"{proofs} proofs and {len(runs) - proofs} injected bugs in {total:.0f} s: "
          + ("every proof holds and every bug is caught" if not wrong
             else f"WRONG: {', '.join(wrong)}"))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
