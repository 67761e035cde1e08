"""Training loop: DeepSpeed step == PyTorch step, 2 ranks == 1 rank x 2 batch, exact resume after SIGKILL,
NaN stop, export round trip with tied weights (ZeRO-1 and ZeRO-3), user errors, no Beam import."""
from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from trainer_helpers import make_corpus

from trainer.errors import UserError
from trainer.metrics import read_metrics

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("train"), n_rows=240)


def _args(corpus, out, *extra):
    data, tok = corpus
    return ["pretrain", "--data", str(data), "--tokenizer", str(tok), "--out", str(out), "--size", "tiny",
            "--seq-len", "96", "--batch-size", "2", "--warmup-steps", "2", "--lr", "1e-3", "--log-every", "1",
            "--dropout", "0", "--no-progress", *extra]


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT", "MASTER_ADDR")}
    # One thread per process: up to five trainer processes share the CI's two cores.
    env.update({"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **extra})
    return env


def _spawn(args, **env):
    return subprocess.Popen([sys.executable, "-m", "trainer", *args], cwd=REPO, env=_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _module_state(run: Path) -> dict:
    folder = run / "checkpoints" / (run / "checkpoints" / "latest").read_text().strip()
    sd = torch.load(folder / "mp_rank_00_model_states.pt", map_location="cpu", weights_only=True)["module"]
    return sd


def _losses(run: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_metrics(run / "metrics.jsonl")}  # later lines win


def _wait(proc, timeout=300):
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def test_deepspeed_step_equals_plain_pytorch(corpus):
    from trainer.data import PackedStream, batches, find_shards, plan_units
    from trainer.masking import MaskingConfig
    from trainer.modeling import build_model, make_stage1_model
    from trainer.runtime import ds_config_for, make_lr_lambda, setup_runtime

    data, tok = corpus
    rt = setup_runtime(seed=0)
    shards = find_shards(data)
    ds = PackedStream(shards, plan_units(shards, "train", 1), tok, MaskingConfig(mask_id=2), seq_len=96)
    batch = next(batches(iter(ds), 3))
    torch.manual_seed(0)
    model = make_stage1_model(build_model("tiny", 400, {"pad": 0, "eos": 1, "mask": 2}, seq_len=96, dropout=0.0))
    plain = copy.deepcopy(model)
    inputs = (batch["input_ids"], batch["labels"], batch["segment_ids"], batch["position_ids"])

    groups = [{"params": [p for p in plain.parameters() if p.ndim >= 2], "weight_decay": 0.01},
              {"params": [p for p in plain.parameters() if p.ndim < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.98), eps=1e-6)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, make_lr_lambda(2, 10))
    loss_sum, n, _ = plain(*inputs)
    (loss_sum / n).backward()
    torch.nn.utils.clip_grad_norm_(plain.parameters(), 0.5)
    opt.step()
    sched.step()

    for config in ("zero0", "zero1", "zero2"):
        engine, _, _ = rt.initialize(copy.deepcopy(model), ds_config_for(config, 3, 1, rt, gradient_clipping=0.5, single_rank_stage0=False),
                                     lr=1e-3, warmup_steps=2, total_steps=10, weight_decay=0.01)
        loss_sum, n, _ = engine(*inputs)
        engine.backward(loss_sum / n)
        engine.step()
        diffs = [(a - b).abs().max().item() for a, b in zip(engine.module.parameters(), plain.parameters())]
        assert max(diffs) < 1e-6, (config, max(diffs))
        moved = [(a - b).abs().max().item() for a, b in zip(engine.module.parameters(), model.parameters())]
        assert max(moved) > 1e-4, "the step must change the weights"


@pytest.mark.slow
def test_two_ranks_equal_one_rank_and_resume_after_sigkill_is_exact(corpus, tmp_path):
    common = ["--data-streams", "2", "--max-steps", "4"]
    # One rank, global batch 4 (also the uninterrupted reference of the resume check) ...
    one = _spawn(_args(corpus, tmp_path / "one", *common, "--save-every", "4", "--batch-size", "4"))
    # ... two ranks with batch 2 each (the env:// protocol torchrun and the deepspeed launcher use) ...
    port = str(_free_port())
    two = [_spawn(_args(corpus, tmp_path / "two", *common, "--save-every", "4"), RANK=str(r), LOCAL_RANK=str(r),
                  WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=port) for r in (0, 1)]
    # ... and the same 1-rank run killed (SIGKILL) after its step-2 checkpoint, then resumed.
    killed_dir = tmp_path / "killed"
    killed = _spawn(_args(corpus, killed_dir, *common, "--save-every", "2", "--batch-size", "4", "--throttle", "1"))
    deadline = time.time() + 300
    latest = killed_dir / "checkpoints" / "latest"
    while time.time() < deadline and not (latest.exists() and latest.read_text().strip() == "step-00000002"):
        assert killed.poll() is None, killed.communicate()[0][-3000:]
        time.sleep(0.2)
    time.sleep(0.3)  # into step 3 (each step sleeps 1 s after its checkpoint)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert latest.read_text().strip() == "step-00000002", "the run must die before its next checkpoint"
    resumed = _spawn(_args(corpus, killed_dir, *common, "--save-every", "2", "--batch-size", "4", "--resume"))
    for p in [one, *two, resumed]:
        _wait(p)

    a, b = _module_state(tmp_path / "one"), _module_state(tmp_path / "two")
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    print(f"2-rank vs 1-rank max parameter difference: {diff:.3g}")
    assert diff < 1e-5
    la, lb = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert all(abs(la[s] - lb[s]) < 1e-5 for s in range(1, 5))

    lk = _losses(killed_dir)
    for s in range(1, 5):
        assert abs(la[s] - lk[s]) <= 1e-6 * max(1.0, abs(la[s])), (s, la[s], lk[s])
    rk = _module_state(killed_dir)
    resumed_diff = max((a[k] - rk[k]).abs().max().item() for k in a)
    print(f"resumed vs uninterrupted max parameter difference: {resumed_diff:.3g}")
    assert resumed_diff < 1e-6
    first = _module_state_at(killed_dir, "step-00000002")
    assert max((first[k] - rk[k]).abs().max().item() for k in rk) > 1e-4, "steps 3-4 must have trained"


def test_resume_is_exact_with_dropout(corpus, tmp_path):
    """The resumed run's dropout masks equal the uninterrupted run's: nothing may draw from the global
    torch RNG between restoring it and the next step (a DataLoader iterator draws its base seed there)."""
    from trainer.__main__ import main
    from trainer.runtime import latest_checkpoint

    common = ["--max-steps", "4", "--save-every", "2", "--dropout", "0.1", "--seed", "3"]
    full = tmp_path / "full"
    assert main(_args(corpus, full, *common)) == 0
    # the same run as if killed after its step-2 checkpoint: a copy rolled back to step 2, resumed
    cut = tmp_path / "cut"
    shutil.copytree(full, cut)
    shutil.rmtree(cut / "checkpoints" / "step-00000004")
    (cut / "checkpoints" / "latest").write_text("step-00000002")
    assert latest_checkpoint(cut).name == "step-00000002"
    assert main(_args(corpus, cut, *common, "--resume")) == 0
    lf, lc = _losses(full), _losses(cut)
    assert lf[1] == lc[1] and lf[2] == lc[2]
    for s in (3, 4):
        assert abs(lf[s] - lc[s]) <= 1e-6 * max(1.0, abs(lf[s])), (s, lf[s], lc[s])


def _module_state_at(run: Path, tag: str) -> dict:
    return torch.load(run / "checkpoints" / tag / "mp_rank_00_model_states.pt", map_location="cpu", weights_only=True)["module"]


def test_nan_loss_stops_with_step_and_keeps_last_checkpoint(corpus, tmp_path):
    from trainer.__main__ import main
    from trainer.runtime import latest_checkpoint

    out = tmp_path / "nan"
    rc = main(_args(corpus, out, "--max-steps", "5", "--save-every", "2", "--nan-at-step", "3"))
    assert rc == 2
    assert latest_checkpoint(out).name == "step-00000002"
    assert max(r["step"] for r in read_metrics(out / "metrics.jsonl")) == 2
    # The intact checkpoint resumes.
    assert main(_args(corpus, out, "--max-steps", "4", "--save-every", "2", "--resume")) == 0
    assert latest_checkpoint(out).name == "step-00000004"


@pytest.mark.parametrize("config", ["zero1", "zero3"])
def test_export_round_trip_keeps_tied_weights(corpus, tmp_path, config):
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    from trainer.__main__ import main

    run = tmp_path / "run"
    assert main(_args(corpus, run, "--max-steps", "2", "--save-every", "2", "--deepspeed-config", config)) == 0
    model_dir = tmp_path / "model"
    assert main(["export", "--checkpoint", str(run), "--out", str(model_dir)]) == 0
    mlm = AutoModelForMaskedLM.from_pretrained(str(model_dir))
    assert mlm.decoder.weight.data_ptr() == mlm.model.embeddings.tok_embeddings.weight.data_ptr()
    if config == "zero1":
        trained = _module_state(run)
        for name, tensor in mlm.state_dict().items():
            assert torch.equal(tensor, trained["mlm." + name]), name
    fresh = AutoModelForMaskedLM.from_config(mlm.config)
    assert not torch.equal(fresh.model.embeddings.tok_embeddings.weight, mlm.model.embeddings.tok_embeddings.weight)
    base = AutoModel.from_pretrained(str(model_dir))
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    enc = tok(["def load(self):\n    return self.value"], return_tensors="pt")
    assert enc.input_ids[0, -1].item() == tok.eos_token_id
    with torch.no_grad():
        h = base(**enc).last_hidden_state
        h2 = mlm.model(**enc).last_hidden_state
    assert torch.allclose(h, h2)
    assert json.loads((model_dir / "metrics.jsonl").read_text().splitlines()[0])["step"] == 2


def test_user_errors(corpus, tmp_path, capsys):
    from trainer.__main__ import main
    from trainer.runtime import ds_config_for, setup_runtime

    out = tmp_path / "busy"
    out.mkdir()
    (out / "something").write_text("x")
    assert main(_args(corpus, out, "--max-steps", "1")) == 2
    assert "not empty" in capsys.readouterr().err
    with pytest.raises(UserError, match="needs a GPU"):
        ds_config_for("zero3-offload-nvme", 1, 1, setup_runtime())
    assert main(_args(corpus, tmp_path / "e", "--max-steps", "1", "--split", "test")) == 2
    assert "split 'test' has no rows" in capsys.readouterr().err
    # A model folder whose vocabulary does not match the tokenizer.
    from trainer.modeling import build_model

    build_model("tiny", 5000, {"pad": 0, "eos": 1, "mask": 2}).save_pretrained(str(tmp_path / "big"))
    assert main(_args(corpus, tmp_path / "v", "--max-steps", "1", "--init", str(tmp_path / "big"))) == 2
    assert "vocabulary" in capsys.readouterr().err


def test_trainer_never_imports_beam():
    code = ("import sys, trainer.__main__, trainer.pretrain, trainer.data, trainer.export, trainer.tokenization, "
            "trainer.cmd_pretrain, trainer.cmd_tokenizer, trainer.cmd_export, trainer.modeling, trainer.runtime; "
            "bad = [m for m in sys.modules if m.startswith(('apache_beam', 'pipeline'))]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env=_env())


def test_single_rank_runs_zero1_and_zero2_as_stage0_but_keeps_stage3_and_offload(tmp_path):
    import dataclasses

    from trainer.runtime import ds_config_for, setup_runtime

    rt = setup_runtime()
    assert rt.world_size == 1
    for name in ("zero1", "zero2"):
        assert ds_config_for(name, 4, 1, rt)["zero_optimization"] == {"stage": 0}
        assert ds_config_for(name, 4, 1, rt, single_rank_stage0=False)["zero_optimization"]["stage"] == int(name[-1])
    assert ds_config_for("zero3", 4, 1, rt)["zero_optimization"]["stage"] == 3
    offload = tmp_path / "z2-offload.json"
    offload.write_text(json.dumps({"zero_optimization": {"stage": 2, "offload_optimizer": {"device": "cpu"}}}))
    assert ds_config_for(offload, 4, 1, rt)["zero_optimization"]["stage"] == 2
    two_ranks = dataclasses.replace(rt, world_size=2)  # with data-parallel ranks the configured stage runs
    assert ds_config_for("zero1", 4, 1, two_ranks)["zero_optimization"]["stage"] == 1


def test_run_writes_report_and_resume_keeps_its_settings(corpus, tmp_path, capsys):
    from trainer.__main__ import main

    out = tmp_path / "run"
    assert main(_args(corpus, out, "--max-steps", "2", "--save-every", "1")) == 0
    page = (out / "report.html").read_text()
    assert "loss" in page and 'src="loss.png"' in page and (out / "loss.png").exists()
    # a second run in the same folder without --resume is refused and changes nothing
    metrics = (out / "metrics.jsonl").read_text()
    assert main(_args(corpus, out, "--max-steps", "1")) == 2
    assert "is not empty; pass --resume" in capsys.readouterr().err
    # a resume that changes the data order, the model or the optimisation is refused, naming each setting
    assert main(_args(corpus, out, "--max-steps", "3", "--resume", "--seq-len", "64", "--batch-size", "3", "--lr", "2e-3",
                      "--size", "small")) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    for part in ("--seq-len saved 96, now 64", "global batch (--batch-size x --grad-accum x ranks) saved 2, now 3",
                 "--lr saved 0.001, now 0.002", '--size saved "tiny", now "small"'):
        assert part in err, err
    assert (out / "metrics.jsonl").read_text() == metrics
    # length, logging and checkpointing may change; the same global batch split as batch 1 x 2 accumulation too
    assert main(_args(corpus, out, "--max-steps", "3", "--resume", "--log-every", "3", "--save-every", "5",
                      "--batch-size", "1", "--grad-accum", "2")) == 0
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl")] == [1, 2, 3]
    assert "steps 1 to 3" in (out / "report.html").read_text()


def test_resume_on_another_rank_count_needs_stage_0_on_both_sides(corpus, tmp_path, capsys):
    """ZeRO 1-3 partition optimizer state per rank and DeepSpeed cannot re-partition it on load: a
    resume on another number of ranks was a raw DeepSpeed traceback. Now it is a one-line error before
    loading unless both runs ran at effective stage 0 (the saved stage is recorded in COMPLETE)."""
    from trainer.__main__ import main
    from trainer.runtime import latest_checkpoint

    run = tmp_path / "run"
    assert main(_args(corpus, run, "--max-steps", "2", "--save-every", "2")) == 0  # zero1 on 1 rank = stage 0
    complete = latest_checkpoint(run) / "COMPLETE"
    marker = json.loads(complete.read_text())
    assert marker["world_size"] == 1 and marker["zero_stage"] == 0
    capsys.readouterr()
    # as if saved by 2 ranks at ZeRO stage 1: refused, nothing changed
    complete.write_text(json.dumps({**marker, "world_size": 2, "zero_stage": 1}))
    before = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert main(_args(corpus, run, "--max-steps", "3", "--save-every", "3", "--batch-size", "1", "--grad-accum", "2",
                      "--resume")) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot re-partition ZeRO optimizer state" in err and "\n" not in err
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == before
    # saved at stage 0 by 2 ranks, resumed at stage 0 on 1 rank: allowed (ranks may change at stage 0)
    complete.write_text(json.dumps({**marker, "world_size": 2, "zero_stage": 0}))
    assert main(_args(corpus, run, "--max-steps", "3", "--save-every", "3", "--batch-size", "1", "--grad-accum", "2",
                      "--resume")) == 0
    assert latest_checkpoint(run).name == "step-00000003"
