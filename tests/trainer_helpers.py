"""Shared helpers for the trainer tests: small schema-valid `files` shards with identifier spans."""
from __future__ import annotations

import random
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import FILES_SCHEMA
from schemas.validate import validate

NAMES = ["count", "total", "value", "items", "result", "buffer", "index", "parser", "token", "node",
         "offset", "width", "height", "matrix", "vector", "cache", "queue", "record", "stream", "window"]
CLASSES = ["Reader", "Writer", "Parser", "Store", "Graph", "Table", "Loader", "Engine"]
VERBS = ["load", "save", "parse", "merge", "split", "build", "scan", "update"]

_MARK = re.compile(r"\{(c|f|v):(\w+)\}")
_KIND = {"c": "class", "f": "function", "v": "variable"}


def render(template: str) -> tuple[str, list[dict]]:
    """Replace {c:Name}/{f:name}/{v:name} markers by the name and record its span (char offsets)."""
    out, spans, at = [], [], 0
    pos = 0
    for m in _MARK.finditer(template):
        out.append(template[pos:m.start()])
        at += m.start() - pos
        name = m.group(2)
        spans.append({"start": at, "end": at + len(name), "kind": _KIND[m.group(1)]})
        out.append(name)
        at += len(name)
        pos = m.end()
    out.append(template[pos:])
    return "".join(out), spans


def make_source(rng: random.Random, n_funcs: int | None = None) -> tuple[str, list[dict]]:
    cls = rng.choice(CLASSES)
    parts = [f"# {cls} helpers: the {rng.choice(NAMES)} and {rng.choice(NAMES)} live here\n",
             f"class {{c:{cls}}}:\n"]
    for _ in range(n_funcs or rng.randint(1, 4)):
        fn = f"{rng.choice(VERBS)}_{rng.choice(NAMES)}"
        a, b = rng.sample(NAMES, 2)
        parts.append(
            f"    def {{f:{fn}}}({{v:self}}, {{v:{a}}}):\n"
            f'        """Return the {a} after {fn}; {b} is a local."""\n'
            f"        {{v:{b}}} = {{v:{a}}} + {rng.randint(0, 99)}  # add to {b}\n"
            f"        if {{v:{b}}} > {{v:self}}.{a}:\n"
            f"            {{v:{b}}} = \"{b} text\"\n"
            f"        return {{v:{b}}}\n\n"
        )
    return render("".join(parts))


def make_rows(n: int, seed: int = 0, splits=("train",), lang: str = "python") -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        content, spans = make_source(rng)
        rows.append({
            "id": f"{seed:04d}{i:08d}", "lang": lang, "repo": "r/r", "path": f"m{i}.py", "licenses": ["MIT"],
            "content": content, "size": len(content.encode()), "identifiers": spans,
            "cluster_id": f"{seed:04d}{i:08d}", "cluster_size": 1, "split": splits[i % len(splits)],
        })
    return rows


def write_shards(folder: Path, rows: list[dict], n_shards: int = 2, row_group_size: int = 64, drop: tuple[str, ...] = ()) -> Path:
    """Write rows as OUT/files/part-NNNNN-of-MMMMM.parquet; returns OUT."""
    files = Path(folder) / "files"
    files.mkdir(parents=True, exist_ok=True)
    for k in range(n_shards):
        part = rows[k::n_shards]
        table = validate(pa.Table.from_pylist(part, schema=FILES_SCHEMA), "files")
        for col in drop:
            table = table.drop_columns([col])
        pq.write_table(table, files / f"part-{k:05d}-of-{n_shards:05d}.parquet", row_group_size=row_group_size)
    return Path(folder)


def make_corpus(folder: Path, n_rows: int = 240, vocab_size: int = 400, seed: int = 0) -> tuple[Path, Path]:
    """Shards with train/valid rows and a tokenizer trained on them; returns (data, tokenizer)."""
    from trainer.tokenization import iter_contents, save_tokenizer, train_tokenizer
    from trainer.data import find_shards

    data = write_shards(Path(folder) / "data", make_rows(n_rows, seed=seed, splits=("train", "train", "train", "valid")))
    tok = train_tokenizer(iter_contents(find_shards(data), "train"), vocab_size)
    tok_dir = save_tokenizer(tok, Path(folder) / "tok")
    return data, tok_dir


PAIR_WORDS = ["list", "file", "string", "number", "path", "user", "cache", "queue", "token", "image", "table", "socket"]
PAIR_VERBS = {"sort": "sorted({x})", "count": "len({x})", "reverse": "{x}[::-1]", "copy": "list({x})", "print": "print({x})",
              "close": "{x}.close()"}


def make_pair_rows(n: int, seed: int = 0, split: str = "train", langs: tuple[str, ...] = ("python",)) -> list[dict]:
    """`pairs` rows (summary, code, code_hard) of one-line functions, for `trainer.pairs_data.write_pairs`;
    row i has language langs[i % len(langs)]."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        verb, obj = rng.choice(list(PAIR_VERBS)), rng.choice(PAIR_WORDS)
        body = PAIR_VERBS[verb].format(x=f"{obj}_items")
        rows.append({"id": f"s{seed}-{i}:1", "file_id": f"s{seed}-{i}", "split": split, "name": f"{verb}_{obj}",
                     "lang": langs[i % len(langs)], "summary": f"{verb} the {obj} items.",
                     "code": f"def {verb}_{obj}({obj}_items):\n    {body}", "code_hard": f"    {body}"})
    return rows


def tiny_bert_dir(path: Path, masked_lm: bool = False) -> Path:
    """A 2-layer, 32-wide BERT (BertModel, or BertForMaskedLM with `masked_lm`) with the packaged MiniLM's
    WordPiece tokenizer: a model folder stage 2, evaluate and embed load in a second."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertModel

    from trainer.encoder import load_tokenizer, packaged_minilm_dir

    torch.manual_seed(0)
    tok = load_tokenizer(packaged_minilm_dir())
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, pad_token_id=tok.pad_token_id)
    (BertForMaskedLM if masked_lm else BertModel)(cfg).save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return Path(path)


def error_line(capsys) -> str:
    """The one `error:` line a command printed on stderr (and no traceback)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]
