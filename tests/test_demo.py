"""The one-command demo, end to end, on a reduced budget (the full demo is timed separately, see
docs/demo.md): every step runs through the real command lines, the exact commands are printed,
and the run ends with the results table; a second run reuses every finished step."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_small_budget_end_to_end(tmp_path: Path):
    out = tmp_path / "demo"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "trainer", "demo", "--out", str(out), "--minutes-budget", "1.0",
           "--max-files", "60", "--test-fraction", "0.4", "--vocab-size", "600", "--seq-len", "64",
           "--batch-size", "8", "--no-cosqa"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    text = proc.stdout
    assert "Traceback" not in proc.stderr

    # every step announced with its ETA and its exact command, in order
    keys = ["python -m pipeline", "python -m trainer tokenizer", "python -m trainer pretrain",
            "python -m trainer export", "python -m trainer contrastive", "python -m trainer evaluate"]
    positions = []
    for i, key in enumerate(keys, 1):
        assert f"=== step {i}/6:" in text
        m = re.search(r"command: \S*python\S* -m " + re.escape(key.split(" -m ")[1]), text)
        assert m, key
        positions.append(m.start())
    assert positions == sorted(positions)
    assert text.count("(ETA ") >= 6

    # outputs where the summary says they are
    for rel in ("data/manifest.json", "data/report.html", "tokenizer/tokenizer.json", "stage1/metrics.jsonl",
                "stage1-model/config.json", "stage2/model/config.json", "eval.json", "stage1/report.html",
                "stage2/report.html"):
        assert (out / rel).exists(), rel
        assert str(out / rel.split("/")[0]) in text

    # results table: counts per stage, both losses, MRR of the demo model next to BM25
    manifest = json.loads((out / "data" / "manifest.json").read_text())
    files_written = sum(manifest["counts"]["files"].values())
    assert re.search(r"files\s+" + re.escape(f"{files_written:,}"), text)
    assert re.search(r"stage 1 loss .* [0-9.]+ -> [0-9.]+ over \d+ steps", text)
    assert re.search(r"stage 2 loss .* [0-9.]+ -> [0-9.]+ over \d+ steps", text)
    results = json.loads((out / "eval.json").read_text())
    systems = results["systems"]
    assert "bm25" in systems and any(k.endswith("stage2/model") for k in systems)
    row = re.search(r"pairs_summary_to_code_hard\s+mrr\s+([0-9.]+)\s+([0-9.]+)", text)
    assert row, text[-3000:]
    bm25 = systems["bm25"]["pairs_summary_to_code_hard"]["mrr"]
    assert abs(float(row.group(1)) - bm25) < 1e-4 and 0 < bm25 <= 1

    # a second run reuses every step and prints the same table
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("already done in a previous run") == 6
    assert again.stdout.split("\nresults:\n")[1] == text.split("\nresults:\n")[1]
