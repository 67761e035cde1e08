"""The training report: curves as PNGs beside the run, a page with final values and evaluation."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from trainer.report import read_metrics, write_training_report


def _write_run(run: Path, steps: int = 40) -> None:
    run.mkdir(parents=True, exist_ok=True)
    with open(run / "metrics.jsonl", "w") as fh:
        for step in range(1, steps + 1):
            lr = 3e-4 * min(1.0, step / 10) * (1 - step / (steps + 1))
            fh.write(json.dumps({"step": step, "loss": 8.0 * math.exp(-step / 15) + 1.0, "mlm_loss": 4.0 / step,
                                 "lr": lr, "tokens_per_s": 1000 + 10 * step, "packing_efficiency": 0.9,
                                 "note": "text fields are ignored"}) + "\n")
        fh.write('{"step": 41, "loss": 1.')  # a torn last line from a killed run


def _non_blank(path: Path) -> bool:
    image = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    return image.std() > 15 and 0.005 < (image < 200).mean() < 0.8


def test_report_writes_curves_and_final_values(tmp_path: Path):
    run = tmp_path / "run"
    _write_run(run)
    assert len(read_metrics(str(run / "metrics.jsonl"))) == 40
    page = Path(write_training_report(run)).read_text()
    for name in ("loss.png", "lr.png", "throughput.png", "other.png"):
        assert (run / name).exists() and _non_blank(run / name), name
        assert f'src="{name}"' in page
    # final values table: the last loss of the run and the minimum of mlm_loss
    assert f"{8.0 * math.exp(-40 / 15) + 1.0:.4g}" in page
    assert f"{4.0 / 40:.4g}" in page
    assert "No evaluation results" in page


def test_report_includes_evaluation_json_and_skips_missing_curves(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "loss": 2.0 / s}) + "\n" for s in range(1, 6)))
    (run / "eval.json").write_text(json.dumps({"pairs": {"split": "test", "mrr": 0.4321, "convention": "MRR over the split's pool"},
                                               "bm25": {"mrr": 0.1234}}))
    page = Path(write_training_report(run)).read_text()
    assert (run / "loss.png").exists() and not (run / "lr.png").exists()
    assert "pairs.mrr" in page and "0.4321" in page and "bm25.mrr" in page and "MRR over the split" in page


def test_cli_without_metrics_is_one_clear_sentence(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "trainer.report", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "has no metrics.jsonl" in proc.stderr


def test_report_problems_at_the_end_of_a_run_are_a_warning(tmp_path: Path, capsys):
    from trainer.report import report_at_end_of_run

    run = tmp_path / "run"
    run.mkdir()
    (run / "model.safetensors").write_text("trained weights")
    assert report_at_end_of_run(str(run)) is None  # no metrics.jsonl: nothing raised
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning:") and "python -m trainer.report" in err[0]
    assert (run / "model.safetensors").read_text() == "trained weights"
    _write_run(run, steps=5)
    assert Path(report_at_end_of_run(str(run))).name == "report.html"
