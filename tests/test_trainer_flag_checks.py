"""Stage-1 settings checked before the run folder is written (one-line errors, exit code 2), --init with
a real BERT checkpoint and its own WordPiece tokenizer, the logged learning rate, metrics.jsonl after a
resume, and --num-workers changes on resume."""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest
import torch
from trainer_helpers import make_corpus

from trainer.metrics import read_metrics


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("flags"), n_rows=120)


def _args(corpus, out, *extra, tokenizer=None):
    data, tok = corpus
    return ["pretrain", "--data", str(data), "--tokenizer", str(tokenizer or tok), "--out", str(out), "--seq-len", "64",
            "--batch-size", "2", "--log-every", "1", "--no-progress", *extra]


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def _minilm():
    from trainer.encoder import packaged_minilm_dir

    return packaged_minilm_dir()


def _tiny_bert_dir(path: Path, max_positions: int = 128) -> Path:
    """A tiny BertForMaskedLM with the packaged MiniLM's WordPiece tokenizer (BERT special tokens)."""
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(_minilm()))
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=max_positions, pad_token_id=tok.pad_token_id)
    BertForMaskedLM(cfg).save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path


# ------------------------------------------------------------------------------------- 1: positions


def test_seq_len_beyond_the_init_position_table_is_one_line_before_the_run_folder(corpus, tmp_path, capsys):
    from trainer.__main__ import main

    model = _tiny_bert_dir(tmp_path / "bert128")
    out = tmp_path / "run"
    assert main(_args(corpus, out, "--init", str(model), "--seq-len", "256", "--max-steps", "1", tokenizer=model)) == 2
    assert "--seq-len 256 exceeds the 128 positions of the --init model" in _error(capsys)
    assert not out.exists()  # a retry with a smaller --seq-len is not refused as a non-empty folder


def test_roberta_positions_are_offset_by_padding_idx_plus_one():
    from transformers import RobertaConfig, RobertaForMaskedLM

    from trainer.errors import UserError
    from trainer.modeling import check_seq_len, encode, position_limit, position_offset

    torch.manual_seed(0)
    cfg = RobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                        max_position_embeddings=34, pad_token_id=1, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = RobertaForMaskedLM(cfg).eval()
    assert (position_offset(model), position_limit(model)) == (2, 32)
    check_seq_len(model, 32)
    with pytest.raises(UserError, match="--seq-len 33 exceeds the 32 positions"):
        check_seq_len(model, 33)
    ids = torch.arange(3, 35)[None, :]  # 32 tokens, one document
    with torch.no_grad():
        ours = encode(model, ids, torch.zeros_like(ids), torch.arange(32)[None, :])
        theirs = model.roberta(input_ids=ids).last_hidden_state  # positions pad+1 .. pad+32
    assert torch.allclose(ours, theirs, atol=1e-5)


# ------------------------------------------------------------------------------------- 2: overrides


def test_model_overrides_errors_are_one_line(corpus, tmp_path, capsys):
    from trainer.__main__ import main

    out = tmp_path / "run"
    assert main(_args(corpus, out, "--model-overrides", "hidden_size=63", "--max-steps", "1")) == 2
    assert "hidden_size 63 must be a positive multiple of num_attention_heads 2" in _error(capsys)
    assert main(_args(corpus, out, "--model-overrides", "hiddn_size=128", "--max-steps", "1")) == 2
    err = _error(capsys)
    assert "no field 'hiddn_size'" in err and "did you mean hidden_size" in err, err
    assert main(_args(corpus, out, "--model-overrides", "num_hidden_layers=two", "--max-steps", "1")) == 2
    assert "num_hidden_layers='two'" in _error(capsys)
    assert main(_args(corpus, out, "--model-overrides", "vocab_size=1000", "--max-steps", "1")) == 2
    assert "cannot set vocab_size" in _error(capsys)
    assert not out.exists()


# ------------------------------------------------------------------------------------- 3: --init BERT


def test_special_tokens_come_from_the_tokenizer_folder(corpus):
    from trainer.tokenization import declared_special_tokens, load_tokenizer, special_ids

    _, tok = corpus
    assert declared_special_tokens(tok) == {"pad": "<pad>", "eos": "</s>", "mask": "<mask>"}
    assert special_ids(load_tokenizer(tok), tok) == special_ids(load_tokenizer(tok)) == {"pad": 0, "eos": 1, "mask": 2}
    minilm = _minilm()
    assert declared_special_tokens(minilm) == {"pad": "[PAD]", "eos": "[SEP]", "mask": "[MASK]"}
    assert special_ids(load_tokenizer(minilm), minilm) == {"pad": 0, "eos": 102, "mask": 103}


