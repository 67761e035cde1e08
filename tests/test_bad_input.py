"""Bad input never crashes the job: every case ends in a counted `read`/`filter` reject or a
one-sentence UserError (binary file, invalid UTF-8, a 5 MB single-line file, a Parquet file
without `content`, a corrupt Parquet file, unreadable paths, broken JSONL lines)."""
from __future__ import annotations

import json
import os

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.__main__ import main
from pipeline.errors import UserError
from pipeline.filtering import ApplyFilters, REJECTED_TAG
from pipeline.filters import FilterConfig, build_filters
from pipeline.readers import ReadInputs, resolve_inputs
from pipeline.readers.common import git_blob_sha1


def _reason(row):
    return (row["path"], row["stage"], row["reason"])


@pytest.fixture()
def bad_tree(tmp_path):
    root = tmp_path / "bad"
    root.mkdir()
    (root / "ok.py").write_text("def f():\n    return 1\n", encoding="utf-8")
    (root / "binary.py").write_bytes(b"\x7fELF\x00\x00\x01\x02 not text")
    (root / "latin1.py").write_bytes("# caf\xe9\nx = 1\n".encode("latin-1"))
    (root / "huge.js").write_text("var a = '" + "x" * (5 * 1024 * 1024) + "';", encoding="utf-8")  # one 5 MB line
    os.symlink(root / "vanished.py", root / "broken.py")     # unreadable: the target does not exist
    return root


def test_bad_files_in_a_tree_become_counted_rejects(bad_tree):
    plan = resolve_inputs([str(bad_tree)])
    binary_id = git_blob_sha1((bad_tree / "binary.py").read_bytes())
    with BeamTestPipeline() as p:
        read = p | ReadInputs(plan)
        filtered = read["records"] | ApplyFilters(build_filters(FilterConfig()), stage="filter")
        assert_that(
            read["rejected"] | "ReadReasons" >> beam.Map(_reason),
            equal_to([
                ("binary.py", "read", "binary"),
                ("latin1.py", "read", "invalid_utf8"),
                ("broken.py", "read", "unreadable:FileNotFoundError"),
            ]),
            label="read rejects",
        )
        assert_that(
            read["rejected"] | "BinaryId" >> beam.Filter(lambda r: r["reason"] == "binary") | beam.Map(lambda r: r["id"]),
            equal_to([binary_id]), label="binary id",
        )
        assert_that(filtered[REJECTED_TAG] | "FilterReasons" >> beam.Map(_reason),
                    equal_to([("huge.js", "filter", "size>1000000")]), label="filter rejects")
        assert_that(filtered["kept"] | beam.Map(lambda r: r["path"]), equal_to(["ok.py"]), label="kept")


def test_huge_single_line_with_a_raised_size_limit_hits_the_line_rule(bad_tree):
    plan = resolve_inputs([str(bad_tree / "huge.js")])
    with BeamTestPipeline() as p:
        read = p | ReadInputs(plan)
        filtered = read["records"] | ApplyFilters(build_filters(FilterConfig(max_bytes=10 * 2**20)), stage="filter")
        assert_that(filtered[REJECTED_TAG] | beam.Map(_reason),
                    equal_to([("huge.js", "filter", "max_line_length>1000")]))


def test_files_over_the_read_cap_are_rejected_without_loading(bad_tree):
    plan = resolve_inputs([str(bad_tree / "huge.js")])
    with BeamTestPipeline() as p:
        read = p | ReadInputs(plan, max_read_bytes=1024)
        assert_that(read["rejected"] | beam.Map(_reason), equal_to([("huge.js", "read", "too_large_to_read>1024")]))


def test_parquet_without_content_is_a_user_error_naming_file_and_column(tmp_path):
    folder = tmp_path / "data" / "python"
    folder.mkdir(parents=True)
    bad = folder / "data-00000-of-00001.parquet"
    pq.write_table(pa.table({"hexsha": ["a"], "text": ["x = 1"]}), bad)
    with pytest.raises(UserError) as err:
        resolve_inputs([str(tmp_path)])
    assert str(bad) in str(err.value) and "`content`" in str(err.value)


def test_corrupt_parquet_is_a_user_error(tmp_path):
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(UserError, match="cannot read the Parquet file .*broken.parquet"):
        resolve_inputs([str(bad)])


