"""Usability of the trainer's commands for a new user: a stage-2 --resume before any checkpoint, numeric
flags out of range, defaults in --help, the pipeline's other table or a run folder given by mistake,
equivalent spellings of --data on resume, the `minilm` alias in pretrain, empty documents, unknown
languages, checkpoint names, a folder as --index, and quiet loading of stage-1 exports."""
from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from trainer_helpers import error_line, make_corpus, make_pair_rows, make_rows, tiny_bert_dir, write_shards

from trainer.errors import UserError
from trainer.metrics import read_metrics
from trainer.pairs_data import write_pairs

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
STAGE2 = ["--batch-size", "4", "--text-max-len", "16", "--code-max-len", "32", "--warmup", "1", "--no-progress"]
STAGE1 = ["--seq-len", "64", "--batch-size", "2", "--log-every", "1", "--no-progress"]


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    """A pipeline output folder OUT with files/ and pairs/, a tokenizer and a tiny BERT model folder."""
    root = tmp_path_factory.mktemp("usage")
    data, tok = make_corpus(root, n_rows=120)
    write_pairs(make_pair_rows(32, langs=("python", "go")), data / "pairs")
    tiny_bert_dir(root / "bert")
    return data


def _tok(out: Path) -> Path:
    return out.parent / "tok"


def _bert(out: Path) -> Path:
    return out.parent / "bert"


def _main(argv: list[str]) -> int:
    from trainer.__main__ import main

    return main([str(a) for a in argv])


_error = error_line


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *map(str, args)], capture_output=True, text=True, cwd=REPO, env=ENV, timeout=240)


@pytest.fixture(scope="module")
def runs(out, tmp_path_factory) -> dict[str, Path]:
    """A stage-1 run (2 steps, checkpoints 1 and 2), its export, and a stage-2 run (no checkpoint)."""
    root = tmp_path_factory.mktemp("runs")
    run1, model1, run2 = root / "run1", root / "model1", root / "run2"
    assert _main(["pretrain", "--data", out, "--tokenizer", _tok(out), "--out", run1, "--max-steps", "2", "--save-every", "1",
                  "--keep-checkpoints", "0", *STAGE1]) == 0
    assert _main(["export", "--checkpoint", run1, "--out", model1]) == 0
    assert _main(["contrastive", "--data", out, "--init", _bert(out), "--out", run2, "--max-steps", "1", *STAGE2]) == 0
    return {"run1": run1, "model1": model1, "run2": run2}


# ------------------------------------------------------------------------ 1: stage-2 resume, no checkpoint


def test_contrastive_resume_without_a_checkpoint_starts_from_step_0(out, tmp_path, capsys):
    run = tmp_path / "run"
    base = ["contrastive", "--data", out, "--init", _bert(out), "--out", run, "--no-export", "--save-every", "0", *STAGE2]
    assert _main(base + ["--max-steps", "2"]) == 0  # --save-every 0: no checkpoint
    capsys.readouterr()
    assert _main(base + ["--max-steps", "3", "--resume"]) == 0, capsys.readouterr().err
    assert "no complete checkpoint" in capsys.readouterr().err
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [1, 2, 3]  # the first run's rows are gone


def test_contrastive_resume_without_a_checkpoint_checks_the_folder_and_its_settings(out, tmp_path, capsys):
    """Restarting from step 0 under --resume must not write into a folder that is not a stage-2 run
    (a wrong --out), must not silently change the run's settings, and must not leave the earlier run's
    evaluation beside the new run."""
    other = tmp_path / "pipeline-out"
    other.mkdir()
    (other / "report.html").write_text("the pipeline's report")
    base = ["contrastive", "--data", out, "--init", _bert(out), "--no-export", "--save-every", "0", *STAGE2]
    assert _main(base + ["--out", other, "--max-steps", "1", "--resume"]) == 2
    assert "is not a stage-2 run folder" in _error(capsys)
    assert [p.name for p in other.iterdir()] == ["report.html"] and (other / "report.html").read_text() == "the pipeline's report"

    run = tmp_path / "run"
    assert _main(base + ["--out", run, "--max-steps", "1"]) == 0
    (run / "eval.json").write_text("{}")
    capsys.readouterr()
    assert _main(base + ["--out", run, "--max-steps", "1", "--resume", "--lr", "1e-3"]) == 2
    assert "--resume with settings that differ" in (err := _error(capsys)) and "--lr" in err, err
    assert _main(base + ["--out", run, "--max-steps", "2", "--resume"]) == 0
    assert not (run / "eval.json").exists()


