"""Tokenizer: streamed BPE training, HF folder, appended end token, identifier-preserving pre-tokens."""
from __future__ import annotations

import json
import re

import pytest
from trainer_helpers import make_rows, write_shards

from trainer.__main__ import main


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tok")
    data = write_shards(root / "data", make_rows(120, splits=("train", "valid")))
    out = root / "tok"
    assert main(["tokenizer", "--data", str(data / "files"), "--vocab-size", "420", "--out", str(out)]) == 0
    return out


def test_hf_folder_loads_and_appends_end_token(tok_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    assert (tok.pad_token, tok.eos_token, tok.mask_token) == ("<pad>", "</s>", "<mask>")
    assert (tok.pad_token_id, tok.eos_token_id, tok.mask_token_id) == (0, 1, 2)
    ids = tok("def load(self): return 1").input_ids
    assert ids[-1] == tok.eos_token_id and ids.count(tok.eos_token_id) == 1
    raw = tok("def load(self): return 1", add_special_tokens=False).input_ids
    assert raw == ids[:-1]
    assert tok.decode(raw) == "def load(self): return 1"
    batch = tok(["a = 1", "b = 22"], padding=True)
    assert all(1 in row for row in batch.input_ids)
    assert len(tok) == 420
    info = json.loads((tok_dir / "training_info.json").read_text())
    assert info["docs"] == 60  # only the train split (every other row)
    assert (tok_dir / "metrics.jsonl").is_file()


def test_tokens_never_cross_identifier_boundaries(tok_dir):
    from trainer.tokenization import load_tokenizer

    tok = load_tokenizer(tok_dir)
    text = "x.__init__(self)+foo_bar[count2]=é_ident;  value=total"
    enc = tok.encode(text)
    for m in re.finditer(r"[^\W\d][\w]*", text):
        s, e = m.span()
        for (a, b), special in zip(enc.offsets, enc.special_tokens_mask):
            if special or b <= s or a >= e:
                continue
            # An overlapping token lies inside the identifier, except one leading space.
            assert a >= s - 1 and b <= e, (m.group(), text[a:b])
            if a == s - 1:
                assert text[a] == " "
    assert "".join(tok.decode(enc.ids, skip_special_tokens=True)) == text


def test_errors(tmp_path, tok_dir, capsys):
    assert main(["tokenizer", "--data", str(tmp_path / "missing"), "--vocab-size", "400", "--out", str(tmp_path / "t")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["tokenizer", "--data", str(tok_dir.parent / "data"), "--vocab-size", "400", "--out", str(tok_dir)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["tokenizer", "--data", str(tok_dir.parent / "data"), "--vocab-size", "400", "--split", "test", "--out", str(tmp_path / "t2")]) == 2
    assert "no documents" in capsys.readouterr().err
