"""--input through fsspec schemes (hf:// in production): the Beam FileSystem of
pipeline/readers/fsspec_fs.py, exercised offline with fsspec's in-memory filesystem standing in
for the Hub (the same class, another PROTOCOL)."""
from __future__ import annotations

import io
import json

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

from pipeline.readers import resolve_inputs
from pipeline.readers.fsspec_fs import FsspecFileSystem, HuggingFaceFileSystem


class MemoryFileSystem(FsspecFileSystem):
    PROTOCOL = "memory"


def _parquet_bytes(rows: list[dict]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf, row_group_size=2)
    return buf.getvalue()


@pytest.fixture
def stack():
    """memory://stack in The Stack's layout: data/python (5 rows, 3 row groups), data/go (1 row)."""
    fs = fsspec.filesystem("memory")
    py = [{"hexsha": f"{i:040x}", "lang": "Python", "max_stars_repo_name": "org/r", "max_stars_repo_path": f"m{i}.py",
           "content": f"def f{i}(x):\n    '''Return x plus {i} for the caller.'''\n    y = x + {i}\n    return y\n"}
          for i in range(5)]
    go = [{"lang": "Go", "max_stars_repo_path": "a.go", "content": "package a\n\nfunc A() int {\n\treturn 1\n}\n"}]
    fs.pipe("/stack/data/python/data-00000.parquet", _parquet_bytes(py))
    fs.pipe("/stack/data/go/data-00000.parquet", _parquet_bytes(go))
    fs.pipe("/stack/extra.jsonl", (json.dumps({"content": "x = 1\n", "path": "x.py"}) + "\n").encode())
    yield "memory://stack"
    fs.rm("/stack", recursive=True)


def test_hf_scheme_is_served_by_fsspec():
    assert isinstance(FileSystems.get_filesystem("hf://datasets/bigcode/the-stack/data"), HuggingFaceFileSystem)


def test_a_folder_and_a_glob_resolve_to_the_stack_layout(stack):
    plan = resolve_inputs([stack])
    assert sorted({p.path for p in plan.parquet}) == ["memory:///stack/data/go/data-00000.parquet",
                                                      "memory:///stack/data/python/data-00000.parquet"]
    assert sum(p.num_rows for p in plan.parquet) == 6 and len(plan.parquet) == 4   # row groups
    plan = resolve_inputs([f"{stack}/data/*/*.parquet", f"{stack}/*.jsonl"], languages=("python",))
    assert [p.dir_lang for p in plan.parquet] == ["python"] * 3
    assert plan.jsonl == ("memory:///stack/extra.jsonl",)


def test_the_pipeline_reads_it_end_to_end(stack, tmp_path):
    from pipeline.run import run

    out = tmp_path / "OUT"
    run(["--input", stack, "--output", str(out), "--no-report", "--no-near-dedup"])
    files = pq.read_table(out / "files").to_pylist()
    assert sorted(f["path"] for f in files) == ["a.go"] + [f"m{i}.py" for i in range(5)]
    pairs = pq.read_table(out / "pairs").to_pylist()
    assert sorted(p["name"] for p in pairs) == [f"f{i}" for i in range(5)]


def test_missing_paths_match_nothing_and_writes_are_refused(stack):
    assert FileSystems.match([f"{stack}/nothing/*.parquet"])[0].metadata_list == []
    with pytest.raises(BeamIOError, match="read-only"):
        FileSystems.create(f"{stack}/new.txt")
    with open_memory(stack) as fh:
        assert fh.read(4) == b"PAR1"


def open_memory(stack):
    return FileSystems.open(f"{stack}/data/go/data-00000.parquet")
