"""Command-line plumbing shared by every `python -m trainer` command.

* `positive_int` / `non_negative_int`: argparse `type=` for integer flags. A value outside the range
  (or not an integer) is refused while parsing, so a meaningless `--top-k 0`, `--batch-size -1` or
  `--max-len 0` never reaches the code (Python slicing would silently accept negative counts).
* `is_rank0()`: whether this process speaks for the run (RANK unset or 0), for closing lines that every
  rank would otherwise print.
* `Parser`: an `argparse.ArgumentParser` whose usage errors (unknown flag, missing argument, bad value)
  end the program as every user error does here: one line `error: ...` on stderr, exit code 2.
"""
from __future__ import annotations

import argparse
import os


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    """`text` as an int >= 1, else argparse.ArgumentTypeError."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (at least 1), got {value}")
    return value


def non_negative_int(text: str) -> int:
    """`text` as an int >= 0 (for flags where 0 means off / none / default), else argparse.ArgumentTypeError."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line `error: <message> (see PROG --help)`, exit code 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def is_rank0() -> bool:
    """True unless a launcher set RANK to another rank (without a launcher this process is rank 0)."""
    return os.environ.get("RANK", "0") == "0"
