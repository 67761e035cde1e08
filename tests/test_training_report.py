"""The training report: curves as PNGs beside the run, a page with final values and evaluation."""
from __future__ import annotations

import html
import json
import math
import re
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


# --------------------------------------------------------------------------- runs shaped like the demo's


def _stage1_run(run: Path, last_step: int = 72, max_steps: int = 72) -> None:
    """pretrain's files: run.json, and an entry every 5 steps whose masked_tokens/seconds are window sums
    (500 tokens and 0.5 s per step); the last window, steps 71-72, covers 2 steps; dobf_share null at 45."""
    run.mkdir(parents=True, exist_ok=True)
    (run / "run.json").write_text(json.dumps({"max_steps": max_steps, "log_every": 5, "lr": 3e-4}))
    steps = list(range(5, last_step + 1, 5)) + ([last_step] if last_step % 5 else [])
    previous, lines = 0, []
    for step in steps:
        window = step - previous
        previous = step
        lines.append(json.dumps({"step": step, "time": 1.0e9 + step, "loss": 9.0 - step / 100, "accuracy": 0.01 * (step % 7),
                                 "lr": 3e-4 * (1 - step / 73), "tokens_per_s": 5000.0 + step,
                                 "masked_tokens": 500 * window, "dobf_share": None if step == 45 else 0.5,
                                 "seconds": 0.5 * window}) + "\n")
    (run / "metrics.jsonl").write_text("".join(lines))


def _stage2_run(run: Path, eval_data: dict | None = None) -> None:
    """contrastive's files: config.json (max_steps 59, --max-minutes 0.99) and summary.json of a run
    stopped by its time limit after step 46, an entry every step, pairs_per_s a running average."""
    run.mkdir(parents=True, exist_ok=True)
    (run / "model").mkdir()
    (run / "config.json").write_text(json.dumps({"max_steps": 59, "max_minutes": 0.99, "log_every": 1, "temperature": 0.05}))
    (run / "summary.json").write_text(json.dumps({"steps": 46, "final_loss": 20.0, "seconds": 59.7}))
    (run / "metrics.jsonl").write_text("".join(
        json.dumps({"step": s, "loss": 25.0 - s / 10 + (s % 3), "lr": 1e-4, "pairs_per_s": 4.0 + s / 5, "epoch": s / 75}) + "\n"
        for s in range(1, 47)))
    if eval_data is not None:
        (run / "eval.json").write_text(json.dumps(eval_data))


PAIRS_CONVENTION = "held-out pairs: text of each query pair ranks the code column of EVERY pair in the split"
C2C_CONVENTION = "code-to-code: groups = pairs of the split with the same language"


def _eval_data(model: str, pool: int = 18) -> dict:
    def pairs(mrr):
        return {"mrr": mrr, "recall@1": mrr / 2, "recall@10": 0.9, "queries": pool, "pool": pool, "convention": PAIRS_CONVENTION}

    c2c = {"map": None, "queries": 0, "groups": 0, "convention": C2C_CONVENTION, "note": "no groups in this split"}
    return {"split": "test", "systems": {
        "bm25": {"pairs_summary_to_code_hard": pairs(0.5187), "pairs_summary_to_code": pairs(0.6213), "code_to_code": c2c},
        model: {"pairs_summary_to_code_hard": pairs(0.3058), "pairs_summary_to_code": pairs(0.2880), "code_to_code": c2c}}}


def _spy_plots(monkeypatch) -> dict[str, list[dict]]:
    """What each PNG shows: per visible panel its title, y label, legend texts and lines' data."""
    from matplotlib.figure import Figure

    captured: dict[str, list[dict]] = {}
    original = Figure.savefig

    def savefig(self, path, *args, **kwargs):
        captured[Path(path).name] = [
            {"title": ax.get_title(), "ylabel": ax.get_ylabel(),
             "legend": [t.get_text() for t in ax.get_legend().get_texts()] if ax.get_legend() else [],
             "lines": [(list(map(float, ln.get_xdata())), list(map(float, ln.get_ydata()))) for ln in ax.get_lines()]}
            for ax in self.axes if ax.get_visible()]
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return captured


def _table_row(page: str, section: str, first_cell: str) -> list[str]:
    """The cells (tags stripped) of the row of `section` whose first cell is `first_cell`."""
    part = page.split(f'<section id="{section}">')[1].split("</section>")[0]
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", part, re.S):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in {section}")


def test_every_panel_has_a_y_label_and_raw_and_mean_lines_are_named(tmp_path: Path, monkeypatch):
    plots = _spy_plots(monkeypatch)
    _stage2_run(tmp_path / "stage2")
    write_training_report(tmp_path / "stage2")
    _stage1_run(tmp_path / "stage1")
    write_training_report(tmp_path / "stage1")
    assert set(plots) == {"loss.png", "lr.png", "throughput.png", "other.png"}
    for panels in plots.values():
        assert all(p["ylabel"] and p["ylabel"] != "step" for p in panels), panels
    stage1_loss = plots["loss.png"][0]
    assert "nats per masked token" in stage1_loss["ylabel"]
    # stage 2 (drawn first, its PNGs then overwritten by stage 1's: read them again)
    plots.clear()
    write_training_report(tmp_path / "stage2")
    loss = plots["loss.png"][0]
    assert "nats per pair" in loss["ylabel"]
    assert loss["legend"] == ["raw", "trailing mean of 2 points"]
    (throughput,) = plots["throughput.png"]
    assert throughput["ylabel"] == "pairs / s" and "running average since the start" in throughput["title"]
    assert len(throughput["lines"]) == 1  # an average is not smoothed again
    assert plots["lr.png"][0]["ylabel"].startswith("learning rate") and len(plots["lr.png"][0]["lines"]) == 1


