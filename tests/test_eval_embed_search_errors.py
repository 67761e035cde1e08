"""Audit fixes for evaluate / embed / search / the SentenceTransformer export:
empty texts are skipped and counted by embed, malformed inputs give one-line errors (exit 2),
search warns when the model is not the index's, and the exported max_seq_length equals embed's default."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from transformers import BertConfig, BertModel

from trainer.__main__ import main
from trainer.encoder import load_tokenizer, packaged_minilm_dir
from trainer.pairs_data import write_pairs


def _tiny_bert(tok, seed: int, **kw) -> BertModel:
    torch.manual_seed(seed)
    return BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=64, **kw))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audit")
    tok = load_tokenizer(packaged_minilm_dir())
    for name, seed in (("m", 0), ("m2", 1)):
        _tiny_bert(tok, seed).save_pretrained(str(tmp / name))
        tok.save_pretrained(str(tmp / name))
    summaries = ["", None, "   ", "\n\t"]  # four kinds of "nothing to embed"
    rows = [{"id": f"f{i}:1", "file_id": f"f{i}", "split": "train", "path": f"pkg/mod{i}.py", "name": f"func_{i}",
             "start_line": i + 1, "end_line": i + 3, "summary": summaries[i] if i < 4 else f"Do thing number {i}.",
             "code": f"def func_{i}(x):\n    return x * {i}"} for i in range(10)]
    rows[0]["split"] = rows[1]["split"] = "valid"  # the valid split holds only empty summaries
    data = write_pairs(rows, tmp / "pairs", shards=2)
    return tmp, data, rows


def _embed(tmp, data, *extra):
    return main(["embed", "--model", str(tmp / "m"), "--data", str(data), "--no-progress", *extra])


# 1. embed skips null / empty / whitespace-only texts, says so, and records the count

def test_embed_skips_and_counts_empty_texts(env, capsys):
    tmp, data, rows = env
    out = tmp / "summary.parquet"
    assert _embed(tmp, data, "--split", "train", "--column", "summary", "--block", "3", "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert "wrote 6 vectors" in printed and "skipped 2 rows" in printed
    table = pq.read_table(out)
    expected = [r["id"] for r in rows if r["split"] == "train" and r["summary"] and r["summary"].strip()]
    assert sorted(table.column("id").to_pylist()) == sorted(expected)
    meta = json.loads(table.schema.metadata[b"codesage.embed"])
    assert meta["skipped_empty"] == 2 and meta["rows"] == 6
    # no two rows share one "empty" vector any more
    vectors = np.stack(table.column("vector").to_numpy(zero_copy_only=False))
    assert len({v.tobytes() for v in vectors}) == len(vectors)


def test_embed_with_only_empty_texts_is_a_one_line_error(env, capsys):
    tmp, data, _ = env
    out = tmp / "none.parquet"
    assert _embed(tmp, data, "--split", "valid", "--column", "summary", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "nothing to embed" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


# 2d. only text columns can be embedded

@pytest.mark.parametrize("column", ["start_line", "split", "id"])
def test_embed_refuses_a_non_text_column(env, capsys, column):
    tmp, data, _ = env
    assert _embed(tmp, data, "--column", column, "--out", str(tmp / "bad.parquet")) == 2
    err = capsys.readouterr().err
    assert "not a text column" in err and "summary, docstring, code, code_hard" in err
    assert len(err.strip().splitlines()) == 1


# 2c. search on something that is not an embed index

def test_search_on_a_file_that_is_not_an_index(env, capsys, tmp_path):
    text = tmp_path / "README.md"
    text.write_text("# not parquet\n")
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"id": ["a"], "x": [1]}), plain)
    tagged = tmp_path / "novector.parquet"
    pq.write_table(pa.table({"id": ["a"]}).replace_schema_metadata({b"codesage.embed": json.dumps({"model": "m", "dim": 32})}), tagged)
    for path in (text, plain, tagged):
        assert main(["search", "--index", str(path), "x"]) == 2
        err = capsys.readouterr().err
        assert "is not a Parquet file written by `python -m trainer embed`" in err
        assert len(err.strip().splitlines()) == 1


# 3. search with a model that is not the index's: warning, still results

def test_search_warns_when_the_model_differs_from_the_index(env, capsys):
    tmp, data, _ = env
    index = tmp / "code.parquet"
    assert _embed(tmp, data, "--split", "train", "--out", str(index), "--overwrite") == 0
    capsys.readouterr()
    assert main(["search", "--index", str(index), "--model", str(tmp / "m2"), "--json", "a"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("warning:") == 1 and str((tmp / "m").resolve()) in captured.err
    assert len(captured.out.strip().splitlines()) == 8
    # the same folder spelled differently is the same model: no warning
    assert main(["search", "--index", str(index), "--model", str(tmp / "m2" / ".." / "m"), "a"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["search", "--index", str(index), "a"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_search_alias_and_its_folder_are_the_same_model(env, capsys):
    tmp, data, _ = env
    index = tmp / "minilm.parquet"
    assert main(["embed", "--model", "minilm", "--data", str(data), "--split", "valid", "--column", "code",
                 "--out", str(index), "--no-progress"]) == 0
    capsys.readouterr()
    for model in ("minilm", str(packaged_minilm_dir())):
        assert main(["search", "--index", str(index), "--model", model, "a"]) == 0
        assert "warning" not in capsys.readouterr().err


# 2a. CoSQA files that parse but have the wrong shape

GOOD_ITEM = {"idx": "q0", "doc": "reverse a string", "code": "x", "label": 1, "retrieval_idx": 0}


@pytest.mark.parametrize("queries, code_map, needle", [
    ({"doc": "q", "retrieval_idx": 0}, {"def f(): pass": 0}, "cosqa-retrieval-dev-500.json holds a JSON dict"),
    ([{"idx": "q0", "doc": "reverse a string", "label": 1}], {"def f(): pass": 0}, "item 0 (q0) has no 'retrieval_idx'"),
    (["reverse a string"], {"def f(): pass": 0}, "item 0 is a JSON str"),
    ([dict(GOOD_ITEM, retrieval_idx="zero")], {"def f(): pass": 0}, "not an integer"),
    ([dict(GOOD_ITEM, doc=None)], {"def f(): pass": 0}, "no query text"),
    ([GOOD_ITEM], ["def f(): pass"], "code_idx_map.txt holds a JSON list"),
    ([GOOD_ITEM], {"def f(): pass": 0, "def g(): pass": 0}, "maps two snippets to index 0"),
    ([GOOD_ITEM], {"def f(): pass": [0]}, "not an integer index"),
])
def test_evaluate_refuses_malformed_cosqa(tmp_path, capsys, queries, code_map, needle):
    folder = tmp_path / "cosqa"
    folder.mkdir()
    (folder / "cosqa-retrieval-dev-500.json").write_text(json.dumps(queries))
    (folder / "code_idx_map.txt").write_text(json.dumps(code_map))
    assert main(["evaluate", "--bm25", "--cosqa", str(folder)]) == 2
    err = capsys.readouterr().err
    assert needle in err and str(folder) in err and len(err.strip().splitlines()) == 1


# 2b. --json is checked before the evaluation runs

@pytest.mark.parametrize("target", ["/proc/nope/x.json", "FOLDER", "FILE/x.json"])
def test_evaluate_checks_json_path_before_evaluating(tmp_path, capsys, monkeypatch, target):
    import trainer.cmd_evaluate as cmd

    ran = []
    monkeypatch.setattr(cmd, "evaluate_all", lambda args: ran.append(1) or {"split": None, "systems": {}})
    blocker = tmp_path / "file"
    blocker.write_text("x")
    path = target.replace("FOLDER", str(tmp_path)).replace("FILE", str(blocker))
    assert main(["evaluate", "--bm25", "--cosqa", str(tmp_path), "--json", path]) == 2
    err = capsys.readouterr().err
    assert "--json" in err and len(err.strip().splitlines()) == 1
    assert not ran


def test_evaluate_json_in_a_new_folder_still_works(tmp_path, capsys, monkeypatch):
    import trainer.cmd_evaluate as cmd

    monkeypatch.setattr(cmd, "evaluate_all", lambda args: {"split": None, "systems": {}})
    out = tmp_path / "new" / "deeper" / "r.json"
    assert main(["evaluate", "--bm25", "--cosqa", str(tmp_path), "--json", str(out)]) == 0
    assert json.loads(out.read_text()) == {"split": None, "systems": {}}


# 4. the exported SentenceTransformer folder embeds like `embed`, also past the training length

def test_sentence_transformer_export_equals_embed_for_long_code(tmp_path, capsys):
    from sentence_transformers import SentenceTransformer

    from trainer.st_export import DOC_MAX_LEN, doc_max_len, export_encoder

    tok = load_tokenizer(packaged_minilm_dir())
    backbone = _tiny_bert(tok, 3)
    # contrastive passes its training --code-max-len (here 64) to the export
    folder = export_encoder(backbone, tok, tmp_path / "model", train_max_len=64, extra={"stage2": {"code_max_len": 64}})
    assert json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"] == DOC_MAX_LEN
    assert json.loads((folder / "codesage_stage2.json").read_text())["export"]["train_max_len"] == 64
    long_code = "def long_function(a, b):\n" + "".join(f"    value_{i} = a * {i} + b\n" for i in range(12))
    short_code = "def add(a, b):\n    return a + b"
    assert 64 < len(tok(long_code)["input_ids"]) < DOC_MAX_LEN
    data = write_pairs([{"code": long_code, "split": "test"}, {"code": short_code, "split": "test"}], tmp_path / "pairs")
    index = tmp_path / "v.parquet"
    assert main(["embed", "--model", str(folder), "--data", str(data), "--out", str(index), "--no-progress"]) == 0
    table = pq.read_table(index)
    assert json.loads(table.schema.metadata[b"codesage.embed"])["max_len"] == DOC_MAX_LEN
    ours = np.stack(table.column("vector").to_numpy(zero_copy_only=False))
    via_st = SentenceTransformer(str(folder), device="cpu").encode([long_code, short_code], convert_to_numpy=True)
    np.testing.assert_allclose(via_st, ours, atol=1e-5)

    # a model with fewer positions: the export and embed's default are both capped there
    small = export_encoder(_tiny_bert(tok, 4, max_position_embeddings=128), tok, tmp_path / "small", train_max_len=64)
    assert doc_max_len(_tiny_bert(tok, 4, max_position_embeddings=128)) == 128
    assert json.loads((small / "sentence_bert_config.json").read_text())["max_seq_length"] == 128
    index2 = tmp_path / "v2.parquet"
    assert main(["embed", "--model", str(small), "--data", str(data), "--out", str(index2), "--no-progress"]) == 0
    assert json.loads(pq.read_table(index2).schema.metadata[b"codesage.embed"])["max_len"] == 128
    ours2 = np.stack(pq.read_table(index2).column("vector").to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(SentenceTransformer(str(small), device="cpu").encode([long_code, short_code]), ours2, atol=1e-5)
