"""Errors a user will hit end with one clear sentence saying what to do, never a traceback.

Every case runs the real command line in a subprocess (`python -m pipeline`, `python -m trainer`)
and checks: a non-zero exit, no "Traceback" anywhere in stderr, and a last stderr line that is a
single sentence (`error: ...`, one line, no second sentence after a full stop) naming the fix.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
           PYTHONUNBUFFERED="1")

DOC_PY = '''def add_numbers(left, right):
    """Add two numbers together and return their sum to the caller."""
    total = left + right
    total = total * 1
    return total
'''


def _run(args: list[str], env: dict | None = None, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=REPO,
                          env=env or ENV, timeout=timeout)


def assert_one_sentence(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """The process failed with one clear sentence containing every fragment (case-insensitive)."""
    assert proc.returncode != 0, f"expected a failure, got exit 0:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr, f"traceback shown to the user:\n{proc.stderr[-4000:]}"
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert lines, f"no message on stderr (stdout: {proc.stdout[-1000:]})"
    last = lines[-1].strip()
    assert last.lower().startswith("error:"), f"last stderr line is not an error sentence: {last!r}\n{proc.stderr[-3000:]}"
    message = last[len("error:"):].strip()
    # one sentence: no full stop followed by another sentence
    assert not re.search(r"[.!?]\s+[A-Z]", message), f"more than one sentence: {message!r}"
    for fragment in fragments:
        assert fragment.lower() in message.lower(), f"{fragment!r} not in {message!r}"
    return message


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tree") / "proj"
    root.mkdir()
    (root / "mod.py").write_text(DOC_PY)
    return root


# ---------------------------------------------------------------------------------------------
# pipeline


def test_missing_grammar_package(tree: Path, tmp_path: Path):
    # Shadow the installed grammar with a module whose import fails, as on a machine without it.
    shadow = tmp_path / "shadow" / "tree_sitter_python"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named tree_sitter_python (simulated)')\n")
    env = dict(ENV, PYTHONPATH=os.pathsep.join([str(tmp_path / "shadow"), ENV.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    proc = _run(["pipeline", "--input", str(tree), "--output", str(tmp_path / "out")], env=env)
    assert_one_sentence(proc, "pip install tree-sitter-python")
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_output_folder_not_empty(tree: Path, tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    proc = _run(["pipeline", "--input", str(tree), "--output", str(out)])
    assert_one_sentence(proc, "not empty", "--overwrite")
    assert (out / "precious.txt").read_text() == "keep me"


def test_input_glob_matches_nothing(tmp_path: Path):
    pattern = str(tmp_path / "nowhere" / "*.parquet")
    proc = _run(["pipeline", "--input", pattern, "--output", str(tmp_path / "out")])
    assert_one_sentence(proc, "matches no file")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_demo_refuses_a_foreign_non_empty_folder(tmp_path: Path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "thesis.tex").write_text("\\begin{document}")
    proc = _run(["trainer", "demo", "--out", str(out)])
    assert_one_sentence(proc, "not empty", "new or empty folder")
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]


# ---------------------------------------------------------------------------------------------
# trainer


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    """A schema-valid files shard, a tokenizer trained on it by the CLI, and a model folder whose
    vocabulary (from a different, larger tokenizer) does not match that tokenizer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas import FILES_SCHEMA, validate

    root = tmp_path_factory.mktemp("corpus")
    (root / "data" / "files").mkdir(parents=True)
    rows = []
    for i in range(40):
        content = DOC_PY.replace("add_numbers", f"add_numbers_{i}") * 3
        rows.append({"id": f"f{i}", "lang": "python", "repo": "r", "path": f"m{i}.py", "licenses": ["MIT"],
                     "content": content, "size": len(content.encode()), "identifiers": [],
                     "cluster_id": f"f{i}", "cluster_size": 1, "split": "train"})
    table = validate(pa.Table.from_pylist(rows, schema=FILES_SCHEMA), "files")
    pq.write_table(table, root / "data" / "files" / "part-00000-of-00001.parquet")
    proc = _run(["trainer", "tokenizer", "--data", str(root / "data"), "--vocab-size", "300", "--out", str(root / "tok")])
    assert proc.returncode == 0, proc.stderr[-3000:]

    # The model: a tiny stage-1 architecture built for a 1000-token vocabulary.
    from trainer.modeling import build_model
    from trainer.tokenization import load_tokenizer, special_ids

    special = special_ids(load_tokenizer(str(root / "tok")))
    build_model("tiny", 1000, special, seq_len=64).save_pretrained(root / "model")
    return {"data": root / "data", "tok": root / "tok", "model": root / "model"}


