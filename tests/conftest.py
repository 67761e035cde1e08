"""Shared fixtures. Tests that need ../shared fail (never skip) when CI=true and it is missing."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _test_pipelines_run_in_process() -> None:
    """Beam's TestPipeline defaults to the DirectRunner, which in Beam 2.7x first tries to download
    and start the Prism runner (seconds per pipeline offline). The pipeline's own runs use the
    in-process FnApiRunner (pipeline.run.local_runner); the transform tests use it too."""
    try:
        from apache_beam.options.pipeline_options import StandardOptions
    except ImportError:  # a trainer-only environment has no Beam
        return
    StandardOptions.DEFAULT_RUNNER = "FnApiRunner"


_test_pipelines_run_in_process()


def _require(path: Path, what: str) -> Path:
    if path.exists():
        return path
    message = f"{what} not found at {path} (expected ../shared beside the repository)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _require(SHARED, "shared/")


@pytest.fixture(scope="session")
def stack_sample() -> Path:
    """../shared/corpus/stack-sample (The Stack v1 layout: data/<lang>/data-*.parquet)."""
    return _require(SHARED / "corpus" / "stack-sample", "the stack-sample corpus")


@pytest.fixture(scope="session")
def cosqa_dir() -> Path:
    """../shared/eval/cosqa (cosqa-retrieval-dev-500.json, code_idx_map.txt)."""
    return _require(SHARED / "eval" / "cosqa", "the CoSQA dev set")
