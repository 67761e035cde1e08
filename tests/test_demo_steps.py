"""The demo's step bookkeeping (fast, no training): a finished step is reused only when it was made
with this run's settings and no earlier step ran; budget-derived flags are not settings; a data step
that leaves the train or test split of the pairs empty stops the demo before any training; the stage-2
run folder gets its own copy of the evaluation, so its report can be rebuilt from the folder alone."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from trainer.cmd_demo import Step, _run_step, check_pair_splits, write_run_reports
from trainer.errors import UserError
from trainer.pairs_data import write_pairs


def _step(out: Path, *flags: str) -> Step:
    target = out / "made"
    # writes its flags into its output file, so a test can tell which run made the output
    code = f"import sys, pathlib; pathlib.Path({str(target)!r}).write_text(' '.join(sys.argv[1:]))"
    return Step("data", "test step", [sys.executable, "-c", code, *flags], lambda: target.exists(),
                estimate_s=1, output=target)


def _run(out: Path, step: Step, upstream_ran: bool = False, logs: list | None = None):
    return _run_step(1, 1, step, {}, (logs if logs is not None else []).append, out, upstream_ran)


def test_finished_step_is_reused_only_with_the_same_settings(tmp_path):
    out = tmp_path
    assert _run(out, _step(out, "--test-fraction", "0.05")) is not None
    assert (out / "made").read_text() == "--test-fraction 0.05"
    logs: list[str] = []
    assert _run(out, _step(out, "--test-fraction", "0.05"), logs=logs) is None  # reused
    assert any("made by" in line and "--test-fraction 0.05" in line for line in logs)
    # another setting: redone, and the old output replaced
    logs = []
    assert _run(out, _step(out, "--test-fraction", "0.3"), logs=logs) is not None
    assert (out / "made").read_text() == "--test-fraction 0.3"
    assert any("other settings" in line for line in logs)
    assert _run(out, _step(out, "--test-fraction", "0.3")) is None


def test_budget_flags_are_not_settings_and_an_earlier_run_forces_a_redo(tmp_path):
    out = tmp_path
    assert _run(out, _step(out, "--size", "tiny", "--max-steps", "69", "--save-every", "5")) is not None
    # the demo derives step counts from the time left: another count is the same step
    assert _run(out, _step(out, "--size", "tiny", "--max-steps", "33", "--save-every", "3")) is None
    assert _run(out, _step(out, "--size", "small", "--max-steps", "33")) is not None
    # an earlier step ran (its output is new): this one is redone whatever its settings
    assert _run(out, _step(out, "--size", "small", "--max-steps", "33"), upstream_ran=True) is not None


def test_output_without_a_record_is_redone(tmp_path):
    out = tmp_path
    (out / "made").write_text("left by an interrupted run")
    logs: list[str] = []
    assert _run(out, _step(out, "--x", "1"), logs=logs) is not None
    assert (out / "made").read_text() == "--x 1"
    assert any("did not finish" in line for line in logs)


def test_empty_test_or_train_split_stops_before_training(tmp_path):
    rows = [{"summary": f"does thing {i}", "code": f"x = {i}", "code_hard": f"x = {i}", "split": "train"} for i in range(4)]
    only_train = write_pairs(rows, tmp_path / "a")
    with pytest.raises(UserError, match=r"no pair into the 'test' split.*--test-fraction"):
        check_pair_splits(only_train)
    only_test = write_pairs([{**r, "split": "test"} for r in rows], tmp_path / "b")
    with pytest.raises(UserError, match=r"'train' split"):
        check_pair_splits(only_test)
    both = write_pairs(rows[:3] + [{**rows[3], "split": "test"}], tmp_path / "c")
    check_pair_splits(both)


def test_stage2_report_reads_the_evaluation_copied_into_its_run_folder(tmp_path):
    from trainer.report import write_training_report

    out = tmp_path / "demo"
    stage1, stage2 = out / "stage1", out / "stage2"
    for run in (stage1, stage2):
        run.mkdir(parents=True)
        (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "loss": 3.0 / s}) + "\n" for s in range(1, 4)))
    result = {"mrr": 0.25, "recall@1": 0.1, "recall@10": 0.5, "queries": 18, "pool": 18, "convention": "pool = the split"}
    evaluation = {"split": "test", "systems": {"bm25": {"pairs_summary_to_code_hard": result},
                                                str(stage2 / "model"): {"pairs_summary_to_code_hard": result}}}
    (out / "eval.json").write_text(json.dumps(evaluation))
    reports = write_run_reports(stage1, stage2, out / "eval.json")
    assert json.loads((stage2 / "eval.json").read_text()) == evaluation
    page = (stage2 / "report.html").read_text()
    assert str(stage2 / "report.html") in reports
    assert "from eval.json (relative to the run folder)" in page and "pairs_summary_to_code_hard" in page
    assert "No evaluation results" in (stage1 / "report.html").read_text()
    # rebuilt from the folder alone (python -m trainer.report STAGE2): the same evaluation section
    (stage2 / "report.html").unlink()
    rebuilt = Path(write_training_report(stage2)).read_text()
    assert rebuilt.split('<section id="evaluation">')[1] == page.split('<section id="evaluation">')[1]