def _pretrain(corpus: dict[str, Path], out: Path, *extra: str) -> subprocess.CompletedProcess:
    return _run(["trainer", "pretrain", "--data", str(corpus["data"]), "--tokenizer", str(corpus["tok"]),
                 "--seq-len", "32", "--batch-size", "2", "--max-steps", "1", "--no-progress", "--out", str(out), *extra])


def test_tokenizer_does_not_match_the_model(corpus, tmp_path: Path):
    proc = _pretrain(corpus, tmp_path / "run", "--init", str(corpus["model"]))
    assert_one_sentence(proc, "tokenizer", "vocabulary", "use the tokenizer the model was trained with")


def test_gpu_deepspeed_config_without_gpu(corpus, tmp_path: Path):
    # a GPU-only config: fp16 mixed precision (DeepSpeed's fp16 needs CUDA)
    config = tmp_path / "gpu.json"
    config.write_text(json.dumps({"train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto",
                                  "fp16": {"enabled": True}, "zero_optimization": {"stage": 2}}))
    proc = _pretrain(corpus, tmp_path / "run", "--deepspeed-config", str(config))
    assert_one_sentence(proc, "needs a GPU", "use deploy/deepspeed/zero1.json")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_trainer_output_folder_not_empty(corpus, tmp_path: Path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    proc = _pretrain(corpus, out)
    assert_one_sentence(proc, "not empty", "choose a new --out")
    proc = _run(["trainer", "tokenizer", "--data", str(corpus["data"]), "--vocab-size", "300", "--out", str(out)])
    assert_one_sentence(proc, "not empty")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_trainer_data_glob_matches_nothing(tmp_path: Path):
    proc = _run(["trainer", "tokenizer", "--data", str(tmp_path / "missing" / "*.parquet"), "--vocab-size", "300",
                 "--out", str(tmp_path / "tok")])
    assert_one_sentence(proc)
    assert "parquet" in proc.stderr.lower() or "no " in proc.stderr.lower()


@pytest.mark.parametrize("argv, fragment", [
    (["search", "--index", "vec.parquet", "--top-k", "-1", "json"], "--top-k"),
    (["search", "--index", "vec.parquet", "--top-k", "0", "json"], "--top-k"),
    (["embed", "--model", "m", "--data", "d", "--out", "v.parquet", "--batch-size", "0"], "--batch-size"),
    (["evaluate", "--bm25", "--pairs", "p", "--max-queries", "0"], "--max-queries"),
    (["contrastive", "--data", "d", "--init", "m", "--out", "o", "--code-max-len", "-5"], "--code-max-len"),
    (["pretrain", "--data", "d", "--tokenizer", "t", "--out", "o", "--max-steps", "0"], "--max-steps"),
    (["pretrain", "--data", "d", "--tokenizer", "t", "--out", "o", "--warmup-steps", "-1"], "--warmup-steps"),
])
def test_meaningless_integer_flags_are_refused(argv, fragment, tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "trainer", *argv], capture_output=True, text=True, cwd=tmp_path,
                          env=dict(ENV, PYTHONPATH=str(REPO)), timeout=120)
    assert proc.returncode == 2
    assert_one_sentence(proc, fragment, "--help")
    assert not proc.stdout.strip()  # nothing was searched or printed


def test_contrastive_refuses_a_non_empty_output_folder(tmp_path: Path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"step": 1, "loss": 1.0}\n')
    proc = _run(["trainer", "contrastive", "--data", str(tmp_path / "pairs"), "--init", "minilm", "--out", str(out),
                 "--max-steps", "1", "--batch-size", "2", "--no-progress"])
    assert_one_sentence(proc, "not empty", "--resume", "choose a new --out")
    assert sorted(p.name for p in out.iterdir()) == ["metrics.jsonl"]


def test_pretrain_resume_with_other_settings_names_each_difference(corpus, tmp_path: Path):
    out = tmp_path / "run"
    proc = _pretrain(corpus, out, "--save-every", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    before = (out / "metrics.jsonl").read_text()
    proc = _run(["trainer", "pretrain", "--data", str(corpus["data"]), "--tokenizer", str(corpus["tok"]), "--seq-len", "64",
                 "--batch-size", "3", "--max-steps", "2", "--no-progress", "--out", str(out), "--resume"])
    assert_one_sentence(proc, "--seq-len saved 32, now 64", "global batch", "saved 2, now 3", str(out))
    assert (out / "metrics.jsonl").read_text() == before
    assert (out / "checkpoints" / "latest").read_text().strip() == "step-00000001"
