"""The sharded writer: stable shard assignment, sorted rows, byte-identical shards across runs and
input orders, complete shard sets (empty shards included), validation before writing, and the
atomic finish (manifest.json last; a failure leaves no OUT that looks complete)."""
from __future__ import annotations

import hashlib
import json
import os
import random

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from pipeline import write
from pipeline.errors import UserError
from schemas import MANIFEST_NAME, SchemaError, read_manifest, validate


def file_row(i: int, split: str = "train") -> dict:
    content = f"def f{i}():\n    return {i}\n"
    return {
        "id": hashlib.sha1(content.encode()).hexdigest(), "lang": "python", "repo": "r", "path": f"m{i}.py",
        "licenses": ["MIT"], "content": content, "size": len(content), "stars": None, "internal": "dropped",
        "identifiers": [{"start": 4, "end": 4 + len(f"f{i}"), "kind": "function"}],
        "cluster_id": "c", "cluster_size": 1, "split": split,
    }


def reject_rows(n: int) -> list[dict]:
    return [{"id": None if i % 3 == 0 else f"id{i % 5}", "lang": "python", "path": f"p{i}", "stage": "filter",
             "reason": f"size>{i}", "kept_id": None} for i in range(n)]


def test_shard_of_is_stable_and_spread():
    assert write.shard_of("abc", 7) == int.from_bytes(hashlib.sha256(b"abc").digest()[:8], "big") % 7
    counts = [0] * 4
    for i in range(4000):
        counts[write.shard_of(f"id{i}", 4)] += 1
    assert min(counts) > 800


def test_encode_shard_is_order_independent_and_projects_to_the_contract():
    rows = [file_row(i) for i in range(50)]
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    a, n = write.encode_shard("files", rows)
    b, _ = write.encode_shard("files", shuffled)
    assert a == b and n == 50
    table = pq.read_table(pa.BufferReader(a))
    validate(table, "files")
    assert table.column("id").to_pylist() == sorted(r["id"] for r in rows)
    assert "internal" not in table.column_names and "stars" not in table.column_names
    r1, _ = write.encode_shard("rejected", reject_rows(20))
    r2, _ = write.encode_shard("rejected", list(reversed(reject_rows(20))))
    assert r1 == r2


def test_encode_shard_validates_before_writing():
    with pytest.raises(SchemaError, match="split"):
        write.encode_shard("files", [file_row(1, split="holdout")])


def _write_tables(staging: str, rows: list[dict], rejects: list[dict], num_shards=None, target=10**9) -> None:
    with BeamTestPipeline() as p:
        infos = (
            p | "Files" >> beam.Create(rows) | "WF" >> write.WriteTable("files", staging, num_shards, target),
            p | "Pairs" >> beam.Create([]) | "WP" >> write.WriteTable("pairs", staging, num_shards, target),
            p | "Rej" >> beam.Create(rejects) | "WR" >> write.WriteTable("rejected", staging, None, target),
        ) | beam.Flatten()
        p | write.WriteMetas({"shards": (infos, list)}, staging)


def test_write_table_is_deterministic_and_complete(tmp_path):
    rows = [file_row(i) for i in range(40)]
    runs = []
    for k, order in enumerate((rows, list(reversed(rows)))):
        staging = str(tmp_path / f"s{k}")
        _write_tables(staging, order, reject_rows(7), num_shards=5)
        shards = sorted(write.read_meta(staging, "shards"), key=lambda s: s["path"])
        runs.append([(s["path"], s["rows"], s["sha256"]) for s in shards])
        for s in shards:   # the recorded digest is the file's
            data = open(os.path.join(staging, s["path"]), "rb").read()
            assert hashlib.sha256(data).hexdigest() == s["sha256"] and len(data) == s["bytes"]
    assert runs[0] == runs[1]
    paths = [p for p, _, _ in runs[0]]
    assert [p for p in paths if p.startswith("files/")] == [f"files/part-0000{i}-of-00005.parquet" for i in range(5)]
    assert [p for p in paths if p.startswith("pairs/")] == ["pairs/part-00000-of-00005.parquet",
                                                            "pairs/part-00001-of-00005.parquet",
                                                            "pairs/part-00002-of-00005.parquet",
                                                            "pairs/part-00003-of-00005.parquet",
                                                            "pairs/part-00004-of-00005.parquet"]
    assert sum(r for p, r, _ in runs[0] if p.startswith("files/")) == 40
    assert sum(r for p, r, _ in runs[0] if p.startswith("pairs/")) == 0   # empty shards still exist, valid
    validate(pq.read_table(os.path.join(str(tmp_path / "s0"), "pairs/part-00000-of-00005.parquet")), "pairs")


