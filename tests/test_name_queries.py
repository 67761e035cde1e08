"""Search-style queries from function names (trainer/name_queries.py) and their use by PairStream."""
from __future__ import annotations

import pytest

from trainer.name_queries import apply_name_queries, name_query, name_words, with_doc_comment
from trainer.pairs_data import PairStream, write_pairs


@pytest.mark.parametrize("name, words", [
    ("parse_date_from_string", ["parse", "date", "from", "string"]),
    ("ComprehendBackend.list_endpoints", ["list", "endpoints"]),
    ("getHTTPResponseCode", ["get", "http", "response", "code"]),
    ("HTTPServer.serveForever", ["serve", "forever"]),
    ("Module::Klass#to_utf8", ["to", "utf", "8"]),
    ("__init__", ["init"]),
    ("", []),
])
def test_name_words(name, words):
    assert name_words(name) == words


def test_name_query_rejects_vague_and_test_names():
    assert name_query("run", "python") is None
    assert name_query("Foo.__init__", "python") is None
    assert name_query("test_parse_date", "python") is None
    assert name_query("TestParseDate", "go") is None
    assert name_query("read_csv_file", "python") == "read csv file"
    assert name_query("ReadCsvFile", "c-sharp", with_lang=True) == "read csv file c#"


def test_apply_is_deterministic_and_respects_fraction():
    n = 2000
    texts = [f"Summary {i}." for i in range(n)]
    names = [f"Cls.do_thing_{i}" if i % 4 else "run" for i in range(n)]  # every 4th has no usable query
    langs = ["python"] * n
    none, r0 = apply_name_queries(texts, names, langs, 0.0)
    assert none == texts and r0 == []
    allq, r1 = apply_name_queries(texts, names, langs, 1.0)
    k1 = len(r1)
    assert r1 == [i for i in range(n) if i % 4] and all(allq[i] != texts[i] for i in r1)
    assert all(t == s for t, s, name in zip(allq, texts, names) if name == "run")
    assert {t for t, name in zip(allq, names) if name != "run"} <= {f"do thing {i}" for i in range(n)} | {f"do thing {i} python" for i in range(n)}
    with_lang = sum(t.endswith(" python") for t in allq)
    assert 0.4 * k1 < with_lang < 0.6 * k1
    half, rh = apply_name_queries(texts, names, langs, 0.5, seed=7)
    assert 0.4 * k1 < len(rh) < 0.6 * k1
    again, _ = apply_name_queries(texts, names, langs, 0.5, seed=7)
    other, _ = apply_name_queries(texts, names, langs, 0.5, seed=8)
    assert half == again and half != other
    # a row's draw depends only on its position: a row without a name does not shift the others
    names2 = list(names)
    names2[1] = None
    shifted, _ = apply_name_queries(texts, names2, langs, 0.5, seed=7)
    assert shifted[2:] == half[2:] and shifted[1] == texts[1]
    with pytest.raises(ValueError, match="fraction"):
        apply_name_queries(texts, names, langs, 1.5)


def test_pair_stream_uses_names(tmp_path):
    rows = [{"summary": f"Return item number {i}.", "code_hard": f"x = {i}\nprint(x)", "name": f"Store.fetch_item_{i}",
             "lang": "python"} for i in range(16)]
    data = write_pairs(rows, tmp_path / "pairs")
    plain = PairStream.from_pairs(data, "train", "summary", "code_hard", 4)
    assert plain.meta == {} and all(t.startswith("Return item") for t in plain.texts)
    named = PairStream.from_pairs(data, "train", "summary", "code_hard", 4, name_queries=1.0)
    assert named.meta == {"name_query_rows": 16}
    assert all(t.startswith("fetch item ") for t in named.texts)
    assert named.codes == plain.codes
    docs = PairStream.from_pairs(data, "train", "summary", "code_hard", 4, name_queries=1.0, name_query_docs=True)
    assert docs.texts == named.texts
    assert all(c == '"""Return item number %d."""\n%s' % (i, p) for i, (c, p) in enumerate(zip(docs.codes, plain.codes)))
    # summary rows never get their docstring in the code (their text would be a copy of it)
    mixed = PairStream.from_pairs(data, "train", "summary", "code_hard", 4, name_queries=0.5, name_query_docs=True)
    for t, c, p in zip(mixed.texts, mixed.codes, plain.codes):
        assert (c == p) == t.startswith("Return item")


def test_with_doc_comment_per_language():
    assert with_doc_comment("x = 1", "Add it.", "python") == '"""Add it."""\nx = 1'
    assert with_doc_comment("x = 1", "Has \"\"\" in it.", "python").startswith('"""Has \'\'\' in it."""')
    assert with_doc_comment("x = 1", "Line one.\n\nLine two.", "ruby") == "# Line one.\n#\n# Line two.\nx = 1"
    assert with_doc_comment("int x;", "Ends */ early.", "java") == "/**\n * Ends * / early.\n */\nint x;"
    assert with_doc_comment("int x;", None, "go") == "int x;"


def test_cli_flag_validated(tmp_path, capsys):
    from trainer.__main__ import main

    data = write_pairs([{"summary": "Sum two numbers.", "code_hard": "a = 1\nb = 2"}] * 4, tmp_path / "pairs")
    assert main(["contrastive", "--data", str(data), "--init", "minilm", "--out", str(tmp_path / "o"), "--name-queries", "2"]) == 2
    assert "--name-queries" in capsys.readouterr().err
