"""The command line: ``python -m sim [COMMAND] [OPTIONS]``.

Commands: ``compare`` (policies on workloads or a trace), ``workloads`` (the
built-in workloads and their sizes), ``run`` (the per-block stages),
``record`` (a real program under valgrind's lackey), ``import-nsys`` (an
Nsight Systems SQLite report), ``convert`` (CSV <-> NPZ), ``sweep`` (a grid
of comparisons on a Dask cluster), ``train`` (the MLP policy's weights). Without a command it
runs the main job of ``make sim``: ``compare`` on the standard workloads with
the RTL checks.

Every mistake in the input ends the command with one ``error:`` line naming
the flag, file or line, exit status 2, and no output file half-written.
"""

from __future__ import annotations

import argparse
import math
import sys

COMMANDS = ("compare", "workloads", "run", "record", "import-nsys", "convert", "sweep", "train")


class UsageError(Exception):
    """A bad flag or input: reported as one ``error:`` line, exit status 2."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default in its help, unless it has none (None or False)."""

    def _get_help_string(self, action):
        if action.default in (None, False) or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake as one ``error:`` line."""

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


def positive_float(flag: str):
    """argparse type: a positive finite number, named ``flag`` in the error."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} {text!r} is not a number") from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"{flag} must be a positive finite number, "
                                             f"got {text!r}")
        return value
    return parse


def positive_int(flag: str):
    def parse(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} {text!r} is not an integer") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{flag} must be positive, got {value}")
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in COMMANDS:
            command, rest = argv[0], argv[1:]
        elif argv and argv[0] in ("-h", "--help"):
            print(__doc__.strip())
            print("\nRun 'python -m sim COMMAND --help' for the options of a command; the "
                  "main job takes the options of compare.")
            return 0
        elif argv and not argv[0].startswith("-"):
            raise UsageError(f"unknown command {argv[0]!r}; commands: {', '.join(COMMANDS)}")
        else:
            command, rest = "main", argv
        if command == "run":
            from sim.cli import run
            return run.main(rest)
        if command == "workloads":
            from sim.cli import workloads
            return workloads.main(rest)
        if command in ("record", "import-nsys", "convert"):
            from sim.cli import traces
            return {"record": traces.record_main, "import-nsys": traces.import_main,
                    "convert": traces.convert_main}[command](rest)
        if command == "sweep":
            from sim.cli import sweep
            return sweep.main(rest)
        if command == "train":
            from sim.cli import train
            return train.main(rest)
        from sim.cli import compare
        return compare.main(rest, main_job=command == "main")
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
