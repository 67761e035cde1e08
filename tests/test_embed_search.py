"""embed -> Parquet index -> search round trip, and bad inputs."""
from __future__ import annotations

import json

import pytest
import torch
from transformers import BertConfig, BertModel

from trainer.__main__ import main
from trainer.encoder import load_tokenizer, packaged_minilm_dir
from trainer.pairs_data import write_pairs


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("embed")
    torch.manual_seed(0)
    tok = load_tokenizer(packaged_minilm_dir())
    BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(str(tmp / "m"))
    tok.save_pretrained(str(tmp / "m"))
    rows = [{"id": f"f{i}:{i + 1}", "file_id": f"f{i}", "split": "test" if i % 3 else "train", "path": f"pkg/mod{i}.py",
             "name": f"func_{i}", "start_line": i + 1, "end_line": i + 4, "summary": f"Do thing number {i}.",
             "code": f"def func_{i}(x):\n    return x * {i} + {i * i}", "code_hard": f"    y = x * {i}"} for i in range(12)]
    return tmp, write_pairs(rows, tmp / "pairs", shards=2), rows


def test_embed_then_search_finds_exact_code(setup, capsys):
    tmp, data, rows = setup
    index = tmp / "vec.parquet"
    assert main(["embed", "--model", str(tmp / "m"), "--data", str(data), "--split", "test", "--out", str(index),
                 "--block", "3", "--no-progress"]) == 0
    import pyarrow.parquet as pq

    table = pq.read_table(index)
    test_rows = [r for r in rows if r["split"] == "test"]
    assert table.num_rows == len(test_rows)
    assert sorted(table.column("id").to_pylist()) == sorted(r["id"] for r in test_rows)
    capsys.readouterr()
    target = test_rows[2]
    # the query IS one row's code: its vector is identical, so it must come first with cosine ~1
    assert main(["search", "--index", str(index), "--top-k", "3", "--json", "--max-len", "256", target["code"]]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert len(hits) == 3 and hits[0]["id"] == target["id"] and hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert hits[0]["path"] == target["path"] and hits[0]["start_line"] == target["start_line"]
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]


def test_bad_inputs(setup, capsys):
    tmp, data, _ = setup
    assert main(["embed", "--model", str(tmp / "m"), "--data", str(data), "--split", "valid", "--out", str(tmp / "x.parquet")]) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["embed", "--model", str(tmp / "m"), "--data", str(data), "--column", "content", "--out", str(tmp / "x.parquet")]) == 2
    assert "no column 'content'" in capsys.readouterr().err
    assert main(["search", "--index", str(tmp / "missing.parquet"), "query"]) == 2
    assert "not found" in capsys.readouterr().err


def test_embed_refuses_an_existing_output_unless_overwrite(setup, capsys):
    tmp, data, rows = setup
    index = tmp / "again.parquet"
    index.write_text("not an index yet, but mine")
    args = ["embed", "--model", str(tmp / "m"), "--data", str(data), "--split", "test", "--out", str(index), "--no-progress"]
    assert main(args) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert index.read_text() == "not an index yet, but mine"
    assert main(args + ["--overwrite"]) == 0
    import pyarrow.parquet as pq

    assert pq.read_table(index).num_rows == sum(r["split"] == "test" for r in rows)


def test_search_top_k_must_be_positive(setup, capsys):
    tmp, _, _ = setup
    for k in ("0", "-1"):
        with pytest.raises(SystemExit) as exc:
            main(["search", "--index", str(tmp / "vec.parquet"), "--top-k", k, "json"])
        assert exc.value.code == 2
        assert "--top-k: must be a positive integer" in capsys.readouterr().err
