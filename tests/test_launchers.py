"""Multi-rank training through the real launchers equals the single-process run.

`python -m trainer pretrain` runs three times on the same tiny corpus, with the same global batch of 4
packed sequences per step and ZeRO stage 1 (deploy/deepspeed/zero1.json, the trainer's default, so the
optimizer state really is partitioned across ranks):

* 1 process, --batch-size 4 (no launcher: rank 0 of 1);
* `deepspeed --num_gpus 2 --no_local_rank --module trainer pretrain ... --batch-size 2` (2 CPU ranks, gloo);
* `torchrun --nproc_per_node 2 -m trainer pretrain ... --batch-size 2`.

`--data-streams 2` fixes the number of data streams, which makes the multiset of sequences in each
global batch independent of the world size (trainer/data.py), and dropout is off; so the 2-rank
parameters must equal the 1-rank ones up to float summation order. The test prints the max absolute
parameter difference and compares it with how far two optimizer steps moved the parameters, so a
wrong batch split (which changes the update by the order of the update itself) cannot pass.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STEPS = 3
GLOBAL_BATCH = 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(REPO)) if p)
    return env


def run_launcher(cmd: list[str], log: Path, timeout: float = 400) -> None:
    """Run `cmd` in its own process group; kill the whole group on timeout or failure."""
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=_env(), cwd=str(REPO),
                                start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            else:
                try:  # ranks orphaned by a crashed launcher
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    assert code == 0, f"{' '.join(cmd)} exited with {code}:\n{log.read_text()[-6000:]}"


def pretrain_args(data: Path, tok: Path, out: Path, batch_size: int) -> list[str]:
    return [
        "pretrain", "--data", str(data), "--tokenizer", str(tok), "--out", str(out),
        "--size", "tiny", "--seq-len", "64", "--max-steps", str(STEPS), "--batch-size", str(batch_size),
        "--data-streams", "2", "--dropout", "0", "--deepspeed-config", "zero1",
        "--warmup-steps", "1", "--unit-rows", "16", "--shuffle-buffer", "64",
        "--save-every", "1", "--keep-checkpoints", "0", "--log-every", "1", "--no-progress", "--seed", "3",
    ]


def load_params(run: Path, step: int):
    import torch

    path = run / "checkpoints" / f"step-{step:08d}" / "mp_rank_00_model_states.pt"
    return torch.load(path, map_location="cpu", weights_only=True)["module"]


def max_abs_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from trainer_helpers import make_corpus

    return make_corpus(tmp_path_factory.mktemp("launch-corpus"), n_rows=120, vocab_size=300)


@pytest.fixture(scope="module")
def single_rank(corpus, tmp_path_factory):
    data, tok = corpus
    out = tmp_path_factory.mktemp("rank1") / "run"
    run_launcher([sys.executable, "-m", "trainer", *pretrain_args(data, tok, out, GLOBAL_BATCH)], out.parent / "log.txt")
    return out


def _check_equal(single: Path, multi: Path, launcher: str) -> None:
    reference = load_params(single, STEPS)
    moved = max_abs_diff(load_params(single, 1), reference)   # two optimizer steps' worth of change
    diff = max_abs_diff(reference, load_params(multi, STEPS))
    print(f"\n{launcher}: 2 ranks x batch {GLOBAL_BATCH // 2} vs 1 rank x batch {GLOBAL_BATCH}, "
          f"{STEPS} steps, ZeRO-1: max |param difference| = {diff:.3e} "
          f"(parameters moved up to {moved:.3e} between steps 1 and {STEPS})")
    assert moved > 1e-5, "training did not move the parameters; the comparison would be vacuous"
    assert diff <= 1e-6 and diff <= 1e-2 * moved
    assert sorted(p.name for p in (multi / "checkpoints" / f"step-{STEPS:08d}").glob("rng-rank*.pt")) == [
        "rng-rank00000.pt", "rng-rank00001.pt"], "the run did not have two ranks"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_deepspeed_launcher_two_cpu_ranks_equal_one_rank(corpus, single_rank, tmp_path):
    if shutil.which("deepspeed", path=os.path.dirname(sys.executable)) is None:
        pytest.fail("the deepspeed launcher is not installed beside this Python (pip install deepspeed)")
    data, tok = corpus
    out = tmp_path / "run"
    cmd = [os.path.join(os.path.dirname(sys.executable), "deepspeed"), "--num_gpus", "2",
           "--master_port", str(_free_port()), "--no_local_rank", "--module", "trainer",
           *pretrain_args(data, tok, out, GLOBAL_BATCH // 2)]
    run_launcher(cmd, tmp_path / "log.txt")
    _check_equal(single_rank, out, "deepspeed launcher")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_torchrun_two_cpu_ranks_equal_one_rank(corpus, single_rank, tmp_path):
    data, tok = corpus
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           "-m", "trainer", *pretrain_args(data, tok, out, GLOBAL_BATCH // 2)]
    run_launcher(cmd, tmp_path / "log.txt")
    _check_equal(single_rank, out, "torchrun")