def test_bad_rows_inside_parquet_and_jsonl_are_rejected(tmp_path):
    folder = tmp_path / "data" / "python"
    folder.mkdir(parents=True)
    table = pa.table({
        "hexsha": ["good", "nul", "badutf8", "nolang"],
        "lang": ["Python", "Python", "Python", "Cobol"],
        "max_stars_repo_path": ["g.py", "n.py", "b.py", "x.cob"],
        # binary column so that one row can hold bytes that are not UTF-8
        "content": pa.array([b"x = 1\n", b"x\x00y", b"\xff\xfe", b"DISPLAY 'X'."], type=pa.binary()),
    })
    pq.write_table(table, folder / "part.parquet")
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_bytes(b"\n".join([
        json.dumps({"content": "y = 2\n", "path": "ok.py"}).encode(),
        b"{not json",
        json.dumps({"path": "nocontent.py"}).encode(),
        json.dumps({"content": "z = 3\n"}).encode(),
        json.dumps({"content": "\u0000", "path": "nul.py"}).encode(),
        json.dumps({"content": "\ud800", "path": "surrogate.py"}).encode(),
        b'{"content": "\xff", "path": "raw.py"}',
        json.dumps({"content": "a b c", "path": "notes.txt"}).encode(),
    ]) + b"\n")
    plan = resolve_inputs([str(tmp_path / "data"), str(jsonl)])
    with BeamTestPipeline() as p:
        read = p | ReadInputs(plan)
        assert_that(read["records"] | beam.Map(lambda r: r["path"]), equal_to(["g.py", "ok.py"]), label="records")
        assert_that(
            read["rejected"] | beam.Map(lambda r: (r["stage"], r["reason"], r["path"])),
            equal_to([
                ("read", "binary", "n.py"),
                ("read", "invalid_utf8", "b.py"),
                ("read", "unknown_language:Cobol", "x.cob"),
                ("read", "invalid_json", f"{jsonl}:2"),
                ("read", "missing_field:content", f"{jsonl}:3"),
                ("read", "missing_field:path", f"{jsonl}:4"),
                ("read", "binary", f"{jsonl}:5"),
                ("read", "invalid_utf8", f"{jsonl}:6"),
                ("read", "invalid_utf8", f"{jsonl}:7"),
                ("read", "unknown_language:.txt", f"{jsonl}:8"),
            ]),
            label="rejects",
        )


def test_cli_prints_user_errors_as_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--input", str(tmp_path / "missing" / "*.parquet"), "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --input") and "matches no file" in err and "\n" not in err
    assert not out.exists()

    out.mkdir()
    (out / "keep.txt").write_text("old")
    assert main(["--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--overwrite" in err and "\n" not in err
    assert (out / "keep.txt").read_text() == "old"

    assert main(["--output", str(tmp_path / "o2"), "--languages", "python,klingon"]) == 2
    assert "klingon" in capsys.readouterr().err
    for empty in ("", " , "):  # e.g. --languages "$LANGS" with LANGS unset: not "every language"
        assert main(["--output", str(tmp_path / "o2"), "--languages", empty]) == 2
        err = capsys.readouterr().err.strip()
        assert "names no language" in err and "\n" not in err
    assert not (tmp_path / "o2").exists()
    assert main(["--output", str(tmp_path / "o3"), "--max-byts", "5"]) == 2
    assert "unknown option --max-byts" in capsys.readouterr().err
    assert main(["--input", str(tmp_path)]) == 2
    assert "--output is required" in capsys.readouterr().err


def test_a_missing_grammar_is_a_user_error_before_the_job(tmp_path, monkeypatch):
    from pipeline import run as run_module
    from pipeline.languages import MissingGrammarError
    from pipeline.readers import languages_in_plan

    tree = tmp_path / "proj"
    tree.mkdir()
    (tree / "a.py").write_text("x = 1\n")
    (tree / "B.java").write_text("class B {}\n")
    plan = resolve_inputs([str(tree)])
    assert languages_in_plan(plan, None) == ("java", "python")
    assert languages_in_plan(plan, ("go",)) == ("go",)

    def missing(key):
        raise MissingGrammarError("the grammar package for 'java' is not installed: run `pip install tree-sitter-java==0.23.5`")

    monkeypatch.setattr("pipeline.parse.extract.Extractor", missing)
    with pytest.raises(UserError, match=r"pip install tree-sitter-java==0.23.5` \(or leave java out with --languages\)"):
        run_module.check_languages(["java"])
    run_module.check_languages([])
