"""The wheel and the sdist hold what a user of each needs: the wheel every file the code opens by
path (language specs), the sdist a source release whose tests run (fixtures), with the deployment
files, docs, CPU constraints and the licence."""
from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # setuptools' PEP 517 hooks in a child process (no build isolation: no download)
    # (the target is read once: setuptools rewrites sys.argv in each hook)
    code = "import sys; from setuptools import build_meta as b; d = sys.argv[1]; b.build_sdist(d); b.build_wheel(d)"
    subprocess.run([sys.executable, "-c", code, str(out)], cwd=REPO, check=True, capture_output=True, text=True)
    return out


def test_wheel_holds_every_language_spec_and_the_licence(dists):
    (wheel,) = dists.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for spec in sorted((REPO / "pipeline/languages/specs").iterdir()):
        for f in spec.iterdir():
            if f.suffix in (".toml", ".scm"):
                assert f"pipeline/languages/specs/{spec.name}/{f.name}" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    # the trainer's named DeepSpeed configs (--deepspeed-config zero1, the default)
    for config in sorted((REPO / "deploy/deepspeed").glob("*.json")):
        assert f"trainer/deepspeed_configs/{config.name}" in names


def test_sdist_is_a_complete_source_release(dists):
    (sdist,) = dists.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    wanted = [f for f in tracked if f.startswith(("tests/", "deploy/", "docs/", "pipeline/", "trainer/", "schemas/"))]
    wanted += ["LICENSE", "README.md", "Makefile", "constraints-cpu.txt", "pyproject.toml"]
    missing = [f for f in wanted if f not in names]
    assert not missing, missing[:20]