def test_save_every_help_says_what_0_means():
    block = _help_blocks("contrastive")["--save-every"]
    assert "when resuming is wanted" not in block
    assert "0: no checkpoints" in block and "--resume" in block


# ------------------------------------------------------------------------ 2, 3: real-valued flags


@pytest.mark.parametrize("argv, fragment", [
    (["contrastive", "--temperature", "0"], "--temperature: must be above 0"),
    (["contrastive", "--temperature", "-1"], "--temperature: must be above 0"),
    (["contrastive", "--temperature", "nan"], "--temperature: expected a finite number"),
    (["contrastive", "--beta", "-1"], "--beta: must be 0 or more"),
    (["contrastive", "--lr", "-1"], "--lr: must be 0 or more"),
    (["contrastive", "--weight-decay", "-5"], "--weight-decay: must be 0 or more"),
    (["contrastive", "--grad-clip", "-1"], "--grad-clip: must be 0 or more"),
    (["contrastive", "--max-minutes", "-1"], "--max-minutes: must be 0 or more"),
    (["contrastive", "--seed", "-1"], "--seed: must be 0 or more"),
    (["pretrain", "--lr", "-1"], "--lr: must be 0 or more"),
    (["pretrain", "--lr", "inf"], "--lr: expected a finite number"),
    (["pretrain", "--weight-decay", "-5"], "--weight-decay: must be 0 or more"),
    (["pretrain", "--grad-clip", "-1"], "--grad-clip/--gradient-clipping: must be 0 or more"),
    (["pretrain", "--min-lr-ratio", "2"], "--min-lr-ratio: must be between 0 and 1"),
])
def test_out_of_range_real_flags_are_usage_errors(argv, fragment, tmp_path, capsys):
    required = {"contrastive": ["--data", tmp_path / "d", "--init", "minilm", "--out", tmp_path / "o"],
                "pretrain": ["--data", tmp_path / "d", "--tokenizer", tmp_path / "t", "--out", tmp_path / "o"]}[argv[0]]
    with pytest.raises(SystemExit) as exc:
        _main(argv + required)
    assert exc.value.code == 2
    err = _error(capsys)
    assert fragment in err and "--help" in err, err
    assert not (tmp_path / "o").exists()


def test_configs_built_in_code_are_checked_too():
    from trainer.contrastive import ContrastiveConfig, validate
    from trainer.pretrain import PretrainConfig, resolve_config

    for field, value in (("temperature", 0.0), ("temperature", -1.0), ("beta", -1.0), ("lr", -1.0), ("weight_decay", float("nan"))):
        with pytest.raises(UserError, match=field.replace("_", "-")):
            validate(ContrastiveConfig(data="d", init="m", out="o", **{field: value}))
    _, problems = resolve_config(PretrainConfig(data="d", tokenizer="t", out="o", lr=-1.0, min_lr_ratio=2.0))
    assert any("--lr" in p for p in problems) and any("--min-lr-ratio" in p for p in problems), problems


# ------------------------------------------------------------------------ 4: defaults in --help


def _help_blocks(command: str) -> dict[str, str]:
    """{option string: its help block} of `python -m trainer COMMAND --help`, as printed."""
    from trainer.__main__ import COMMANDS
    from trainer.cli import Parser

    parser = Parser(prog=f"python -m trainer {command}")
    importlib.import_module(COMMANDS[command][0]).add_arguments(parser)
    blocks, current = {}, None
    for line in parser.format_help().splitlines():
        head = re.match(r"\s{2}(-[-\w]+)", line)
        if head:
            current = head.group(1)
            blocks[current] = line
        elif current and line.startswith(" " * 4):
            blocks[current] += " " + line.strip()
        else:
            current = None
    return {k: re.sub(r"\s+", " ", v) for k, v in blocks.items()}


@pytest.mark.parametrize("command", ["tokenizer", "pretrain", "export", "contrastive", "evaluate", "embed", "search", "demo"])
def test_help_shows_every_default(command):
    from trainer.__main__ import COMMANDS

    parser = argparse.ArgumentParser()
    importlib.import_module(COMMANDS[command][0]).add_arguments(parser)
    blocks = _help_blocks(command)
    for action in parser._actions:
        if (not action.option_strings or action.help == argparse.SUPPRESS or action.default in (None, argparse.SUPPRESS)
                or action.required or isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._HelpAction))):
            continue
        block = blocks[action.option_strings[0]]
        assert "default" in block.lower(), f"{command} {action.option_strings[0]}: no default in {block!r}"


