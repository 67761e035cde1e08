"""benchmarks/stage2_cli.py: the CoSQA benchmarks take every trainer flag, with their recipe as defaults."""
import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from stage2_cli import benchmark_parser, parse_args  # noqa: E402

RECIPE = {"max_steps": 50, "lr": 1e-5, "name_query_docs": True, "progress": False}
ALIASES = {"--steps": "--max-steps"}


def bench() -> argparse.ArgumentParser:
    ap = benchmark_parser("probe", RECIPE, ALIASES)
    ap.add_argument("--data", default=None)
    ap.add_argument("--init", default="minilm")
    ap.add_argument("--out", default="/tmp/x")
    ap.add_argument("--skip-zero-shot", action="store_true")
    return ap


def test_recipe_is_the_default_and_other_fields_keep_the_trainers():
    args, cfg = parse_args(bench(), RECIPE, ALIASES, argv=[])
    assert (cfg.max_steps, cfg.lr, cfg.name_query_docs, cfg.progress) == (50, 1e-5, True, False)
    assert cfg.temperature == 0.05 and cfg.code_column == "code_hard"  # ContrastiveConfig's own defaults
    assert args.init == "minilm" and args.data is None
    assert (cfg.data, cfg.init, cfg.out) == ("", "", "")  # the benchmark fills these in


def test_trainer_flags_pass_through_with_the_trainers_meaning():
    args, cfg = parse_args(bench(), RECIPE, ALIASES, argv=[
        "--data", "D", "--lr", "2e-5", "--no-name-query-docs", "--temperature", "0.1", "--hn-form", "robinson",
        "--languages", "python,go", "--matryoshka-dims", "64,128", "--skip-zero-shot"])
    assert args.data == "D" and args.skip_zero_shot
    assert (cfg.lr, cfg.name_query_docs, cfg.temperature, cfg.hn_form) == (2e-5, False, 0.1, "robinson")
    assert cfg.languages == ["python", "go"] and cfg.matryoshka_dims == [64, 128]


@pytest.mark.parametrize("argv", [["--steps", "7"], ["--steps=7"], ["--max-steps", "7"]])
def test_aliases_rename_historical_flags(argv):
    _, cfg = parse_args(bench(), RECIPE, ALIASES, argv=argv)
    assert cfg.max_steps == 7


def test_unknown_flags_and_bad_values_are_usage_errors(capsys):
    for argv in (["--bogus", "1"], ["--lr", "abc"], ["--skip"]):  # no abbreviation is guessed either
        with pytest.raises(SystemExit) as e:
            parse_args(bench(), RECIPE, ALIASES, argv=argv)
        assert e.value.code == 2
    assert "unrecognized arguments: --bogus 1" in capsys.readouterr().err


def test_a_recipe_key_that_is_no_trainer_field_is_refused():
    with pytest.raises(ValueError, match="not ContrastiveConfig fields"):
        parse_args(bench(), {"max_step": 5}, argv=[])


def test_help_lists_the_recipe_as_flags():
    text = bench().format_help()
    assert "--max-steps 50" in text and "--name-query-docs\n" in text and "--no-progress" in text
    assert "--steps = --max-steps" in text


@pytest.mark.parametrize("script", ["cosqa_finetune.py", "cosqa_proxy.py"])
def test_the_cosqa_scripts_parse_trainer_flags(script, tmp_path):
    import subprocess

    path = Path(__file__).resolve().parents[1] / "benchmarks" / script
    r = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True, check=True)
    assert "python -m trainer contrastive" in r.stdout
    r = subprocess.run([sys.executable, str(path), "--data", str(tmp_path), "--not-a-flag"], capture_output=True, text=True)
    assert r.returncode == 2 and "unrecognized arguments: --not-a-flag" in r.stderr