def test_window_sums_are_shown_per_step_so_the_short_last_window_does_not_collapse(tmp_path: Path, monkeypatch):
    plots = _spy_plots(monkeypatch)
    run = tmp_path / "stage1"
    _stage1_run(run)
    page = Path(write_training_report(run)).read_text()
    # 500 masked tokens and 0.5 s every step, also in the window of steps 71-72
    assert _table_row(page, "final", "masked_tokens per step")[2:6] == ["500", "500", "500", "500"]
    assert _table_row(page, "final", "seconds per step")[2:6] == ["0.5", "0.5", "0.5", "0.5"]
    panels = {p["title"].split(" ")[0]: p for p in plots["other.png"]}
    assert set(panels["masked_tokens"]["lines"][0][1]) == {500.0}
    assert panels["seconds"]["ylabel"] == "seconds per step"
    assert "steps 71 to 72, covers 2" in page and "divided by the steps it covers" in page
    # ratios are not divided
    assert _table_row(page, "final", "tokens_per_s")[5] == "5072"


def test_table_shows_min_and_max_and_nulls_break_the_line(tmp_path: Path, monkeypatch):
    plots = _spy_plots(monkeypatch)
    run = tmp_path / "stage1"
    _stage1_run(run)
    page = Path(write_training_report(run)).read_text()
    header = _table_row(page, "final", "metric")
    assert header[:9] == ["metric", "unit", "first", "last", "min", "max", "points", "null", "meaning"]
    accuracy = _table_row(page, "final", "accuracy")
    assert accuracy[4:6] == ["0", "0.06"]  # min and max
    dobf = _table_row(page, "final", "dobf_share")
    assert dobf[6:8] == ["14", "1"]  # 14 values, 1 null
    assert "dobf_share: 1 of 15 entries null" in page
    # the null entry is a gap in the line (NaN at step 45), not a segment from step 40 to 50
    (xs, ys), = [p for p in plots["other.png"] if p["title"] == "dobf_share"][0]["lines"]
    assert 45.0 in xs and math.isnan(ys[xs.index(45.0)])


def test_header_says_how_the_run_ended_and_counts_log_entries(tmp_path: Path):
    _stage2_run(tmp_path / "stage2")
    page = Path(write_training_report(tmp_path / "stage2")).read_text()
    assert "Stopped at step 46 of 59 (time limit: --max-minutes 0.99). 46 log entries (every step), steps 1 to 46." in page
    _stage1_run(tmp_path / "stage1")
    page = Path(write_training_report(tmp_path / "stage1")).read_text()
    assert "Completed all 72 steps. 15 log entries (every 5 steps), steps 5 to 72." in page
    _stage1_run(tmp_path / "cut", last_step=40)  # stopped at a checkpoint: no end-of-run record
    page = Path(write_training_report(tmp_path / "cut")).read_text()
    assert "Stopped at step 40 of 72 (no end-of-run record" in page and "8 log entries" in page
    assert "logged steps" not in page


def test_evaluation_is_one_table_with_each_convention_once(tmp_path: Path):
    run = tmp_path / "stage2"
    _stage2_run(run, _eval_data(str(run / "model")))
    page = Path(write_training_report(run)).read_text()
    section = page.split('<section id="evaluation">')[1].split("</section>")[0]
    assert section.count(PAIRS_CONVENTION) == 1 and section.count(C2C_CONVENTION) == 1
    assert "None" not in section and "n/a" in section
    assert f">{run / 'model'}" not in section and "this run&#x27;s model" in section  # not the absolute path
    assert _table_row(page, "evaluation", "system")[:8] == ["system", "MRR", "MAP", "R@1", "R@10", "queries", "pool", "groups"]
    assert _table_row(page, "evaluation", "pairs_summary_to_code_hard - convention [1]")
    assert _table_row(page, "evaluation", "code_to_code - convention [2]")
    model_row = _table_row(page, "evaluation", "this run's model")  # the first task's row
    assert model_row[1] == "0.3058" and model_row[6] == "18 *" and model_row[8] == "-0.2129 MRR"
    assert "Small pool: pairs_summary_to_code_hard and pairs_summary_to_code rank among only 18 items" in section
    assert "random ranking scores MRR 0.194" in section
    # a big pool: no warning
    (run / "eval.json").write_text(json.dumps(_eval_data(str(run / "model"), pool=500)))
    assert "Small pool" not in Path(write_training_report(run)).read_text()


def test_evaluation_outside_the_run_folder_is_named_relative_to_it_and_escaped(tmp_path: Path):
    run = tmp_path / "stage2"
    _stage2_run(run)
    data = _eval_data("<b>other</b>")
    data["systems"]["bm25"]["<script>x</script>"] = {"mrr": 0.5, "convention": "<i>c</i>", "note": "a & b"}
    (tmp_path / "eval.json").write_text(json.dumps(data))
    page = Path(write_training_report(run, eval_json=str(tmp_path / "eval.json"))).read_text()
    assert "from ../eval.json (relative to the run folder)" in page
    assert "<script>" not in page and "<b>other" not in page and "<i>c" not in page and "a &amp; b" in page


def test_page_fits_phones(tmp_path: Path):
    run = tmp_path / "stage2"
    _stage2_run(run, _eval_data(str(run / "model")))
    page = Path(write_training_report(run)).read_text()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert page.count("<table") == page.count('<div style="overflow-x:auto"><table') >= 2
    assert "<script" not in page and "http" not in page
