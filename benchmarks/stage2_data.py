"""The stage-2 benchmarks' default training pairs, built by the pipeline when they are not there yet.

`default_pairs(cache)` returns CACHE/pairs after making sure it holds the output of

    python -m pipeline --input ../shared/corpus/stack-sample --input <this interpreter's stdlib tree> \
        --languages python --test-fraction 0.02 --output CACHE

(Python only because CoSQA is Python; a 2% test split so held-out pair retrieval has a pool). The run
is skipped when CACHE/manifest.json exists (the pipeline writes it last, so its presence means a
complete output). Building takes about 5 minutes on 2 cores; it is not part of any training budget.
"""
from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEFAULT_CACHE = Path("/tmp/codesage-stage2-pairs")


def pipeline_command(cache: Path) -> list[str]:
    sample = SHARED / "corpus" / "stack-sample"
    if not (sample / "data").is_dir():
        sys.exit(f"error: {sample} not found; pass --data with a pipeline output (OUT/pairs)")
    return [sys.executable, "-m", "pipeline", "--input", str(sample), "--input", sysconfig.get_paths()["stdlib"],
            "--languages", "python", "--test-fraction", "0.02", "--output", str(cache), "--overwrite", "--no-report"]


def default_pairs(cache: Path = DEFAULT_CACHE) -> str:
    """CACHE/pairs, running the pipeline first when CACHE holds no complete output."""
    cache = Path(cache)
    if not (cache / "manifest.json").is_file():
        cmd = pipeline_command(cache)
        print("building the training pairs (about 5 minutes):\n  " + " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=str(REPO), check=True)
    return str(cache / "pairs")