def test_pretrain_from_minilm_with_its_own_tokenizer_then_export_loads(corpus, tmp_path):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from trainer.__main__ import main

    minilm = _minilm()
    run, exported = tmp_path / "run", tmp_path / "model"
    assert main(_args(corpus, run, "--init", str(minilm), "--max-steps", "2", "--lr", "1e-3", "--warmup-steps", "0",
                      tokenizer=minilm)) == 0
    rows = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2] and all(r["masked_tokens"] > 0 and r["loss"] == r["loss"] for r in rows)
    record = json.loads((run / "run.json").read_text())
    assert record["size"] is None and record["dropout"] is None  # not used with --init, recorded as such
    # only the tokenizer files are copied: MiniLM's weights and config must not overwrite the export's
    assert not (run / "tokenizer" / "model.safetensors").exists() and not (run / "tokenizer" / "config.json").exists()
    assert main(["export", "--checkpoint", str(run), "--out", str(exported)]) == 0
    mlm = AutoModelForMaskedLM.from_pretrained(str(exported))
    assert type(mlm).__name__ == "BertForMaskedLM"
    original = AutoModelForMaskedLM.from_pretrained(str(minilm))
    assert not torch.equal(mlm.bert.embeddings.word_embeddings.weight, original.bert.embeddings.word_embeddings.weight)
    tok = AutoTokenizer.from_pretrained(str(exported))
    assert tok.pad_token == "[PAD]" and tok.mask_token == "[MASK]"


# ------------------------------------------------------------------------------------- 4: logged lr


def test_logged_lr_is_the_one_the_step_used(corpus, tmp_path):
    from trainer.__main__ import main
    from trainer.runtime import make_lr_lambda

    run = tmp_path / "run"
    assert main(_args(corpus, run, "--max-steps", "3", "--warmup-steps", "2", "--lr", "1e-3", "--dropout", "0")) == 0
    lrs = [r["lr"] for r in read_metrics(run / "metrics.jsonl")]
    fn = make_lr_lambda(2, 3)
    assert lrs == pytest.approx([1e-3 * fn(s) for s in range(3)])  # 5e-4, 1e-3, 1e-3: never 0 at the last step


# ------------------------------------------------------------------------------------- 5 and 6: resume


def _roll_back(full: Path, cut: Path, step: int) -> None:
    """`cut` = `full` as if killed right after its step-`step` checkpoint (metrics.jsonl keeps the later rows)."""
    shutil.copytree(full, cut)
    for folder in (cut / "checkpoints").glob("step-*"):
        if int(folder.name.split("-")[1]) > step:
            shutil.rmtree(folder)
    (cut / "checkpoints" / "latest").write_text(f"step-{step:08d}\n")


def test_resume_logs_each_step_once(corpus, tmp_path):
    from trainer.__main__ import main

    full, cut = tmp_path / "full", tmp_path / "cut"
    common = ["--max-steps", "4", "--save-every", "2", "--dropout", "0", "--keep-checkpoints", "0"]
    assert main(_args(corpus, full, *common)) == 0
    _roll_back(full, cut, 2)
    with open(cut / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 5, "loss": 1.')  # a line torn by the kill
    assert main(_args(corpus, cut, *common, "--resume")) == 0
    rows = read_metrics(cut / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert [r["loss"] for r in rows] == pytest.approx([r["loss"] for r in read_metrics(full / "metrics.jsonl")], rel=1e-6)


def test_drop_rows_after_is_atomic_and_keeps_earlier_rows(tmp_path):
    from trainer.metrics import MetricsLogger, drop_rows_after

    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s, "loss": s}) + "\n" for s in (1, 2, 3, 2, 3)))
    assert drop_rows_after(path, 2) == 2
    assert [r["step"] for r in read_metrics(path)] == [1, 2, 2]
    with MetricsLogger(tmp_path, progress=False, tensorboard=False, initial_step=1, drop_after=1) as log:
        log.log(2, loss=0.5)
    assert [r["step"] for r in read_metrics(path)] == [1, 2]
    assert not list(tmp_path.glob(".*.tmp"))


def test_num_workers_may_change_on_resume(corpus, tmp_path, capsys):
    from trainer.__main__ import main

    full, cut = tmp_path / "full", tmp_path / "cut"
    common = ["--max-steps", "4", "--save-every", "2", "--dropout", "0", "--keep-checkpoints", "0"]
    assert main(_args(corpus, full, *common, "--num-workers", "2")) == 0  # 2 data streams (1 rank x 2 workers)
    _roll_back(full, cut, 2)
    # 3 workers cannot split the run's 2 streams: one line saying what to do, nothing written
    before = (cut / "metrics.jsonl").read_text()
    assert main(_args(corpus, cut, *common, "--num-workers", "3", "--resume")) == 2
    err = _error(capsys)
    assert "2 data streams" in err and "--data-streams" in err and "--num-workers" in err, err
    assert (cut / "metrics.jsonl").read_text() == before
    # no workers: the run's 2 streams are kept (the same data order), so the losses are the uninterrupted run's
    assert main(_args(corpus, cut, *common, "--num-workers", "0", "--resume")) == 0
    lf = {r["step"]: r["loss"] for r in read_metrics(full / "metrics.jsonl")}
    lc = {r["step"]: r["loss"] for r in read_metrics(cut / "metrics.jsonl")}
    assert sorted(lc) == [1, 2, 3, 4]
    for s in (3, 4):
        assert lc[s] == pytest.approx(lf[s], rel=1e-6)
    assert json.loads((cut / "run.json").read_text())["data_streams"] == 2


