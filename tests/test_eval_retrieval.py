"""CoSQA-format evaluation (tiny fixture and the real dev set with BM25), pair retrieval, code-to-code
groups, and the evaluate command's table/JSON."""
from __future__ import annotations

import json

import pytest

from trainer.errors import UserError
from trainer.evaluation.cosqa import evaluate_cosqa, load_cosqa
from trainer.evaluation.pairs_eval import code_groups, evaluate_code_to_code, evaluate_pair_retrieval, load_split
from trainer.evaluation.retrievers import BM25Retriever, code_tokens
from trainer.pairs_data import write_pairs

CODES = [
    "def read_json_file(path):\n    with open(path) as fh:\n        return json.load(fh)",
    "def reverse_string(text):\n    return text[::-1]",
    "def count_words(text):\n    return len(text.split())",
    "def mkdir_p(path):\n    os.makedirs(path, exist_ok=True)",
]
QUERIES = [("python read a json file", 0), ("how to reverse a string", 1), ("count words in text", 2), ("create directory if missing", 3)]


def write_cosqa(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "code_idx_map.txt").write_text(json.dumps({c: i for i, c in enumerate(CODES)}))
    items = [{"idx": f"q{i}", "doc": q, "code": CODES[g], "code_tokens": "", "docstring_tokens": "", "label": 1, "retrieval_idx": g}
             for i, (q, g) in enumerate(QUERIES)]
    (folder / "cosqa-retrieval-dev-500.json").write_text(json.dumps(items))
    return folder


def test_code_tokens_split_identifiers():
    assert code_tokens("def readJSONFile(my_path): return 42") == [
        "def", "readjsonfile", "read", "json", "file", "my_path", "my", "path", "return", "42"]


def test_tiny_cosqa_with_bm25(tmp_path):
    folder = write_cosqa(tmp_path / "cosqa")
    queries, codes, gold = load_cosqa(folder)
    assert codes == CODES and gold == [0, 1, 2, 3]
    r = evaluate_cosqa(BM25Retriever(), folder)
    assert r["queries"] == 4 and r["pool"] == 4
    # queries 0-2 share words with their snippet only; query 3 ("directory" vs "mkdir") shares none
    assert r["recall@1"] == pytest.approx(0.75)
    assert "ranks past 1000 score 0" in r["convention"]


def test_tiny_cosqa_with_dense_model(tmp_path):
    import torch
    from transformers import BertConfig, BertModel

    from trainer.encoder import load_tokenizer, packaged_minilm_dir
    from trainer.evaluation.retrievers import DenseRetriever

    torch.manual_seed(0)
    tok = load_tokenizer(packaged_minilm_dir())
    BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(str(tmp_path / "m"))
    tok.save_pretrained(str(tmp_path / "m"))
    folder = write_cosqa(tmp_path / "cosqa")
    r = evaluate_cosqa(DenseRetriever(str(tmp_path / "m"), progress=False), folder)
    assert 0.0 < r["mrr"] <= 1.0 and r["queries"] == 4


def test_real_cosqa_dev_bm25(cosqa_dir):
    r = evaluate_cosqa(BM25Retriever(), cosqa_dir)
    assert r["queries"] == 500 and r["pool"] == 6267
    assert 0.15 < r["mrr"] < 0.6  # BM25 on CoSQA is far above chance (1/6267) and far below perfect


def test_bad_cosqa_folder(tmp_path):
    with pytest.raises(UserError, match="cosqa-retrieval-dev-500.json"):
        load_cosqa(tmp_path)


def _pairs(tmp_path):
    rows = []
    for i, (name, summary, body) in enumerate([
        ("reverse", "Reverse the items.", "    out = items[::-1]"),
        ("reverse", "Reverse the items.", "    out = list(reversed(items))"),
        ("total", "Add up all numbers.", "    s = 0\n    for n in numbers:\n        s += n"),
        ("Box.total", "Add up all numbers.", "    acc = sum(numbers)"),
        ("shout", "Print a loud greeting.", "    print(greeting.upper())"),
        ("reverse", "Reverse the items.", "    items.reverse()"),
    ]):
        rows.append({"id": f"f{i}:1", "file_id": f"f{i if i != 5 else 0}", "split": "test", "name": name, "summary": summary,
                     "code": f"def {name}(items):\n{body}", "code_hard": body})
    return write_pairs(rows, tmp_path / "pairs")


def test_groups_and_pair_metrics(tmp_path):
    rows = load_split(_pairs(tmp_path), "test")
    groups = sorted(sorted(g) for g in code_groups(rows))
    assert groups == [[0, 1], [2, 3]]  # row 5 repeats file f0: one member per file
    r = evaluate_pair_retrieval(BM25Retriever(), rows, "code_hard")
    assert r["queries"] == 6 and r["pool"] == 6 and 0 < r["mrr"] <= 1
    c2c = evaluate_code_to_code(BM25Retriever(), rows)
    assert c2c["groups"] == 2 and c2c["queries"] == 4 and 0 < c2c["map"] <= 1


def test_evaluate_command_writes_table_and_json(tmp_path, capsys):
    from trainer.__main__ import main

    out = tmp_path / "r.json"
    assert main(["evaluate", "--bm25", "--cosqa", str(write_cosqa(tmp_path / "c")), "--pairs", str(_pairs(tmp_path)),
                 "--split", "test", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "conventions:" in printed and "code_to_code" in printed
    data = json.loads(out.read_text())
    assert set(data["systems"]["bm25"]) == {"cosqa", "pairs_summary_to_code_hard", "pairs_summary_to_code", "code_to_code"}
    assert main(["evaluate", "--cosqa", str(tmp_path / "c")]) == 2