def test_contrastive_help_names_the_values_of_omitted_flags():
    blocks = _help_blocks("contrastive")
    for flag, shown in (("--batch-size", "32"), ("--max-steps", "1000"), ("--lr", "5e-06"), ("--warmup", "500"),
                        ("--text-max-len", "64"), ("--code-max-len", "256"), ("--split", "train"), ("--temperature", "0.05"),
                        ("--log-every", "1"), ("--hard-negatives", "--hard-negatives)")):
        assert f"(default: {shown}" in blocks[flag], blocks[flag]


# ------------------------------------------------------------------------ 5: the pipeline's other table


def test_the_other_pipeline_table_is_named(out, tmp_path, capsys):
    for argv in (["tokenizer", "--data", out / "pairs", "--vocab-size", "300", "--out", tmp_path / "t"],
                 ["pretrain", "--data", out / "pairs", "--tokenizer", _tok(out), "--out", tmp_path / "r", *STAGE1]):
        assert _main(argv) == 2
        err = _error(capsys)
        assert "holds the pipeline's pairs table, not its files table" in err and "its files/ folder" in err, err
    for argv in (["contrastive", "--data", out / "files", "--init", _bert(out), "--out", tmp_path / "c", *STAGE2],
                 ["evaluate", "--pairs", out / "files", "--bm25"]):
        assert _main(argv) == 2
        err = _error(capsys)
        assert "holds the pipeline's files table, not its pairs table" in err and "its pairs/ folder" in err, err
    assert not (tmp_path / "t").exists() and not (tmp_path / "r").exists() and not (tmp_path / "c").exists()


# ------------------------------------------------------------------------ 6: a run folder for a model folder


def test_a_run_folder_given_for_a_model_names_the_folder_to_pass(out, runs, tmp_path, capsys):
    run1, run2 = runs["run1"], runs["run2"]
    for argv in (["evaluate", "--model", run2, "--pairs", out, "--split", "train", "--bm25"],
                 ["embed", "--model", run2, "--data", out, "--split", "train", "--out", tmp_path / "v.parquet"]):
        assert _main(argv) == 2
        assert f"{run2} is a stage-2 run folder, not a model folder; did you mean {run2 / 'model'}?" in _error(capsys)
    for argv in (["contrastive", "--data", out, "--init", run1, "--out", tmp_path / "c", *STAGE2],
                 ["contrastive", "--data", out, "--init", run1 / "model", "--out", tmp_path / "c", *STAGE2],
                 ["pretrain", "--data", out, "--tokenizer", _tok(out), "--init", run1, "--out", tmp_path / "p", *STAGE1]):
        assert _main(argv) == 2
        err = _error(capsys)
        assert f"{run1} is a stage-1 run folder" in err and f"python -m trainer export --checkpoint {run1} --out MODEL" in err, err
    assert _main(["export", "--checkpoint", run2, "--out", tmp_path / "m"]) == 2
    assert f"stage-2 (contrastive) run, whose model is already exported in {run2 / 'model'}" in _error(capsys)
    assert not any((tmp_path / name).exists() for name in ("c", "p", "m", "v.parquet"))


# ------------------------------------------------------------------------ 7: OUT and OUT/<table> on resume


def test_resume_treats_out_and_its_shard_folder_as_the_same_data(out, tmp_path, capsys):
    run1, run2 = tmp_path / "run1", tmp_path / "run2"
    assert _main(["pretrain", "--data", out, "--tokenizer", _tok(out), "--out", run1, "--max-steps", "1", *STAGE1]) == 0
    assert _main(["pretrain", "--data", out / "files", "--tokenizer", _tok(out), "--out", run1, "--max-steps", "2", "--resume",
                  *STAGE1]) == 0, capsys.readouterr().err
    s2 = ["--init", _bert(out), "--no-export", "--save-every", "1", *STAGE2]
    assert _main(["contrastive", "--data", out, "--out", run2, "--max-steps", "1", *s2]) == 0
    assert _main(["contrastive", "--data", f"{out / 'pairs'}/", "--out", run2, "--max-steps", "2", "--resume", *s2]) == 0, \
        capsys.readouterr().err
    assert [r["step"] for r in read_metrics(run2 / "metrics.jsonl")] == [1, 2]


def test_older_run_folders_that_saved_the_typed_data_path_compare_the_same_way(out):
    from trainer.runfolder import settings_differences

    saved = {"--data": str(out)}  # as run.json / config.json hold it: the value typed
    assert settings_differences(saved, {"--data": str(out / "files")}, {"--data": "files"}) == []
    assert settings_differences(saved, {"--data": str(out / "pairs")}, {"--data": "pairs"}) == []
    assert settings_differences(saved, {"--data": str(out / "pairs")}, {"--data": "files"})  # other data: still a difference


