"""Stage-1 corruption: MLM rate, DOBF selects every occurrence and never touches comments or strings."""
from __future__ import annotations

import random

import numpy as np
import pytest
from trainer_helpers import make_corpus, make_source

from trainer.masking import IGNORE_INDEX, MODE_DOBF, MODE_MLM, MaskingConfig, corrupt_document


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    from trainer.tokenization import load_tokenizer

    _, tok_dir = make_corpus(tmp_path_factory.mktemp("mask"), n_rows=120)
    return load_tokenizer(tok_dir)


def _encode(tok, text):
    enc = tok.encode(text)
    return (np.array(enc.ids), np.array(enc.offsets).reshape(-1, 2), np.array(enc.special_tokens_mask, dtype=bool))


def test_mlm_rate_and_labels(tok):
    cfg = MaskingConfig(mask_id=2, mlm_rate=0.15, dobf_prob=0.0)
    rng = np.random.default_rng(0)
    src = random.Random(1)
    masked = total = 0
    for _ in range(200):
        text, spans = make_source(src)
        ids, offs, special = _encode(tok, text)
        inputs, labels, mode = corrupt_document(ids, offs, special, text, spans, rng, cfg)
        assert mode == MODE_MLM
        sel = labels != IGNORE_INDEX
        assert (inputs[sel] == 2).all(), "every chosen token becomes <mask> (no 80-10-10)"
        assert (labels[sel] == ids[sel]).all() and (inputs[~sel] == ids[~sel]).all()
        assert not sel[special].any(), "the end token is never masked"
        n = int((~special).sum())
        assert sel.sum() == max(1, round(0.15 * n))
        masked += sel.sum()
        total += n
    assert abs(masked / total - 0.15) < 0.01


def test_mode_mix_probability(tok):
    cfg = MaskingConfig(mask_id=2, dobf_prob=0.5)
    rng = np.random.default_rng(3)
    text, spans = make_source(random.Random(0))
    ids, offs, special = _encode(tok, text)
    modes = [corrupt_document(ids, offs, special, text, spans, rng, cfg)[2] for _ in range(2000)]
    share = np.mean([m == MODE_DOBF for m in modes])
    assert abs(share - 0.5) < 0.05  # 2000 draws: sd ~ 0.011


def test_dobf_masks_every_occurrence_and_nothing_else(tok):
    cfg = MaskingConfig(mask_id=2, dobf_prob=1.0, dobf_name_prob=0.5)
    rng = np.random.default_rng(7)
    src = random.Random(5)
    chosen_share = []
    for _ in range(100):
        text, spans = make_source(src)
        ids, offs, special = _encode(tok, text)
        inputs, labels, mode = corrupt_document(ids, offs, special, text, spans, rng, cfg)
        assert mode == MODE_DOBF
        sel = labels != IGNORE_INDEX
        assert (inputs[sel] == 2).all() and (labels[sel] == ids[sel]).all()
        assert (labels[~sel] == IGNORE_INDEX).all() and (inputs[~sel] == ids[~sel]).all()
        names = {}
        for sp in spans:
            names.setdefault(text[sp["start"]:sp["end"]], []).append((sp["start"], sp["end"]))
        covered = np.zeros(len(text), dtype=bool)
        chosen = 0
        for name, occ in names.items():
            state = []
            for s, e in occ:
                toks = [i for i, (a, b) in enumerate(offs) if not special[i] and a < e and b > s]
                assert toks, "every span has tokens"
                state.append(all(sel[toks]))
                assert all(sel[toks]) or not any(sel[toks])
            assert all(state) or not any(state), f"{name}: some occurrences masked, others not"
            if state[0]:
                chosen += 1
                for s, e in occ:
                    covered[s:e] = True
            # No token of an unchosen name is masked.
        chosen_share.append(chosen / len(names))
        # Every masked token lies on a chosen span (plus at most its leading space): comments, docstrings,
        # strings and unchosen names are untouched.
        for i in np.flatnonzero(sel):
            a, b = offs[i]
            inner = [c for c in range(a, b) if text[c] != " "]
            assert inner and all(covered[c] for c in inner), text[a:b]
        # In particular the comment line and the docstrings still read as in the source.
        masked_chars = {c for i in np.flatnonzero(sel) for c in range(*offs[i])}
        for line_start in [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]:
            line_end = text.find("\n", line_start)
            line = text[line_start:line_end]
            if line.lstrip().startswith(("#", '"""')):
                assert not masked_chars & set(range(line_start, line_end)), line
    assert abs(np.mean(chosen_share) - 0.5) < 0.1


def test_dobf_without_spans_falls_back_to_mlm(tok):
    cfg = MaskingConfig(mask_id=2, dobf_prob=1.0)
    text = "x = 1\n"
    ids, offs, special = _encode(tok, text)
    _, labels, mode = corrupt_document(ids, offs, special, text, [], np.random.default_rng(0), cfg)
    assert mode == MODE_MLM and (labels != IGNORE_INDEX).sum() == 1


def test_rates_validated():
    from trainer.errors import UserError

    with pytest.raises(UserError, match="mlm-rate"):
        MaskingConfig(mask_id=2, mlm_rate=1.5)