# ------------------------------------------------------------------------------------- 7 and 8: flags


def test_architecture_flags_are_refused_with_init(corpus, tmp_path, capsys):
    from trainer.__main__ import main

    model = _tiny_bert_dir(tmp_path / "bert")
    out = tmp_path / "run"
    assert main(_args(corpus, out, "--init", str(model), "--size", "large", "--max-steps", "1", tokenizer=model)) == 2
    assert "--size cannot be combined with --init" in _error(capsys)
    assert main(_args(corpus, out, "--init", str(model), "--dropout", "0", "--max-steps", "1", tokenizer=model)) == 2
    assert "--dropout cannot be combined with --init" in _error(capsys)
    assert main(_args(corpus, out, "--init", str(model), "--model-overrides", "num_hidden_layers=4", "--max-steps", "1",
                      tokenizer=model)) == 2
    assert "--model-overrides cannot be combined with --init" in _error(capsys)
    assert not out.exists()


def test_nothing_to_learn_and_rate_flags_are_named(corpus, tmp_path, capsys):
    from trainer.__main__ import main

    out = tmp_path / "run"
    assert main(_args(corpus, out, "--mask-rate", "0", "--dobf-prob", "0", "--max-steps", "1")) == 2
    assert "nothing to predict" in _error(capsys)
    assert main(_args(corpus, out, "--mask-rate", "1.5", "--max-steps", "1")) == 2
    err = _error(capsys)
    assert "--mask-rate must be between 0 and 1, got 1.5" in err and "mlm-rate" not in err, err
    assert main(_args(corpus, out, "--dobf-kinds", "class,method", "--max-steps", "1")) == 2
    assert "--dobf-kinds method not among" in _error(capsys)
    assert not out.exists()


def test_precision_is_not_a_model_override(corpus, tmp_path, capsys):
    """`--model-overrides dtype=float16` trained in fp32 and then exported a float16 model."""
    from trainer.__main__ import main

    for key in ("dtype", "torch_dtype"):
        assert main(_args(corpus, tmp_path / key, "--model-overrides", f"{key}=float16", "--max-steps", "1")) == 2
        assert f"cannot set {key}" in _error(capsys)
        assert not (tmp_path / key).exists()


def test_dobf_share_is_null_when_no_document_starts_in_the_window(tmp_path):
    """Documents are counted at their first piece: a logged window made only of later pieces of a long
    document has no documents, and its DOBF share is unknown (null), not 0."""
    import json as json_module

    from trainer_helpers import make_rows, write_shards

    from trainer.__main__ import main
    from trainer.tokenization import iter_contents, save_tokenizer, train_tokenizer
    from trainer.data import find_shards

    rows = make_rows(1, seed=3)
    long = dict(rows[0])
    long["content"] = "\n".join([rows[0]["content"]] * 40)
    long["size"] = len(long["content"].encode())
    long["identifiers"] = []
    data = write_shards(tmp_path / "data", [long], n_shards=1)
    tok = save_tokenizer(train_tokenizer(iter_contents(find_shards(data), "train"), 300), tmp_path / "tok")
    out = tmp_path / "run"
    assert main(["pretrain", "--data", str(data), "--tokenizer", str(tok), "--out", str(out), "--seq-len", "32",
                 "--batch-size", "1", "--log-every", "1", "--no-progress", "--max-steps", "4", "--dobf-prob", "0"]) == 0
    shares = [json_module.loads(line)["dobf_share"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(shares) == 4 and shares.count(None) >= 3 and all(s in (None, 0.0) for s in shares)


def test_contrastive_summary_is_printed_by_rank_0_only(monkeypatch, capsys, tmp_path):
    import trainer.cmd_contrastive as cmd

    summary = {"steps": 2, "final_loss": 1.0, "pairs_per_s": 3.0}
    monkeypatch.setattr(cmd, "train", lambda cfg: summary)
    args = argparse.Namespace(data="d", init="minilm", out=str(tmp_path))
    monkeypatch.setenv("RANK", "1")
    assert cmd.run(args) == 0
    assert "stage 2 done" not in capsys.readouterr().out
    monkeypatch.setenv("RANK", "0")
    assert cmd.run(args) == 0
    assert "stage 2 done: 2 steps" in capsys.readouterr().out
