"""Robustness of checkpoints and resumes: a broken `latest`, a step saved twice, a finished stage-2 run
resumed again, the tokenizer of a restarted or resumed run, `pretrain --resume` in a folder that is not
a stage-1 run, relative paths, SIGTERM (checkpoint + exit 143 + exact resume), a missing run.json,
TensorBoard after a resume, a torn metrics line and a failed export, stage 2's checkpoint default, and a
checkpoint save that fails for lack of disk space."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from trainer_helpers import error_line, make_corpus, make_pair_rows, tiny_bert_dir

from trainer.metrics import read_metrics
from trainer.pairs_data import write_pairs

REPO = Path(__file__).resolve().parents[1]
STAGE1 = ["--seq-len", "64", "--batch-size", "2", "--log-every", "1", "--no-progress", "--dropout", "0", "--lr", "1e-3",
          "--warmup-steps", "2"]
STAGE2 = ["--batch-size", "4", "--text-max-len", "16", "--code-max-len", "32", "--warmup", "1", "--no-progress"]


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    """A pipeline output folder OUT with files/ and pairs/, its tokenizer (OUT/../tok), a second
    tokenizer trained with another vocabulary size (OUT/../tok2) and a tiny BERT (OUT/../bert)."""
    from trainer.data import find_shards
    from trainer.tokenization import iter_contents, save_tokenizer, train_tokenizer

    root = tmp_path_factory.mktemp("robust")
    data, tok = make_corpus(root, n_rows=120)
    save_tokenizer(train_tokenizer(iter_contents(find_shards(data), "train"), 300), root / "tok2")
    write_pairs(make_pair_rows(32), data / "pairs")
    tiny_bert_dir(root / "bert")
    return data


def _tok(out: Path, name: str = "tok") -> Path:
    return out.parent / name


def _main(argv) -> int:
    from trainer.__main__ import main

    return main([str(a) for a in argv])


def _pretrain(out: Path, run: Path, *extra, tok: Path | None = None) -> list:
    return ["pretrain", "--data", out, "--tokenizer", tok or _tok(out), "--out", run, *STAGE1, *extra]


def _contrastive(out: Path, run: Path, *extra) -> list:
    return ["contrastive", "--data", out, "--init", out.parent / "bert", "--out", run, *STAGE2, *extra]


_error = error_line


def _steps(run: Path) -> list[int]:
    return [r["step"] for r in read_metrics(run / "metrics.jsonl")]


def _losses(run: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_metrics(run / "metrics.jsonl")}


def _complete(run: Path, step: int) -> dict:
    from trainer.runtime import checkpoint_tag

    return json.loads((run / "checkpoints" / checkpoint_tag(step) / "COMPLETE").read_text())


# ------------------------------------------------------------------------ 1: latest, duplicate saves


def test_a_broken_latest_pointer_falls_back_to_the_newest_complete_checkpoint(tmp_path):
    from trainer.runtime import latest_checkpoint

    run = tmp_path / "run"
    for step, complete in ((1, True), (2, True), (3, False)):
        folder = run / "checkpoints" / f"step-{step:08d}"
        folder.mkdir(parents=True)
        if complete:
            (folder / "COMPLETE").write_text(json.dumps({"step": step}))
    (run / "checkpoints" / ".tmp-step-00000004").mkdir()
    (run / "checkpoints" / "latest").write_text("step-00000009\n")  # a folder that is gone
    assert latest_checkpoint(run).name == "step-00000002"
    (run / "checkpoints" / "latest").write_text("step-00000003\n")  # an incomplete one
    assert latest_checkpoint(run).name == "step-00000002"
    (run / "checkpoints" / "latest").unlink()
    assert latest_checkpoint(run).name == "step-00000002"
    (run / "checkpoints" / "latest").write_text("step-00000001\n")  # a valid pointer is still followed
    assert latest_checkpoint(run).name == "step-00000001"


def test_pretrain_resume_with_a_broken_latest_continues_from_the_newest_checkpoint(out, tmp_path, capsys):
    run = tmp_path / "run"
    assert _main(_pretrain(out, run, "--max-steps", "2", "--save-every", "1", "--keep-checkpoints", "0")) == 0
    (run / "checkpoints" / "latest").write_text("step-00000007\n")
    capsys.readouterr()
    assert _main(_pretrain(out, run, "--max-steps", "3", "--save-every", "1", "--keep-checkpoints", "0", "--resume")) == 0
    assert "no complete checkpoint" not in capsys.readouterr().err
    assert _steps(run) == [1, 2, 3]
    assert (run / "checkpoints" / "latest").read_text().strip() == "step-00000003"


def _tiny_engine():
    import torch

    from trainer.runtime import ds_config_for, setup_runtime

    rt = setup_runtime(seed=0)
    engine, _, _ = rt.initialize(torch.nn.Linear(4, 4), ds_config_for("zero0", 1, 1, rt), lr=1e-3, warmup_steps=0, total_steps=10)
    return engine


def test_saving_a_step_again_never_leaves_latest_without_a_complete_checkpoint(tmp_path, monkeypatch):
    import trainer.runtime as runtime

    engine = _tiny_engine()
    run = tmp_path / "run"
    runtime.save_checkpoint(engine, run, 1, {"step": 1})
    runtime.save_checkpoint(engine, run, 2, {"step": 2})
    seen = []
    real_rmtree = shutil.rmtree

    def rmtree(path, *args, **kwargs):
        # whenever a folder has been deleted during the save, `latest` must resolve to a complete step-2 copy
        result = real_rmtree(path, *args, **kwargs)
        found = runtime.latest_checkpoint(run)
        seen.append((Path(path).name, None if found is None else json.loads((found / "COMPLETE").read_text())["step"]))
        return result

    monkeypatch.setattr(runtime.shutil, "rmtree", rmtree)
    folder = runtime.save_checkpoint(engine, run, 2, {"step": 2, "again": True})
    assert (".old-step-00000002", 2) in seen, seen   # the old copy is set aside, then removed
    assert all(step == 2 for _, step in seen), seen
    assert runtime.latest_checkpoint(run) == folder and (folder / "COMPLETE").is_file()
    assert (run / "checkpoints" / "latest").read_text().strip() == "step-00000002"
    assert not list((run / "checkpoints").glob(".tmp-*")) and not list((run / "checkpoints").glob(".old-*"))


def test_contrastive_saves_each_step_once_and_a_finished_run_resumed_keeps_its_summary(out, tmp_path, monkeypatch):
    import trainer.runtime as runtime

    saved = []
    real_save = runtime.save_checkpoint

    def save(engine, out_dir, step, *args, **kwargs):
        saved.append(step)
        return real_save(engine, out_dir, step, *args, **kwargs)

    monkeypatch.setattr(runtime, "save_checkpoint", save)
    run = tmp_path / "run"
    assert _main(_contrastive(out, run, "--max-steps", "2", "--save-every", "2")) == 0
    assert saved == [2]
    summary = (run / "summary.json").read_text()
    export_info = (run / "model" / "codesage_stage2.json").read_text() if (run / "model" / "codesage_stage2.json").exists() else None
    assert "NaN" not in summary and json.loads(summary)["steps"] == 2
    # the same command again with --resume: the run is at --max-steps already, nothing is trained or rewritten
    saved.clear()
    assert _main(_contrastive(out, run, "--max-steps", "2", "--save-every", "2", "--resume")) == 0
    assert saved == []
    assert (run / "summary.json").read_text() == summary
    if export_info is not None:
        assert "NaN" not in (run / "model" / "codesage_stage2.json").read_text()
    assert _steps(run) == [1, 2]


# ------------------------------------------------------------------------ 2: the run's tokenizer


def test_a_restart_from_step_0_replaces_the_tokenizer_copy_and_a_resume_refuses_another_tokenizer(out, tmp_path, capsys):
    tok = tmp_path / "tok"
    shutil.copytree(_tok(out), tok)
    run = tmp_path / "run"
    assert _main(_pretrain(out, run, "--max-steps", "1", tok=tok)) == 0
    # resumed from its checkpoint with a tokenizer retrained at the same path: refused, in one line
    shutil.rmtree(tok)
    shutil.copytree(_tok(out, "tok2"), tok)
    capsys.readouterr()
    assert _main(_pretrain(out, run, "--max-steps", "2", "--resume", tok=tok)) == 2
    err = _error(capsys)
    assert "is not the tokenizer the run" in err and "tokenizer.json" in err, err
    assert _steps(run) == [1]
    # the same run without its checkpoint restarts from step 0: its copy is the tokenizer it now trains with
    shutil.rmtree(run / "checkpoints")
    assert _main(_pretrain(out, run, "--max-steps", "1", "--resume", tok=tok)) == 0
    assert (run / "tokenizer" / "tokenizer.json").read_bytes() == (tok / "tokenizer.json").read_bytes()


# ------------------------------------------------------------------------ 3: pretrain --resume in another folder


def test_pretrain_resume_without_a_checkpoint_only_restarts_a_stage1_run_folder(out, tmp_path, capsys):
    other = tmp_path / "pipeline-out"
    other.mkdir()
    (other / "report.html").write_text("the pipeline's report")
    assert _main(_pretrain(out, other, "--max-steps", "1", "--resume")) == 2
    assert "is not a stage-1 run folder" in _error(capsys)
    assert [p.name for p in other.iterdir()] == ["report.html"]
    # a stage-1 run folder without a checkpoint: its settings are compared before it restarts from step 0
    run = tmp_path / "run"
    assert _main(_pretrain(out, run, "--max-steps", "1")) == 0
    shutil.rmtree(run / "checkpoints")
    capsys.readouterr()
    assert _main(_pretrain(out, run, "--max-steps", "1", "--resume", "--seed", "5")) == 2
    assert "--seed saved 0, now 5" in _error(capsys)
    assert _main(_pretrain(out, run, "--max-steps", "1", "--resume")) == 0


# ------------------------------------------------------------------------ 4: relative paths


def test_relative_paths_are_saved_absolute_and_a_resume_from_another_directory_works(out, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(out, work / "data")
    shutil.copytree(_tok(out), work / "tok")
    monkeypatch.chdir(work)
    assert _main(["pretrain", "--data", "data", "--tokenizer", "tok", "--out", "run", "--max-steps", "1", *STAGE1]) == 0
    record = json.loads((work / "run" / "run.json").read_text())
    for key, name in (("data", "data"), ("tokenizer", "tok"), ("out", "run")):
        assert record[key] == str(work / name), (key, record[key])
    assert _main(["contrastive", "--data", "data", "--init", out.parent / "bert", "--out", "run2", "--max-steps", "1",
                  "--no-export", "--save-every", "1", *STAGE2]) == 0
    config = json.loads((work / "run2" / "config.json").read_text())
    assert config["data"] == str(work / "data") and config["out"] == str(work / "run2")
    # from another directory, `data` there is another folder: refused; the absolute paths resume
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copytree(out, elsewhere / "data")
    shutil.copytree(_tok(out), elsewhere / "tok")
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert _main(["pretrain", "--data", "data", "--tokenizer", work / "tok", "--out", work / "run", "--max-steps", "2",
                  "--resume", *STAGE1]) == 2
    assert "--data saved" in _error(capsys)
    assert _main(["pretrain", "--data", work / "data", "--tokenizer", work / "tok", "--out", work / "run", "--max-steps", "2",
                  "--resume", *STAGE1]) == 0, capsys.readouterr().err
    assert _steps(work / "run") == [1, 2]


# ------------------------------------------------------------------------ 5: SIGTERM


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT", "MASTER_ADDR")}
    env.update({"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
                "DS_ACCELERATOR": "cpu", "PYTHONUNBUFFERED": "1"})
    return env


def test_sigterm_saves_a_checkpoint_exits_143_and_the_resume_is_exact(out, tmp_path):
    common = ["--max-steps", "6", "--save-every", "1000", "--data-streams", "1"]
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "trainer", *map(str, _pretrain(out, run, *common, "--throttle", "0.5"))],
                            cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    metrics = run / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and not (metrics.exists() and metrics.read_text().strip()):
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 143, output[-3000:]
    stopped = _steps(run)[-1]
    assert stopped < 6, "the run must stop before its end"
    tag = f"step-{stopped:08d}"
    assert f"stopped by SIGTERM at step {stopped}; checkpoint {tag} written; rerun with --resume" in output, output[-3000:]
    assert (run / "checkpoints" / "latest").read_text().strip() == tag and _complete(run, stopped)["step"] == stopped
    assert _steps(run) == list(range(1, stopped + 1))
    # the resume continues to --max-steps with the losses of an uninterrupted run
    assert _main(_pretrain(out, run, *common, "--resume")) == 0
    full = tmp_path / "full"
    assert _main(_pretrain(out, full, *common)) == 0
    lr, lf = _losses(run), _losses(full)
    assert sorted(lr) == list(range(1, 7))
    for s in range(1, 7):
        assert abs(lr[s] - lf[s]) <= 1e-6 * max(1.0, abs(lf[s])), (s, lr[s], lf[s])


def test_stop_signals_agree_and_a_second_signal_exits_at_once():
    from trainer.runtime import StopSignals

    rt = types.SimpleNamespace(world_size=1)
    before = signal.getsignal(signal.SIGINT)
    with StopSignals() as stop:
        assert stop.requested(rt) is None
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested(rt) == "SIGINT"
    assert signal.getsignal(signal.SIGINT) is before
    # a repeat within the grace window (a launcher forwarding the same signal) is the same request;
    # a later one exits at once
    code = ("import os, signal, time; from trainer.runtime import StopSignals\n"
            "StopSignals.REPEAT_GRACE_S = 1.0\n"
            "with StopSignals():\n"
            "    os.kill(os.getpid(), signal.SIGTERM); os.kill(os.getpid(), signal.SIGTERM); time.sleep(1.5)\n"
            "    print('alive', flush=True); os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 143 and done.stdout == "alive\n" and "SIGTERM again" in done.stderr, done.stderr


def test_dataloader_workers_survive_a_signal_to_the_whole_process_group():
    """torchrun and Slurm signal the rank's process group: the workers must not die before the rank
    saves (they failed its next batch: 'DataLoader worker exited unexpectedly')."""
    code = """
