"""Command-line plumbing shared by every `python -m trainer` command.

* `positive_int` / `non_negative_int`: argparse `type=` for integer flags. A value outside the range
  (or not an integer) is refused while parsing, so a meaningless `--top-k 0`, `--batch-size -1` or
  `--max-len 0` never reaches the code (Python slicing would silently accept negative counts).
* `non_negative_float` / `positive_float` / `fraction`: the same for real-valued flags (learning rates,
  weight decay, clipping, temperatures, rates). NaN and infinities are refused too: they parse as floats
  but would only surface as a traceback or a NaN loss after the model is built.
* `DefaultsHelpFormatter` (the default of `Parser`): every option's help ends with its default unless the
  help already states it, so `--help` of every command shows what an omitted flag means.
* `is_rank0()`: whether this process speaks for the run (RANK unset or 0), for closing lines that every
  rank would otherwise print.
* `Parser`: an `argparse.ArgumentParser` whose usage errors (unknown flag, missing argument, bad value)
  end the program as every user error does here: one line `error: ...` on stderr, exit code 2.
"""
from __future__ import annotations

import argparse
import math
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


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """`text` as a finite float >= 0 (rates, decays, clipping where 0 means off), else ArgumentTypeError."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value:g}")
    return value


def positive_float(text: str) -> float:
    """`text` as a finite float > 0 (e.g. a temperature, which divides), else ArgumentTypeError."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {value:g}")
    return value


def fraction(text: str) -> float:
    """`text` as a float in [0, 1] (a probability or a share of rows), else ArgumentTypeError."""
    value = _float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value:g}")
    return value


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Appends `(default: X)` to an option's help unless the help already mentions its default. Options
    without a meaningful default (None, store_true/store_false switches, required ones) are left alone;
    a `--x/--no-x` pair shows the spelling in effect by default, an empty list shows as `none`."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        switch = isinstance(action, argparse.BooleanOptionalAction)
        if ("default" in text.lower() or not action.option_strings or action.required or default is None
                or default is argparse.SUPPRESS or (isinstance(default, bool) and not switch)):
            return text
        if switch:  # --x / --no-x: name the spelling that is in effect when neither is given
            shown = next((o for o in action.option_strings if o.startswith("--no-") != bool(default)), str(default))
        elif isinstance(default, (list, tuple)):
            shown = ",".join(map(str, default)) or "none"
        else:
            shown = "%(default)s"
        return f"{text} (default: {shown})" if text else f"default: {shown}"


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line `error: <message> (see PROG --help)`, exit code 2, and
    whose help shows every option's default (`DefaultsHelpFormatter`)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def is_rank0() -> bool:
    """True unless a launcher set RANK to another rank (without a launcher this process is rank 0)."""
    return os.environ.get("RANK", "0") == "0"
