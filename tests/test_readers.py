"""Readers: The Stack Parquet layout (a table written here and the shared stack-sample), source
trees, JSONL, the default stdlib input, --languages, and input resolution errors."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sysconfig

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.errors import UserError
from pipeline.readers import ReadInputs, resolve_inputs, split_patterns
from pipeline.readers.common import decode_strict, git_blob_sha1
from pipeline.readers.tree import list_tree, stdlib_source

STACK_COLUMNS = {
    "hexsha": pa.string(), "size": pa.int64(), "ext": pa.string(), "lang": pa.string(),
    "max_stars_repo_path": pa.string(), "max_stars_repo_name": pa.string(),
    "max_stars_repo_licenses": pa.list_(pa.string()), "max_stars_count": pa.int64(),
    "max_issues_repo_path": pa.string(), "content": pa.string(), "avg_line_length": pa.float64(),
}


def stack_rows(n: int, lang: str = "Python") -> list[dict]:
    rows = []
    for i in range(n):
        content = f"def f{i}(x):\n    return x + {i}\n"
        rows.append({
            "hexsha": hashlib.sha1(content.encode()).hexdigest(), "size": len(content), "ext": "py", "lang": lang,
            "max_stars_repo_path": f"pkg/m{i}.py", "max_stars_repo_name": f"org/repo{i % 2}",
            "max_stars_repo_licenses": ["MIT"], "max_stars_count": i if i % 2 else None,
            "max_issues_repo_path": "ignored", "content": content, "avg_line_length": 1.0,
        })
    return rows


def write_stack(root, lang_dir: str, rows: list[dict], row_group_size: int, name="data-00000-of-00001.parquet"):
    folder = root / "data" / lang_dir
    folder.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([(k, t) for k, t in STACK_COLUMNS.items() if k in rows[0]])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / name, row_group_size=row_group_size)
    return folder / name


def _dump(items, path):
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(items, fh)


def read_all(plan, languages=None, tmp=None):
    """Run the readers alone in a TestPipeline; returns (records, rejects) read back from JSON."""
    import tempfile

    folder = tempfile.mkdtemp(prefix="readers-")
    with BeamTestPipeline() as p:
        out = p | ReadInputs(plan, languages)
        for name in ("records", "rejected"):
            out[name] | f"List{name}" >> beam.combiners.ToList() | f"Dump{name}" >> beam.Map(
                _dump, os.path.join(folder, f"{name}.json"))
    loaded = []
    for name in ("records", "rejected"):
        with open(os.path.join(folder, f"{name}.json"), encoding="utf-8") as fh:
            loaded.append(json.load(fh))
    return loaded[0], loaded[1]


def test_git_blob_sha1_matches_git():
    assert git_blob_sha1(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert git_blob_sha1(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_decode_strict():
    assert decode_strict("é\n".encode()) == ("é\n", None)
    assert decode_strict(b"a\x00b") == (None, "binary")
    assert decode_strict(b"\xff\xfe ok") == (None, "invalid_utf8")


def test_split_patterns():
    assert split_patterns(["a,b", " c ", ""]) == ["a", "b", "c"]
    assert split_patterns(None) == []


def test_stack_layout_parquet_maps_columns_and_splits_by_row_group(tmp_path):
    rows = stack_rows(10)
    write_stack(tmp_path, "python", rows, row_group_size=4)
    plan = resolve_inputs([str(tmp_path)])
    assert [p.row_group for p in plan.parquet] == [0, 1, 2]          # one element per row group
    assert {k for k, _ in plan.parquet[0].columns} == {"id", "lang", "repo", "path", "licenses", "stars", "content"}
    assert "max_issues_repo_path" not in {c for _, c in plan.parquet[0].columns}  # only needed columns
    expected = [
        (r["hexsha"], "python", r["max_stars_repo_name"], r["max_stars_repo_path"], ("MIT",), r["max_stars_count"],
         r["content"], len(r["content"]))
        for r in rows
    ]
    with BeamTestPipeline() as p:
        out = p | ReadInputs(plan)
        assert_that(
            out["records"] | beam.Map(lambda r: (r["id"], r["lang"], r["repo"], r["path"], tuple(r["licenses"]),
                                                 r["stars"], r["content"], r["size"])),
            equal_to(expected),
        )


def test_parquet_without_lang_or_hexsha_uses_directory_and_blob_sha(tmp_path):
    rows = [{"content": "class A {}\n", "max_stars_repo_path": "A.java"}]
    path = tmp_path / "data" / "java"
    path.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), path / "x.parquet")
    records, rejects = read_all(resolve_inputs([str(path / "x.parquet")]))
    assert rejects == []
    assert [(r["id"], r["lang"], r["path"]) for r in records] == [(git_blob_sha1(b"class A {}\n"), "java", "A.java")]


def test_stack_sample_python_only(stack_sample):
    plan = resolve_inputs([str(stack_sample)], languages=("python",))
    files = sorted({p.path for p in plan.parquet})
    assert files and all("/data/python/" in f for f in files)
    expected_rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)

    def well_formed(r):
        return (r["lang"] == "python" and len(r["id"]) == 40 and bool(r["licenses"]) and bool(r["repo"])
                and r["size"] == len(r["content"].encode()))

    with BeamTestPipeline() as p:
        out = p | ReadInputs(plan, ("python",))
        assert_that(out["records"] | beam.Map(well_formed) | beam.combiners.Count.PerElement(),
                    equal_to([(True, expected_rows)]), label="records")
        assert_that(out["rejected"], equal_to([]), label="no rejects")


def test_stack_sample_all_languages_are_canonical(stack_sample):
    plan = resolve_inputs([str(stack_sample / "data" / "*" / "data-00000-*.parquet")])
    assert {p.dir_lang for p in plan.parquet} == {
        "c", "c-sharp", "go", "java", "javascript", "php", "python", "ruby", "typescript"}


def make_tree(root):
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "a.py").write_text("import os\nprint(os.sep)\n")
    (root / "pkg" / "sub" / "B.java").write_text("class B {}\n")
    (root / "pkg" / "sub" / "c.go").write_text("package c\n")
    (root / "README.md").write_text("# not code\n")
    (root / ".git" / "hook.py").write_text("x = 1\n")
    (root / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\x00\x01")
    return root


def test_source_tree_reader(tmp_path):
    root = make_tree(tmp_path / "myrepo")
    plan = resolve_inputs([str(root)])
    assert len(plan.trees) == 1 and plan.trees[0].repo == "myrepo"
    records, rejects = read_all(plan)
    assert rejects == []
    got = sorted((r["repo"], r["path"], r["lang"], r["id"]) for r in records)
    assert got == sorted([
        ("myrepo", "pkg/a.py", "python", git_blob_sha1(b"import os\nprint(os.sep)\n")),
        ("myrepo", "pkg/sub/B.java", "java", git_blob_sha1(b"class B {}\n")),
        ("myrepo", "pkg/sub/c.go", "go", git_blob_sha1(b"package c\n")),
    ])
    if subprocess.run(["git", "--version"], capture_output=True).returncode == 0:
        sha = subprocess.run(["git", "hash-object", str(root / "pkg" / "a.py")], capture_output=True, text=True)
        assert sha.stdout.strip() == git_blob_sha1(b"import os\nprint(os.sep)\n")


def test_a_tree_with_parquet_fixtures_stays_a_tree(tmp_path):
    root = make_tree(tmp_path / "myrepo")
    (root / "fixtures").mkdir()
    pq.write_table(pa.table({"content": ["x"]}), root / "fixtures" / "sample.parquet")
    plan = resolve_inputs([str(root)])
    assert plan.parquet == () and [t.repo for t in plan.trees] == ["myrepo"]
    lang_dir = tmp_path / "stackish"
    write_stack(lang_dir.parent / "stackish_root", "go", stack_rows(1, lang="Go"), row_group_size=1)
    assert len(resolve_inputs([str(lang_dir.parent / "stackish_root" / "data")]).parquet) == 1   # <lang>/*.parquet
    assert len(resolve_inputs([str(lang_dir.parent / "stackish_root" / "data" / "go")]).parquet) == 1  # *.parquet


def test_languages_restrict_trees_and_single_files(tmp_path):
    root = make_tree(tmp_path / "myrepo")
    plan = resolve_inputs([str(root)], languages=("java", "go"))
    assert sorted(rel for _, rel, _ in list_tree(plan.trees[0], ("java", "go"))) == ["pkg/sub/B.java", "pkg/sub/c.go"]
    single = resolve_inputs([str(root / "pkg" / "a.py")])
    assert single.trees[0].files == ("a.py",) and single.trees[0].repo == "pkg"


def test_jsonl_reader(tmp_path):
    lines = [
        {"content": "x = 1\n", "path": "a.py"},
        {"content": "class A {}", "path": "A.txt", "lang": "Java", "id": "given", "repo": "r", "licenses": "MIT", "stars": 5},
        {"content": "int main(){}", "path": "m.c", "lang": "go"},
    ]
    plain = tmp_path / "in.jsonl"
    plain.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    packed = tmp_path / "more.jsonl.gz"
    with gzip.open(packed, "wt") as fh:
        fh.write(json.dumps({"content": "puts 1\n", "path": "x.rb"}) + "\n")
    plan = resolve_inputs(split_patterns([f"{plain},{packed}"]))
    assert plan.jsonl == tuple(sorted([str(plain), str(packed)]))
    records, rejects = read_all(plan)
    assert rejects == []
    got = sorted((r["id"], r["lang"], r["path"], tuple(r["licenses"]), r["stars"], r["repo"]) for r in records)
    assert got == sorted([
        (git_blob_sha1(b"x = 1\n"), "python", "a.py", (), None, None),
        ("given", "java", "A.txt", ("MIT",), 5, "r"),
        (git_blob_sha1(b"int main(){}"), "go", "m.c", (), None, None),   # the given lang wins over the extension
        (git_blob_sha1(b"puts 1\n"), "ruby", "x.rb", (), None, None),
    ])
    from pipeline.readers.jsonl import record_from_object

    assert record_from_object(lines[0], "in.jsonl:1", ("java",)) == (None, None)   # not selected: skipped
    assert record_from_object(lines[1], "in.jsonl:2", ("java",))[0]["lang"] == "java"


def test_default_input_is_the_stdlib_without_site_packages():
    plan = resolve_inputs(None, max_files_per_tree=25)
    (tree,) = plan.trees
    assert tree.root == os.path.realpath(sysconfig.get_paths()["stdlib"])
    listed = list(list_tree(tree, None))
    assert len(listed) == 25
    assert not any("site-packages" in rel or "dist-packages" in rel for _, rel, _ in listed)
    again = [rel for _, rel, _ in list_tree(stdlib_source(25), None)]
    assert again == [rel for _, rel, _ in listed]                      # deterministic sample
    top_dirs = {rel.split("/")[0] for rel in again}
    assert len(top_dirs) > 5                                            # spread over the tree
    records, rejects = read_all(plan)
    assert len(records) + len(rejects) == 25
    assert all(r["lang"] == "python" and r["repo"] == os.path.basename(tree.root) for r in records)


def test_inputs_that_match_nothing_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="matches no file"):
        resolve_inputs([str(tmp_path / "nothing-*.parquet")])
    with pytest.raises(UserError, match="matches no file"):
        resolve_inputs([str(tmp_path / "missing-folder")])
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(UserError, match="neither a folder"):
        resolve_inputs([str(tmp_path / "notes.txt")])
    write_stack(tmp_path / "stack", "python", stack_rows(2), row_group_size=2)
    with pytest.raises(UserError, match="--languages"):
        resolve_inputs([str(tmp_path / "stack")], languages=("java",))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("x = 1\n")
    with pytest.raises(UserError, match="no file of the selected languages"):
        resolve_inputs([str(tmp_path / "src")], languages=("java",))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("# notes\n")
    with pytest.raises(UserError, match="no file of the selected languages"):
        resolve_inputs([str(tmp_path / "docs")])


# ------------------------------------------------------------------ names that are not UTF-8, languages

def test_tree_file_names_that_are_not_utf8_become_counted_rejects(tmp_path):
    """A file (or folder) name with invalid UTF-8 is one `undecodable_path` reject; the rest is read."""
    root = tmp_path / os.fsdecode(b"tr\xffee")           # the tree's own name is not UTF-8 either
    (root / os.fsdecode(b"d\xfe")).mkdir(parents=True)
    (root / "good.py").write_text("x = 1\n")
    (root / os.fsdecode(b"bad\xff.py")).write_text("y = 2\n")
    (root / os.fsdecode(b"d\xfe") / "z.py").write_text("z = 3\n")
    plan = resolve_inputs([str(root)])
    p = BeamTestPipeline()
    read = p | ReadInputs(plan)
    assert_that(read["records"] | "Rec" >> beam.Map(lambda r: (r["repo"], r["path"], r["lang"])),
                equal_to([("tr\\xffee", "good.py", "python")]), label="records")
    assert_that(read["rejected"] | "Rej" >> beam.Map(lambda r: (r["path"], r["lang"], r["stage"], r["reason"])),
                equal_to([("bad\\xff.py", "python", "read", "undecodable_path"),
                          ("d\\xfe/z.py", "python", "read", "undecodable_path")]), label="rejects")
    result = p.run()
    result.wait_until_finish()
    from apache_beam.metrics.metric import MetricsFilter

    counters = result.metrics().query(MetricsFilter().with_name("read.rejected"))["counters"]
    assert sum(c.committed for c in counters) == 2
    assert plan.describe()["trees"] == [str(root.resolve()).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")]


def test_jsonl_and_parquet_files_named_in_invalid_utf8_are_user_errors(tmp_path):
    for name in (b"in\xff.jsonl", b"t\xff.parquet"):
        bad = tmp_path / os.fsdecode(name)
        if name.endswith(b".jsonl"):
            bad.write_text(json.dumps({"content": "x = 1\n", "path": "a.py"}) + "\n")
        else:  # pyarrow itself cannot open such a name: write it under a good one, then rename
            pq.write_table(pa.table({"content": ["x = 1\n"], "path": ["a.py"]}), tmp_path / "t.parquet")
            os.rename(tmp_path / "t.parquet", bad)
        with pytest.raises(UserError, match=r"\\xff.* is not valid UTF-8; rename it"):
            resolve_inputs([str(bad)])
        bad.unlink()


def test_resolve_language_is_one_rule_for_every_reader():
    from pipeline.readers.common import resolve_language

    assert resolve_language("Go", "m.py") == ("go", None)                     # explicit lang decides
    assert resolve_language("cobol", "m.go") == (None, "unknown_language:cobol")
    assert resolve_language(None, "m.go") == ("go", None)
    assert resolve_language("", "M.GO") == ("go", None)                     # blank = absent
    assert resolve_language(None, "m.py", default="java") == ("java", None)  # data/<lang>/ before the extension
    assert resolve_language(None, "notes.TXT") == (None, "unknown_language:.txt")
    assert resolve_language(None, "Makefile") == (None, "no_language")
    assert resolve_language(None, None) == (None, "no_language")
    assert resolve_language("\udcff", "m.go") == (None, "unknown_language:\\xff")


def test_jsonl_explicit_unknown_lang_is_rejected_and_every_reject_names_file_and_line(tmp_path):
    src = tmp_path / "in.jsonl"
    lines = [
        {"content": "package main\nfunc main() {}\n", "path": "m.go", "lang": "cobol"},   # 1: explicit lang decides
        {"path": "nocontent.py", "id": "n1"},                                            # 2
        {"content": "x = 1\n", "path": "notes.txt"},                                     # 3
        {"content": "x = 1\n", "path": "Makefile"},                                      # 4
        {"content": "x = 1\n", "path": "ok.py"},                                         # 5
        {"content": "x = 1\n", "path": "bad\udcff.py"},                                 # 6: lone surrogates
        {"content": "x = 2\n", "path": "r.py", "repo": "org/\ud800"},                   # 7
        {"content": "x = 3\n", "path": "i.py", "id": "\ud800"},                          # 8
        {"content": "x = 4\n", "path": "l.py", "licenses": ["MIT", "\udcff"]},           # 9
        {"content": "x = 5\n", "path": "w.py", "repo": 7},                               # 10
    ]
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    with BeamTestPipeline() as p:
        read = p | ReadInputs(resolve_inputs([str(src)]))
        assert_that(read["records"] | "Rec" >> beam.Map(lambda r: (r["path"], r["lang"])),
                    equal_to([("ok.py", "python")]), label="records")
        assert_that(read["rejected"] | "Rej" >> beam.Map(lambda r: (r["path"], r["id"], r["reason"])), equal_to([
            (f"{src}:1", None, "unknown_language:cobol"),
            (f"{src}:2", "n1", "missing_field:content"),
            (f"{src}:3", None, "unknown_language:.txt"),
            (f"{src}:4", None, "no_language"),
            (f"{src}:6", None, "invalid_utf8:path"),
            (f"{src}:7", None, "invalid_utf8:repo"),
            (f"{src}:8", None, "invalid_utf8:id"),
            (f"{src}:9", None, "invalid_utf8:licenses"),
            (f"{src}:10", None, "invalid_field:repo"),
        ]), label="rejects")


def test_parquet_with_contract_columns_and_no_lang_uses_the_extension(tmp_path):
    table = pa.table({
        "id": ["a", "b", "c", "d"],
        "path": ["p/m.py", "q/Main.java", "README", "notes.txt"],
        "repo": ["org/r"] * 4,
        "content": ["x = 1\n", "class Main {}\n", "hello\n", "hi\n"],
        "licenses": [["MIT"], [], [], []],
    })
    pq.write_table(table, tmp_path / "plain.parquet")
    with BeamTestPipeline() as p:
        read = p | ReadInputs(resolve_inputs([str(tmp_path / "plain.parquet")]))
        assert_that(read["records"] | "Rec" >> beam.Map(lambda r: (r["id"], r["lang"], r["repo"], r["path"])),
                    equal_to([("a", "python", "org/r", "p/m.py"), ("b", "java", "org/r", "q/Main.java")]),
                    label="records")
        assert_that(read["rejected"] | "Rej" >> beam.Map(lambda r: (r["id"], r["path"], r["reason"])),
                    equal_to([("c", "README", "no_language"), ("d", "notes.txt", "unknown_language:.txt")]),
                    label="rejects")


def test_star_counts_that_are_nan_or_not_numbers_are_none_in_every_reader(tmp_path):
    """pandas writes a missing max_stars_count as NaN (a float column): it crashed the Parquet reader
    mid-job while JSONL silently dropped the same value. One rule now: a finite number >= 0 is an
    int, anything else None (ranked as 0 stars)."""
    from pipeline.readers.common import star_count

    assert [star_count(v) for v in (None, float("nan"), float("inf"), -3, -1.0, True, "many", "7", 2.0, 5)] == \
        [None, None, None, None, None, None, None, None, 2, 5]
    folder = tmp_path / "data" / "python"
    folder.mkdir(parents=True)
    texts = [f"def f{i}(x):\n    return x + {i}\n" for i in range(3)]
    pq.write_table(pa.table({"content": texts, "max_stars_repo_path": [f"m{i}.py" for i in range(3)],
                             "max_stars_count": pa.array([float("nan"), 3.0, None], pa.float64())}),
                   folder / "nan.parquet")
    records, rejects = read_all(resolve_inputs([str(folder / "nan.parquet")]))
    assert rejects == [] and sorted((r["path"], r["stars"]) for r in records) == [("m0.py", None), ("m1.py", 3), ("m2.py", None)]
    lines = [json.dumps({"content": t, "path": f"j{i}.py", "stars": s}) for i, (t, s) in enumerate(zip(texts, ["many", 4.0, 2]))]
    (tmp_path / "x.jsonl").write_text("\n".join(lines) + "\n")
    records, rejects = read_all(resolve_inputs([str(tmp_path / "x.jsonl")]))
    assert rejects == [] and sorted((r["path"], r["stars"]) for r in records) == [("j0.py", None), ("j1.py", 4), ("j2.py", 2)]


def test_symlinked_directories_are_counted_rejects_not_silently_skipped(tmp_path):
    """os.walk does not descend into a symbolic link to a directory; each one used to vanish without a
    trace. It is now a read reject `symlinked_directory` (not followed: it may point anywhere or loop);
    links to files inside the tree are followed, a dangling one is an `unreadable` reject, and a link
    to a file outside the tree is the reject `symlink_outside_tree` (tests/test_hostile_inputs.py)."""
    outside = tmp_path / "vendor_src"
    outside.mkdir()
    (outside / "v.py").write_text("def v():\n    return 1\n")
    root = tmp_path / "proj"
    (root / "sub").mkdir(parents=True)
    (root / "main.py").write_text("x = 1\n")
    (root / "vendor").symlink_to(outside, target_is_directory=True)
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    (root / "sub" / "link.py").symlink_to(root / "main.py")
    (root / "sub" / "outside.py").symlink_to(outside / "v.py")
    (root / "sub" / "dangling.py").symlink_to(root / "missing.py")
    records, rejects = read_all(resolve_inputs([str(root)]))
    assert sorted(r["path"] for r in records) == ["main.py", "sub/link.py"]
    assert sorted((r["path"], r["lang"], r["reason"]) for r in rejects) == [
        ("sub/dangling.py", "python", "unreadable:FileNotFoundError"),
        ("sub/loop/", None, "symlinked_directory"),
        ("sub/outside.py", "python", "symlink_outside_tree"),
        ("vendor/", None, "symlinked_directory"),
    ]
    # a tree holding nothing but a linked folder: the error says why and what to pass instead
    only_link = tmp_path / "only"
    only_link.mkdir()
    (only_link / "vendor").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UserError, match="vendor/ are symbolic links, which are not followed"):
        resolve_inputs([str(only_link)])