import os, signal, time, torch
from torch.utils.data import IterableDataset
from trainer.data import make_loader
from trainer.runtime import StopSignals

class Slow(IterableDataset):
    def __iter__(self):
        for i in range(200):
            time.sleep(0.01)
            yield torch.tensor(i)

with StopSignals() as stop:
    n = 0
    for _ in make_loader(Slow(), num_workers=2, prefetch_factor=2):
        n += 1
        if n == 5:
            os.killpg(os.getpgrp(), signal.SIGTERM)
        if n == 60:
            break
print(stop.received, n)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=120, start_new_session=True)
    assert done.returncode == 0 and done.stdout.split() == ["SIGTERM", "60"], done.stderr[-2000:]


def test_slurm_script_sends_sigterm_to_the_job_steps_before_the_time_limit():
    text = (REPO / "deploy" / "deepspeed" / "slurm.sbatch").read_text()
    assert "#SBATCH --signal=TERM@" in text


# ------------------------------------------------------------------------ 6: run.json


def test_a_missing_or_empty_run_json_beside_a_checkpoint_is_refused(out, tmp_path, capsys):
    run = tmp_path / "run"
    assert _main(_pretrain(out, run, "--max-steps", "1")) == 0
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # no temporary file left
    (run / "run.json").write_text("")
    capsys.readouterr()
    assert _main(_pretrain(out, run, "--max-steps", "2", "--resume", "--lr", "5e-3")) == 2
    assert "run.json is missing or unreadable" in _error(capsys)
    (run / "run.json").unlink()
    assert _main(_pretrain(out, run, "--max-steps", "2", "--resume")) == 2
    assert "run.json is missing or unreadable" in _error(capsys)
    assert _steps(run) == [1]