# ------------------------------------------------------------------------ 8: `minilm` in pretrain


def test_pretrain_resolves_the_minilm_alias_for_init_and_tokenizer(out, tmp_path):
    from trainer.encoder import packaged_minilm_dir
    from trainer.pretrain import PretrainConfig, preflight

    cfg, info = preflight(PretrainConfig(data=str(out), tokenizer="minilm", init="MiniLM", out=str(tmp_path / "r"), seq_len=32))
    assert cfg.init == cfg.tokenizer == str(packaged_minilm_dir())
    assert info["vocab"] > 30000


# ------------------------------------------------------------------------ 9: nothing to learn


@pytest.fixture(scope="module")
def empty_docs(tmp_path_factory) -> Path:
    rows = make_rows(6)
    for row in rows:
        row.update(content="", identifiers=[], size=0)
    return write_shards(tmp_path_factory.mktemp("empty") / "out", rows, n_shards=1)


def test_tokenizer_refuses_empty_documents_and_warns_about_a_small_vocabulary(out, empty_docs, tmp_path, capsys):
    assert _main(["tokenizer", "--data", empty_docs, "--vocab-size", "600", "--out", tmp_path / "t1"]) == 2
    assert "6 documents of split 'train'" in _error(capsys) and not (tmp_path / "t1").exists()
    assert _main(["tokenizer", "--data", out, "--vocab-size", "20000", "--out", tmp_path / "t2"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"warning: learned \d+ tokens, fewer than --vocab-size 20000", err), err


def test_pretrain_stops_when_the_first_step_masks_nothing(out, empty_docs, tmp_path, capsys):
    run = tmp_path / "run"
    assert _main(["pretrain", "--data", empty_docs, "--tokenizer", _tok(out), "--out", run, "--max-steps", "3", *STAGE1]) == 2
    assert "nothing to learn from: step 1 holds no masked token" in _error(capsys)
    assert not (run / "metrics.jsonl").exists() or read_metrics(run / "metrics.jsonl") == []


def test_pretrain_checks_for_nothing_to_learn_only_on_a_fresh_start(out, tmp_path, capsys):
    """One real document, one empty: with one sequence per step, step 1 masks tokens and step 2 (the
    empty document) none. An uninterrupted run finishes; a run resumed at step 2 must finish too (the
    check is for an empty corpus, i.e. step 1 of a fresh run; it used to refuse this resume forever)."""
    rows = make_rows(2)
    rows[1].update(content="", identifiers=[], size=0)
    data = write_shards(tmp_path / "mixed", rows, n_shards=1)
    flags = ["--data", data, "--tokenizer", _tok(out), "--size", "tiny", "--seq-len", "512", "--batch-size", "1",
             "--unit-rows", "1", "--shuffle-buffer", "1", "--dobf-prob", "0", "--save-every", "1", "--seed", "0",
             "--no-progress"]
    assert _main(["pretrain", *flags, "--out", tmp_path / "whole", "--max-steps", "2"]) == 0, _error(capsys)
    assert _main(["pretrain", *flags, "--out", tmp_path / "split", "--max-steps", "1"]) == 0, _error(capsys)
    assert _main(["pretrain", *flags, "--out", tmp_path / "split", "--max-steps", "2", "--resume"]) == 0, _error(capsys)


# ------------------------------------------------------------------------ 10: --languages


def test_an_unknown_language_lists_the_languages_present(out, tmp_path, capsys):
    assert _main(["contrastive", "--data", out, "--init", _bert(out), "--out", tmp_path / "r", "--languages", "klingon,python",
                  *STAGE2]) == 2
    assert "--languages klingon: not a language of the pairs in" in (err := _error(capsys)) and "(present: go, python)" in err, err


# ------------------------------------------------------------------------ 11: checkpoint names


def test_export_of_a_checkpoint_that_does_not_exist_lists_the_real_ones(runs, tmp_path, capsys):
    root = runs["run1"] / "checkpoints"
    assert _main(["export", "--checkpoint", root / "step-1", "--out", tmp_path / "m"]) == 2
    err = _error(capsys)
    assert f"checkpoint {root / 'step-1'} does not exist" in err and "step-00000001, step-00000002" in err, err
    assert f"did you mean {root / 'step-00000001'}?" in err
    assert _main(["export", "--checkpoint", root / "step-00000001", "--out", tmp_path / "m"]) == 0


def test_trainer_docs_write_the_real_checkpoint_folder_name():
    text = (REPO / "docs" / "trainer.md").read_text()
    assert "step-N`" not in text and "step-N/" not in text and "step-NNNNNNNN" in text


# ------------------------------------------------------------------------ 12: a folder as --index


def test_search_index_that_is_a_folder(out, capsys):
    assert _main(["search", "--index", out / "pairs", "some query"]) == 2
    assert "is a folder; pass the .parquet file written by `python -m trainer embed" in _error(capsys)


# ------------------------------------------------------------------------ 13: noise


def test_loading_a_stage1_export_prints_no_load_report(runs, tmp_path):
    code = "import sys; from trainer.encoder import load_encoder; load_encoder(sys.argv[1]); print('loaded')"
    proc = subprocess.run([sys.executable, "-c", code, str(runs["model1"])], capture_output=True, text=True, cwd=REPO, env=ENV,
                          timeout=240)
    assert proc.returncode == 0 and "loaded" in proc.stdout, proc.stderr[-3000:]
    assert "LOAD REPORT" not in proc.stderr and "UNEXPECTED" not in proc.stderr, proc.stderr[-3000:]
    # a real problem stays visible: a masked-LM folder without some backbone weights
    from safetensors.torch import load_file, save_file

    broken = tiny_bert_dir(tmp_path / "broken", masked_lm=True)
    weights = load_file(str(broken / "model.safetensors"))
    save_file({k: v for k, v in weights.items() if "layer.1.output.dense" not in k}, str(broken / "model.safetensors"),
              metadata={"format": "pt"})
    proc = subprocess.run([sys.executable, "-c", code, str(broken)], capture_output=True, text=True, cwd=REPO, env=ENV, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "warning:" in proc.stderr and "encoder.layer.1.output.dense.weight" in proc.stderr, proc.stderr[-3000:]
    # a fatal load error keeps transformers' report, which names the offending weight
    import torch

    bad = {k: (torch.zeros(v.shape[0], v.shape[1] + 1) if k.endswith("layer.0.output.dense.weight") else v)
           for k, v in weights.items()}
    save_file(bad, str(broken / "model.safetensors"), metadata={"format": "pt"})
    proc = subprocess.run([sys.executable, "-c", code, str(broken)], capture_output=True, text=True, cwd=REPO, env=ENV, timeout=240)
    assert proc.returncode != 0 and "layer.0.output.dense.weight" in proc.stderr, proc.stderr[-3000:]


def test_a_refused_run_prints_nothing_from_deepspeed(out, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    proc = _run(["trainer", "pretrain", "--data", out, "--tokenizer", _tok(out), "--out", busy, *STAGE1])
    assert proc.returncode == 2 and "not empty" in proc.stderr
    assert "DeepSpeed" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def _restamp(folder: Path, version: bytes) -> None:
    """Rewrite the first shard of `folder` as if another pipeline version had written it."""
    import pyarrow.parquet as pq

    shard = sorted(folder.glob("*.parquet"))[0]
    table = pq.read_table(shard)
    meta = dict(table.schema.metadata or {})
    meta[b"codesage.schema_version"] = version
    pq.write_table(table.replace_schema_metadata(meta), shard)


def test_shards_of_another_schema_version_are_refused_by_every_reader(out, tmp_path, capsys):
    """Columns of another contract version may keep their names and change their meaning: the
    trainer refuses them, as schemas.validate does, instead of training on them."""
    import shutil

    data = tmp_path / "OUT"
    shutil.copytree(out, data)
    _restamp(data / "pairs", b"2")
    _restamp(data / "files", b"2")
    runs = {
        "contrastive": ["contrastive", "--data", data, "--init", _bert(out), "--out", tmp_path / "run", "--max-steps", "1", *STAGE2],
        "embed": ["embed", "--model", _bert(out), "--data", data / "pairs", "--split", "train", "--out", tmp_path / "v.parquet"],
        "tokenizer": ["tokenizer", "--data", data, "--out", tmp_path / "tok", "--vocab-size", "300"],
        "pretrain": ["pretrain", "--data", data, "--tokenizer", _tok(out), "--size", "tiny", "--out", tmp_path / "p",
                     "--max-steps", "1", *STAGE1],
    }
    for name, argv in runs.items():
        assert _main(argv) == 2, name
        line = _error(capsys)
        assert "written with schema version 2, this code implements version 1" in line, (name, line)
    # version 1 (and unstamped tables of other tools) still read
    _restamp(data / "pairs", b"1")
    assert _main(runs["embed"]) == 0
