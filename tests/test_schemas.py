import json

import pyarrow as pa
import pytest

import schemas
from schemas import Manifest, SchemaError, ShardInfo, validate


def _files_table(**overrides):
    cols = {
        "id": ["a"], "lang": ["python"], "repo": ["r"], "path": ["p.py"], "licenses": [["MIT"]],
        "content": ["def f(x):\n    return x\n"], "size": [21],
        "identifiers": [[{"start": 4, "end": 5, "kind": "function"}]],
        "cluster_id": ["a"], "cluster_size": [1], "split": ["train"],
    }
    cols.update(overrides)
    return pa.Table.from_pydict(cols, schema=schemas.FILES_SCHEMA)


def test_valid_files_table_round_trips():
    table = validate(_files_table(), "files")
    assert table.schema.equals(schemas.FILES_SCHEMA)


def test_kind_defaults_to_the_one_the_metadata_names(tmp_path):
    import pyarrow.parquet as pq

    # what a user does with a shard: read it and validate it, without saying which table it is
    pq.write_table(_files_table(), tmp_path / "part.parquet")
    shard = pq.read_table(tmp_path / "part.parquet")
    assert validate(shard).schema.equals(schemas.FILES_SCHEMA)
    with pytest.raises(SchemaError, match="'content'"):
        validate(shard.drop_columns(["content"]))
    bare = shard.replace_schema_metadata(None)
    with pytest.raises(SchemaError, match="no kind given"):
        validate(bare)
    assert validate(bare, "files").num_rows == 1
    with pytest.raises(SchemaError, match="unknown kind"):
        validate(bare, "file")


def test_another_schema_version_is_refused():
    table = _files_table()
    meta = dict(table.schema.metadata)
    meta[b"codesage.schema_version"] = b"2"
    with pytest.raises(SchemaError, match="schema version 2"):
        validate(table.replace_schema_metadata(meta), "files")


def test_missing_column_is_named():
    table = _files_table().drop_columns(["content"])
    with pytest.raises(SchemaError) as exc:
        validate(table, "files")
    assert exc.value.column == "content" and "missing" in str(exc.value)


def test_wrong_type_is_named():
    table = _files_table().set_column(6, "size", pa.array(["21"]))
    with pytest.raises(SchemaError, match="'size'"):
        validate(table, "files")


def test_bad_enum_values_are_named():
    with pytest.raises(SchemaError, match="'split'"):
        validate(_files_table(split=["training"]), "files")
    with pytest.raises(SchemaError, match="'identifiers'"):
        validate(_files_table(identifiers=[[{"start": 0, "end": 1, "kind": "module"}]]), "files")
    with pytest.raises(SchemaError, match="end past"):
        validate(_files_table(identifiers=[[{"start": 0, "end": 999, "kind": "variable"}]]), "files")


def test_null_in_required_column_is_named():
    table = _files_table().set_column(0, "id", pa.array([None], pa.string()))
    with pytest.raises(SchemaError, match="'id'.*null"):
        validate(table, "files")


def test_extra_column_rejected():
    table = _files_table().append_column("stars", pa.array([3]))
    with pytest.raises(SchemaError, match="'stars'"):
        validate(table, "files")


def test_rejected_with_all_null_kept_id_casts():
    t = pa.table({"id": ["a"], "lang": ["python"], "path": ["p"], "stage": ["filter"], "reason": ["x"], "kept_id": [None]})
    assert validate(t, "rejected").column("kept_id").type == pa.string()
    with pytest.raises(SchemaError, match="'stage'"):
        validate(t.set_column(3, "stage", pa.array(["bogus"])), "rejected")


def test_manifest_round_trip_and_version_check(tmp_path):
    shard = tmp_path / "files" / "part-00000-of-00001.parquet"
    shard.parent.mkdir()
    shard.write_bytes(b"abc")
    info = ShardInfo.of_file(str(tmp_path), "files", "files/part-00000-of-00001.parquet", rows=1)
    assert info.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    m = Manifest(options={"x": 1}, counts={"read": {"python": 1}}, shards=[info], extra={"lsh": {"b": 1}})
    back = Manifest.from_json(m.to_json())
    assert back.shards == [info] and back.extra == {"lsh": {"b": 1}} and back.shard_paths("files") == [info.path]
    body = json.loads(m.to_json())
    body["schema_version"] = 99
    with pytest.raises(ValueError, match="schema_version"):
        Manifest.from_json(json.dumps(body))
    with pytest.raises(FileNotFoundError, match="not a finished pipeline output"):
        schemas.read_manifest(str(tmp_path))
