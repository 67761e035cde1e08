"""Stage-2 loop: DeepSpeed path == plain PyTorch (direct and GradCache), CLI run + export + resume,
bad inputs."""
from __future__ import annotations

import json

import pytest
import torch
from transformers import BertConfig, BertModel

from trainer.encoder import Encoder, load_tokenizer, packaged_minilm_dir
from trainer.errors import UserError
from trainer.gradcache import step_forward_backward
from trainer.losses import contrastive_loss
from trainer.pairs_data import write_pairs
from trainer_helpers import make_pair_rows

# (summary, code, code_hard) rows of one-line functions: the same generator as the usage tests
synthetic_rows = make_pair_rows


def tiny_model_dir(path):
    torch.manual_seed(0)
    tok = load_tokenizer(packaged_minilm_dir())
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path


def _tiny_encoder(seed=0):
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, max_position_embeddings=32)
    return Encoder(BertModel(cfg))


def _batch(n, length, seed):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, length + 1, (n,), generator=g)
    mask = (torch.arange(length)[None, :] < lengths[:, None]).long()
    return {"input_ids": torch.randint(3, 60, (n, length), generator=g) * mask, "attention_mask": mask}


@pytest.mark.parametrize("zero,chunk,buckets", [("zero1", 0, 1), ("zero1", 0, 3), ("zero2", 0, 3), ("zero2", 3, 1), ("zero3", 3, 1), ("zero3", 0, 3)])
def test_deepspeed_step_equals_plain_pytorch(zero, chunk, buckets):
    from trainer.runtime import ds_config_for, setup_runtime

    rt = setup_runtime(seed=0)
    text, code = _batch(8, 6, 1), _batch(8, 12, 2)
    loss_fn = lambda t, c: contrastive_loss(t, c)  # noqa: E731

    plain = _tiny_encoder()
    decay = [p for p in plain.parameters() if p.ndim >= 2]
    no_decay = [p for p in plain.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-2, betas=(0.9, 0.98), eps=1e-6)
    loss_plain = step_forward_backward(plain, text, code, loss_fn, chunk_size=chunk, buckets=1)
    torch.nn.utils.clip_grad_norm_(plain.parameters(), 1.0)
    opt.step()

    model = _tiny_encoder()
    cfg = ds_config_for(zero, 8, 1, rt, gradient_clipping=1.0, single_rank_stage0=False)  # the real ZeRO code path
    engine, _, _ = rt.initialize(model, cfg, lr=1e-2, warmup_steps=0, total_steps=10, weight_decay=0.01)
    loss_ds = step_forward_backward(engine, text, code, loss_fn, chunk_size=chunk, buckets=buckets, backward=engine.backward,
                                    set_boundary=engine.set_gradient_accumulation_boundary)
    engine.step()
    assert abs(loss_plain.item() - loss_ds.item()) < 1e-5
    for (name, a), b in zip(plain.named_parameters(), engine.module.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_cli_trains_exports_and_resumes(tmp_path):
    from trainer.__main__ import main
    from trainer.metrics import read_metrics

    data = write_pairs(synthetic_rows(64), tmp_path / "pairs")
    model = tiny_model_dir(tmp_path / "init")
    base = ["contrastive", "--data", str(data), "--init", str(model), "--batch-size", "8", "--lr", "1e-3", "--warmup", "2",
            "--text-max-len", "16", "--code-max-len", "32", "--no-progress", "--seed", "3"]
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(base + ["--out", str(full), "--max-steps", "6", "--grad-cache-chunk", "4"]) == 0
    losses_full = [r["loss"] for r in read_metrics(full / "metrics.jsonl")]
    assert len(losses_full) == 6 and all(r == r for r in losses_full)
    assert (full / "model" / "modules.json").exists() and (full / "model" / "model.safetensors").exists()
    # stopped by a (tiny) time budget after its first step, checkpointed there, then resumed: every later
    # loss equals the uninterrupted run's (weights, optimizer, scheduler, RNG and data order restored)
    assert main(base + ["--out", str(part), "--max-steps", "6", "--grad-cache-chunk", "4", "--save-every", "3", "--max-minutes", "1e-9"]) == 0
    assert main(base + ["--out", str(part), "--max-steps", "6", "--grad-cache-chunk", "4", "--resume"]) == 0
    resumed = {r["step"]: r["loss"] for r in read_metrics(part / "metrics.jsonl")}
    assert sorted(resumed) == [1, 2, 3, 4, 5, 6]
    for step in (2, 3, 4, 5, 6):
        assert resumed[step] == pytest.approx(losses_full[step - 1], rel=1e-4)
    cfg = json.loads((full / "config.json").read_text())
    assert cfg["hard_negatives"] is True and cfg["gamma_scale"] == "2n-2"


def test_bad_inputs(tmp_path, capsys):
    from trainer.__main__ import main
    from trainer.pairs_data import PairStream, read_pairs

    data = write_pairs(synthetic_rows(10), tmp_path / "pairs")
    with pytest.raises(UserError, match="empty"):
        read_pairs(data, "test", ["summary", "code_hard"])
    with pytest.raises(UserError, match="fewer than one global batch"):
        PairStream.from_pairs(data, "train", "summary", "code_hard", 32)
    import pyarrow as pa
    import pyarrow.parquet as pq

    bad = tmp_path / "bad"
    bad.mkdir()
    pq.write_table(pa.table({"summary": ["a"], "split": ["train"]}), bad / "part-00000-of-00001.parquet")
    with pytest.raises(UserError, match="code_hard"):
        read_pairs(bad, "train", ["summary", "code_hard"])
    assert main(["contrastive", "--data", str(tmp_path / "nowhere"), "--init", "minilm", "--out", str(tmp_path / "o")]) == 2
    assert "no Parquet shards" in capsys.readouterr().err


def test_cli_name_queries(tmp_path):
    from trainer.__main__ import main

    data = write_pairs(synthetic_rows(32), tmp_path / "pairs")
    model = tiny_model_dir(tmp_path / "init")
    out = tmp_path / "run"
    assert main(["contrastive", "--data", str(data), "--init", str(model), "--out", str(out), "--batch-size", "8", "--max-steps", "2",
                 "--warmup", "1", "--text-max-len", "16", "--code-max-len", "32", "--no-progress", "--no-export",
                 "--name-queries", "0.5", "--name-query-docs"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["name_queries"] == 0.5 and cfg["name_query_docs"] is True and 0 < cfg["name_query_rows"] < 32
    assert json.loads((out / "summary.json").read_text())["name_query_rows"] == cfg["name_query_rows"]


def test_cli_run_folder_report_rerun_and_resume_settings(tmp_path, capsys):
    from trainer.__main__ import main
    from trainer.metrics import read_metrics

    data = write_pairs(synthetic_rows(32), tmp_path / "pairs")
    model = tiny_model_dir(tmp_path / "init")
    out = tmp_path / "run"
    base = ["contrastive", "--data", str(data), "--init", str(model), "--out", str(out), "--warmup", "1",
            "--text-max-len", "16", "--no-progress", "--no-export"]
    # stopped by its time budget after step 1: the report is written all the same
    assert main(base + ["--max-steps", "3", "--batch-size", "4", "--code-max-len", "32", "--save-every", "1",
                        "--max-minutes", "1e-9"]) == 0
    assert "loss" in (out / "report.html").read_text() and (out / "loss.png").exists()
    metrics = (out / "metrics.jsonl").read_text()
    capsys.readouterr()
    # the same command again, without --resume: refused, the run untouched (no step 1,1 in metrics, no new latest)
    assert main(base + ["--max-steps", "1", "--batch-size", "2"]) == 2
    assert "is not empty; pass --resume" in capsys.readouterr().err
    assert (out / "metrics.jsonl").read_text() == metrics
    assert (out / "checkpoints" / "latest").read_text().strip() == "step-00000001"
    # resuming with another batch, code length or code column: refused, naming each
    assert main(base + ["--max-steps", "3", "--batch-size", "2", "--code-max-len", "64", "--code-column", "code", "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    for part in ("--code-max-len saved 32, now 64", "global batch (--batch-size x ranks) saved 4, now 2",
                 '--code-column saved "code_hard", now "code"'):
        assert part in err, err
    assert (out / "metrics.jsonl").read_text() == metrics
    # more steps, no time budget, other logging: allowed
    assert main(base + ["--max-steps", "2", "--batch-size", "4", "--code-max-len", "32", "--log-every", "2", "--resume"]) == 0
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl")] == [1, 2]


def test_cli_logs_the_lr_each_step_used_and_the_epoch_consumed(tmp_path):
    from trainer.__main__ import main
    from trainer.metrics import read_metrics
    from trainer.runtime import make_lr_lambda

    data = write_pairs(synthetic_rows(32), tmp_path / "pairs")  # 32 pairs, batch 8: 4 steps per epoch
    model = tiny_model_dir(tmp_path / "init")
    out = tmp_path / "run"
    assert main(["contrastive", "--data", str(data), "--init", str(model), "--out", str(out), "--batch-size", "8", "--max-steps", "3",
                 "--lr", "1e-3", "--warmup", "2", "--text-max-len", "16", "--code-max-len", "32", "--no-progress", "--no-export"]) == 0
    rows = read_metrics(out / "metrics.jsonl")
    fn = make_lr_lambda(2, 3)
    assert [r["lr"] for r in rows] == pytest.approx([1e-3 * fn(s) for s in range(3)])  # 5e-4 at step 1, not step 2's
    assert [r["epoch"] for r in rows] == pytest.approx([0.25, 0.5, 0.75])  # fraction of the pairs consumed after the step


def test_matryoshka_dims_are_checked_before_the_run_folder(tmp_path, capsys):
    from trainer.__main__ import main
    from trainer.losses import matryoshka_loss

    data = write_pairs(synthetic_rows(16), tmp_path / "pairs")
    model = tiny_model_dir(tmp_path / "init")  # hidden size 32
    out = tmp_path / "run"
    base = ["contrastive", "--data", str(data), "--init", str(model), "--out", str(out), "--batch-size", "4", "--max-steps", "1",
            "--no-progress", "--no-export"]
    assert main(base + ["--matryoshka-dims", "16,128"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1] == "error: --matryoshka-dims 128 exceed the model's embedding size 32; use sizes up to 32", err
    assert main(base + ["--matryoshka-dims", "16,16"]) == 2
    assert "distinct" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ValueError, match="outside"):
        matryoshka_loss(torch.randn(4, 8), torch.randn(4, 8), [4, 16])


def test_cli_resume_logs_each_step_once(tmp_path):
    import shutil

    from trainer.__main__ import main
    from trainer.metrics import read_metrics

    data = write_pairs(synthetic_rows(32), tmp_path / "pairs")
    model = tiny_model_dir(tmp_path / "init")
    full, cut = tmp_path / "full", tmp_path / "cut"
    base = ["contrastive", "--data", str(data), "--init", str(model), "--batch-size", "8", "--max-steps", "4", "--save-every", "2",
            "--lr", "1e-3", "--warmup", "1", "--text-max-len", "16", "--code-max-len", "32", "--no-progress", "--no-export"]
    assert main(base + ["--out", str(full)]) == 0
    # the same run as if killed after its step-2 checkpoint: metrics.jsonl still holds steps 3 and 4
    shutil.copytree(full, cut)
    shutil.rmtree(cut / "checkpoints" / "step-00000004")
    (cut / "checkpoints" / "latest").write_text("step-00000002\n")
    assert main(base + ["--out", str(cut), "--resume"]) == 0
    rows = read_metrics(cut / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert [r["loss"] for r in rows] == pytest.approx([r["loss"] for r in read_metrics(full / "metrics.jsonl")], rel=1e-4)


def test_cli_checkpoint_keeping_threads_and_clip_flags_match_pretrain(tmp_path):
    """contrastive kept every checkpoint (no --keep-checkpoints), had no --threads, and spelled the
    clipping flag differently from pretrain; both commands now accept the same names."""
    from trainer.__main__ import main
    from trainer.cmd_contrastive import add_arguments as contrastive_args
    from trainer.cmd_pretrain import add_arguments as pretrain_args

    data = write_pairs(synthetic_rows(32), tmp_path / "pairs")
    model = tiny_model_dir(tmp_path / "init")
    out = tmp_path / "run"
    assert main(["contrastive", "--data", str(data), "--init", str(model), "--batch-size", "4", "--max-steps", "4",
                 "--text-max-len", "16", "--code-max-len", "32", "--no-progress", "--no-export", "--save-every", "1",
                 "--keep-checkpoints", "1", "--threads", "1", "--grad-clip", "0.5", "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "checkpoints").glob("step-*")) == ["step-00000004"]
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["keep_checkpoints"], cfg["threads"], cfg["gradient_clipping"]) == (1, 1, 0.5)
    import argparse

    for add in (contrastive_args, pretrain_args):
        parser = argparse.ArgumentParser()
        add(parser)
        flags = {s for a in parser._actions for s in a.option_strings}
        assert {"--grad-clip", "--gradient-clipping", "--keep-checkpoints", "--threads"} <= flags