def test_shard_count_from_target_size(tmp_path):
    rows = [file_row(i) for i in range(30)]
    weight = sum(write.row_weight("files", r) for r in rows)
    staging = str(tmp_path / "s")
    _write_tables(staging, rows, [], num_shards=None, target=weight // 3 + 1)
    files = sorted(s["path"] for s in write.read_meta(staging, "shards") if s["table"] == "files")
    assert files == [f"files/part-0000{i}-of-00003.parquet" for i in range(3)]
    rejected = [s for s in write.read_meta(staging, "shards") if s["table"] == "rejected"]
    assert [(s["path"], s["rows"]) for s in rejected] == [("rejected/part-00000-of-00001.parquet", 0)]


@pytest.fixture(scope="module")
def staged_template(tmp_path_factory) -> str:
    staging = str(tmp_path_factory.mktemp("template") / "staging")
    _write_tables(staging, [file_row(i) for i in range(6)], reject_rows(2), num_shards=2)
    return staging


@pytest.fixture()
def stage(tmp_path, staged_template):
    """Returns a function giving a fresh copy of one staged (written, not finalized) output."""
    import shutil

    def make(name="s") -> str:
        return shutil.copytree(staged_template, str(tmp_path / name))

    return make


def test_finalize_moves_into_place_and_writes_the_manifest_last(tmp_path, stage):
    staging = stage()
    out = tmp_path / "out"
    manifest = write.finalize(staging, str(out), {"k": 1}, {"read": {"python": 6}}, {"table4": {}}, overwrite=False)
    assert not os.path.exists(staging)
    assert sorted(os.listdir(out)) == ["files", "manifest.json", "pairs", "rejected"]
    again = read_manifest(str(out))
    assert [s.path for s in again.shards] == [s.path for s in manifest.shards]
    assert again.counts == {"read": {"python": 6}} and again.options == {"k": 1}
    for shard in again.shards:
        assert hashlib.sha256((out / shard.path).read_bytes()).hexdigest() == shard.sha256
    # the manifest is the newest file of the folder
    newest = max((os.path.join(d, f) for d, _, fs in os.walk(out) for f in fs), key=os.path.getmtime)
    assert newest.endswith(MANIFEST_NAME)


def test_before_manifest_hook_sees_the_shards_and_no_manifest(tmp_path, stage):
    seen = {}

    def hook(out_dir, manifest):
        seen["listing"] = sorted(os.listdir(out_dir))
        seen["manifest"] = manifest

    out = tmp_path / "out"
    manifest = write.finalize(stage(), str(out), {"k": 1}, {}, {"table4": {}}, overwrite=False, before_manifest=hook)
    assert seen["listing"] == ["files", "pairs", "rejected"]
    assert seen["manifest"] == json.loads((out / MANIFEST_NAME).read_text()) == json.loads(manifest.to_json())


def test_overwrite_replaces_and_refusal_keeps_the_old_output(tmp_path, stage):
    out = tmp_path / "out"
    write.finalize(stage("a"), str(out), {}, {}, {}, overwrite=False)
    stale = out / "files" / "part-00007-of-00009.parquet"   # a shard of an older run: the pipeline's own
    stale.write_bytes(b"old")
    (out / "report.html").write_text("old report")
    with pytest.raises(UserError, match="--overwrite"):
        write.check_output(str(out), overwrite=False)
    write.check_output(str(out), overwrite=True)     # only the pipeline's own entries: may be replaced
    staging = stage("b")
    with pytest.raises(UserError, match="--overwrite"):
        write.finalize(staging, str(out), {}, {}, {}, overwrite=False)
    assert stale.exists() and (out / MANIFEST_NAME).exists()
    write.finalize(staging, str(out), {"second": True}, {}, {}, overwrite=True)
    assert not stale.exists() and not (out / "report.html").exists()
    assert read_manifest(str(out)).options == {"second": True}


def test_overwrite_never_deletes_foreign_entries(tmp_path, stage):
    """check_output and finalize both refuse, naming the entries, and nothing is removed."""
    from pipeline.report import REPORT_NAME

    assert write.REPORT_NAME == REPORT_NAME
    out = tmp_path / "out"
    write.finalize(stage("a"), str(out), {}, {}, {}, overwrite=False)
    (out / "notes.txt").write_text("precious")
    (out / "files" / "mine.csv").write_text("precious too")
    (out / "src").mkdir()
    assert write.foreign_entries(str(out)) == ["files/mine.csv", "notes.txt", "src/"]
    with pytest.raises(UserError, match=r"would delete files/mine.csv, notes.txt, src/ in "):
        write.check_output(str(out), overwrite=True)
    staging = stage("b")
    with pytest.raises(UserError, match="notes.txt"):      # appeared while the job ran
        write.finalize(staging, str(out), {}, {}, {}, overwrite=True)
    assert (out / "notes.txt").read_text() == "precious" and (out / MANIFEST_NAME).exists()
    assert write.foreign_entries(str(tmp_path / "absent")) == []


def test_output_overlapping_an_input_is_refused_even_without_overwrite(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for out, relation in ((src, "is"), (tmp_path, "contains"), (src / "sub" / "out", "is inside")):
        for overwrite in (False, True):
            with pytest.raises(UserError, match=f"the output folder .* {relation} the input .*src; choose"):
                write.check_output(str(out), overwrite, [str(src)])
    write.check_output(str(tmp_path / "elsewhere"), True, [str(src)])
    write.check_output(str(tmp_path / "srcfoo"), True, [str(src)])    # a sibling sharing a prefix is fine


def test_a_failure_while_moving_leaves_no_manifest(tmp_path, monkeypatch, stage):
    out = tmp_path / "out"
    write.finalize(stage("a"), str(out), {}, {}, {}, overwrite=False)
    staging = stage("b")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(write, "_move_into_place", crash)
    with pytest.raises(OSError):
        write.finalize(staging, str(out), {}, {}, {}, overwrite=True)
    # the old output was being replaced: whatever is left must not look complete
    assert not (out / MANIFEST_NAME).exists()


def test_write_metas_writes_every_name_once_even_when_empty(tmp_path):
    staging = str(tmp_path / "s")
    with BeamTestPipeline() as p:
        numbers = p | "Numbers" >> beam.Create([3, 1, 2])
        pairs = p | "Pairs" >> beam.Create([(("read", "go"), 2), (("read", "c"), 1)])
        nothing = p | "Nothing" >> beam.Create([])
        p | write.WriteMetas({
            "numbers": (numbers, sorted),
            "counts": (pairs, lambda items: {f"{s}/{lang}": n for (s, lang), n in items}),
            "empty": (nothing, lambda items: {"n": len(items)}),
        }, staging)
    assert write.read_meta(staging, "numbers") == [1, 2, 3]
    assert write.read_meta(staging, "counts") == {"read/c": 1, "read/go": 2}
    assert write.read_meta(staging, "empty") == {"n": 0}
