"""`python -m pipeline --help`: every flag shows its default, and a closed pipe is not a traceback."""
from __future__ import annotations

import subprocess
import sys

from pipeline.__main__ import _help


def test_help_shows_the_defaults_of_filter_split_and_parse_flags():
    text = " ".join(_help().split())
    for flag, default in (("--max-bytes", "1000000"), ("--max-line-length", "1000"), ("--test-fraction", "0.01"),
                          ("--parse-timeout-ms", "2000"), ("--min-summary-tokens", "3")):
        after = text.split(f"  {flag} " if f"  {flag} " in text else f" {flag} ", 1)[1][:400]
        assert f"default: {default}" in after.split("  --", 1)[0], flag


def test_help_into_a_closed_pipe_is_quiet():
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "--help"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    # closed before the child has written anything (it is still importing): its help text is
    # smaller than a pipe buffer, so a reader that took one line first would never cause EPIPE
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_help_does_not_call_an_off_switch_on():
    """`--no-pair-dedup` stores False into pair_dedup (default True): "(default: True)" read as "on"."""
    text = " ".join(_help().split())
    after = text.split(" --no-pair-dedup ", 1)[1].split("  --", 1)[0][:300]
    assert "default: True" not in after


def test_installed_script_names_itself_in_usage():
    # `codesage-pipeline --help` said "usage: python -m pipeline", a command the user did not type
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "codesage-pipeline"
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: codesage-pipeline ")