# ------------------------------------------------------------------------ 7: TensorBoard


def test_tensorboard_purges_a_killed_runs_steps_and_a_restart_removes_old_events(tmp_path, monkeypatch):
    from trainer.metrics import MetricsLogger

    made = []

    class FakeWriter:
        def __init__(self, log_dir=None, purge_step=None, **kwargs):
            made.append({"log_dir": log_dir, "purge_step": purge_step})

        def add_scalar(self, *args, **kwargs):
            pass

        def close(self):
            pass

    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = FakeWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    with MetricsLogger(tmp_path, progress=False, initial_step=4, drop_after=4) as log:
        log.log(5, loss=1.0)
    assert made[-1]["purge_step"] == 5
    events = tmp_path / "tensorboard" / "events.out.tfevents.123.host"
    events.parent.mkdir(exist_ok=True)
    events.write_text("old run")
    with MetricsLogger(tmp_path, progress=False, initial_step=0, drop_after=0):
        pass
    assert not events.exists()


# ------------------------------------------------------------------------ 8: export


@pytest.fixture(scope="module")
def run1(out, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("export") / "run1"
    assert _main(_pretrain(out, run, "--max-steps", "2", "--save-every", "1")) == 0
    return run


def test_export_skips_a_torn_metrics_line(run1, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run1, run)
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 3, "lo')
    assert _main(["export", "--checkpoint", run, "--out", tmp_path / "model"]) == 0
    assert read_metrics(tmp_path / "model" / "metrics.jsonl")[0]["loss"] == _losses(run1)[2]


def test_a_failed_export_leaves_no_output_folder_and_a_retry_works(run1, tmp_path, monkeypatch, capsys):
    import trainer.export as export

    def broken_copy(*args, **kwargs):
        raise OSError(28, "No space left on device")

    model = tmp_path / "model"
    monkeypatch.setattr(export.shutil, "copy2", broken_copy)
    with pytest.raises(OSError):
        export.export_checkpoint(run1, model)
    assert not model.exists() or not any(model.iterdir())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    monkeypatch.undo()
    assert _main(["export", "--checkpoint", run1, "--out", model]) == 0
    assert (model / "model.safetensors").is_file() and (model / "export.json").is_file()


# ------------------------------------------------------------------------ 9: stage-2 checkpoints by default


def test_contrastive_checkpoints_by_default_as_pretrain_does():
    from trainer.cli import Parser
    from trainer.cmd_contrastive import add_arguments
    from trainer.contrastive import ContrastiveConfig
    from trainer.pretrain import PretrainConfig

    assert ContrastiveConfig(data="", init="", out="").save_every == PretrainConfig(data="", tokenizer="", out="").save_every > 0
    parser = Parser(prog="contrastive")
    add_arguments(parser)
    text = " ".join(parser.format_help().split())
    assert f"(default {PretrainConfig.save_every}, as in pretrain; 0: no checkpoints" in text, text


# ------------------------------------------------------------------------ 11: a save that fails (disk full)


@pytest.mark.parametrize("failure", [
    OSError(28, "No space left on device"),
    # what torch.save really raises on a full disk
    RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0: No space left on device"),
])
def test_a_checkpoint_save_that_fails_names_the_last_good_checkpoint(out, tmp_path, monkeypatch, capsys, failure):
    import torch

    run = tmp_path / "run"
    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        if "step-00000002" in str(f):
            raise failure
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    assert _main(_pretrain(out, run, "--max-steps", "3", "--save-every", "1", "--keep-checkpoints", "0")) == 2
    err = _error(capsys)
    assert "could not write the checkpoint" in err and "No space left on device" in err and "step-00000001" in err, err
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest", "step-00000001"]
    monkeypatch.undo()
    assert _main(_pretrain(out, run, "--max-steps", "3", "--save-every", "1", "--keep-checkpoints", "0", "--resume")) == 0
    assert (run / "checkpoints" / "latest").read_text().strip() == "step-00000003"
