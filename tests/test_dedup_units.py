"""Unit tests of pipeline.dedup without Beam: tokens, shingles, signatures, banding, verification,
components (reference implementation of the Beam algorithm), parameters and the survivor rule."""
from __future__ import annotations

import argparse
import itertools
import random
import re
from pathlib import Path

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHash, MinHashLSH

from pipeline.dedup import NearDedupParams, add_dedup_arguments, file_rank, lsh, params_from_options
from pipeline.dedup import minhash as mh
from pipeline.dedup.components import ComponentsNotConverged, components_reference, node_label
from pipeline.dedup.shingles import (content_key, normalize_for_exact, shingles, shingles_from_tokens,
                                     token_sequence_key, tokenize)
from pipeline.dedup.verify import chain_edges, jaccard, verify_members
from pipeline.errors import UserError

REPO = Path(__file__).resolve().parents[1]


# --- tokens and shingles -------------------------------------------------------------------------

def test_tokenizer_has_no_empty_tokens_and_keeps_operators():
    text = "x  +=  foo_bar(1.5e3);;\n\n\tif (a->b != c) {  return; }  "
    tokens = tokenize(text)
    assert all(tokens), tokens
    assert tokens[:6] == ["x", "+=", "foo_bar", "(", "1", "."]
    assert "->" in tokens and "!=" in tokens and ");;" in tokens
    # BigCode's split on [^A-Za-z_0-9] produces empty strings here: the bug we must not copy.
    assert "" in re.split("[^A-Za-z_0-9]", text)


def test_whitespace_and_punctuation_runs_do_not_make_shared_shingles():
    a = "alpha   ;;   ,,   beta"
    b = "gamma   ;;   ,,   delta"
    # Only identifiers differ: with real tokens the two 4-token documents share no 3-gram.
    assert not (shingles(a, 3) & shingles(b, 3))


def test_shingles_count_and_short_documents():
    tokens = tokenize("a b c d e f g")
    assert len(shingles_from_tokens(tokens, 5)) == 3
    assert b"a b c d e" in shingles_from_tokens(tokens, 5)
    assert shingles("a b c d", 5) == set()
    assert shingles("", 5) == set()
    assert token_sequence_key(tokenize("x = 1")) == token_sequence_key(tokenize("x=1\n"))
    assert token_sequence_key(tokenize("x = 1")) != token_sequence_key(tokenize("x = 2"))
    with pytest.raises(ValueError):
        shingles_from_tokens(tokens, 0)
    # The fast construction equals the definition on real, non-ASCII code.
    text = (REPO / "pipeline" / "dedup" / "near.py").read_text(encoding="utf-8") + " caf\u00e9 = '\u65e5\u672c'"
    toks = tokenize(text)
    naive = {" ".join(toks[i : i + 5]).encode("utf-8") for i in range(len(toks) - 4)}
    assert shingles_from_tokens(toks, 5) == naive and len(naive) > 100


def test_exact_normalization():
    base = "def f():\n    return 1\n"
    variants = ["\ufeff" + base, base.replace("\n", "\r\n"), "def f():   \n    return 1\t\n\n\n", base.replace("\n", "\r")]
    assert all(normalize_for_exact(v) == normalize_for_exact(base) for v in variants)
    assert len({content_key(v) for v in variants + [base]}) == 1
    assert content_key(base) != content_key(base.replace("    ", "  "))  # indentation is significant


# --- MinHash signatures ---------------------------------------------------------------------------

def _datasketch(shingle_list, num_perm=256, seed=1):
    m = MinHash(num_perm=num_perm, seed=seed)
    m.update_batch(list(shingle_list))
    return m


def _real_documents(limit=40):
    files = sorted((REPO / "pipeline").rglob("*.py"))[:limit]
    return [f.read_text(encoding="utf-8") for f in files]


def test_signatures_bit_identical_to_datasketch_on_real_code():
    docs = _real_documents()
    sets = [shingles(d) for d in docs]
    ours = mh.signatures(sets)
    assert ours.dtype == np.uint32 and ours.shape == (len(docs), 256)
    for s, row in zip(sets, ours):
        assert np.array_equal(_datasketch(s).hashvalues, row)


def test_signatures_bit_identical_on_stack_sample(stack_sample):
    import pyarrow.parquet as pq

    path = sorted((stack_sample / "data" / "typescript").glob("*.parquet"))[0]
    docs = pq.read_table(path, columns=["content"]).column("content").to_pylist()[:25]
    sets = [shingles(d) for d in docs]
    for s, row in zip(sets, mh.signatures(sets)):
        assert np.array_equal(_datasketch(s).hashvalues, row)


def test_signatures_edge_cases(monkeypatch):
    cases = [
        set(),                                      # empty: all slots stay 2^32 - 1, like datasketch
        {b"only one shingle"},
        shingles("caf\u00e9 = '\u65e5\u672c' + \U0001f600 ; x = 1 ; y = 2"),
        shingles("a = 1\n" * 50),                   # heavy repetition
        shingles(" ".join(f"t{i}" for i in range(3000))),  # larger than a permutation chunk below
    ]
    monkeypatch.setattr(mh, "_CHUNK_COLS", 7)  # force documents to straddle chunks
    for num_perm, seed in ((256, 1), (128, 7)):
        ours = mh.signatures(cases, num_perm=num_perm, seed=seed)
        for s, row in zip(cases, ours):
            assert np.array_equal(_datasketch(s, num_perm, seed).hashvalues, row)
    # Multiplicity does not matter: datasketch on a list with repeats equals our set signature.
    with_repeats = [b"x y z"] * 3 + [b"u v w"]
    assert np.array_equal(_datasketch(with_repeats).hashvalues, mh.signatures([set(with_repeats)])[0])


def test_lean_minhash_interoperates_with_datasketch():
    docs = _real_documents(6)
    a_set, b_set = shingles(docs[0]), shingles(docs[0] + "\n" + docs[1])
    sig = mh.signatures([a_set, b_set])
    lean_a = mh.to_lean_minhash(sig[0])
    assert isinstance(lean_a, LeanMinHash)
    ref_a, ref_b = _datasketch(a_set), _datasketch(b_set)
    assert lean_a.jaccard(ref_b) == ref_a.jaccard(ref_b)
    assert mh.to_lean_minhash(sig[1]).jaccard(lean_a) == ref_b.jaccard(ref_a)
    buf = bytearray(lean_a.bytesize())
    lean_a.serialize(buf)
    assert np.array_equal(LeanMinHash.deserialize(buf).hashvalues, sig[0])


# --- LSH -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("threshold,num_perm,weights", [(0.7, 256, (0.5, 0.5)), (0.85, 128, (0.3, 0.7))])
def test_optimal_params_match_datasketch(threshold, num_perm, weights):
    ref = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=weights)
    assert lsh.optimal_params(threshold, num_perm, *weights) == (ref.b, ref.r)
    p = NearDedupParams(threshold=threshold, num_perm=num_perm, fp_weight=weights[0], fn_weight=weights[1])
    assert p.band_params() == (ref.b, ref.r)


def test_band_keys():
    sig = np.arange(256, dtype=np.uint32)
    keys = lsh.band_keys(sig, 25, 10)
    assert len(keys) == 25 and len(set(keys)) == 25
    other = sig.copy()
    other[13] += 1  # row 13 is in band 1
    changed = [i for i, (x, y) in enumerate(zip(keys, lsh.band_keys(other, 25, 10))) if x != y]
    assert changed == [1]
    flat = np.zeros(256, dtype=np.uint32)
    fk = lsh.band_keys(flat, 4, 8)
    assert len(set(fk)) == 4  # equal values in different bands never collide


def test_describe_s_curve():
    d = lsh.describe(NearDedupParams())
    assert (d["b"], d["r"]) == (25, 10) and d["num_perm"] == 256 and d["ngram"] == 5
    curve = d["s_curve"]
    assert [c["s"] for c in curve] == [round(0.05 * i, 2) for i in range(21)]
    assert all(abs(c["p_candidate"] - (1 - (1 - c["s"] ** 10) ** 25)) < 1e-12 for c in curve)
    ps = [c["p_candidate"] for c in curve]
    assert ps == sorted(ps) and ps[0] == 0.0 and ps[-1] == 1.0
    assert 0 < d["false_positive_area"] < 0.1 and 0 < d["false_negative_area"] < 0.1
    assert d["enabled"] is True
    import json

    json.dumps(d)


def test_describe_says_when_near_dedup_is_off():
    """--no-near-dedup: the manifest's lsh block states it, with no parameters that were never used."""
    assert lsh.describe(NearDedupParams(enabled=False)) == {"enabled": False}


# --- parameters ----------------------------------------------------------------------------------

def test_flags_and_params_from_options():
    # The pipeline's own options class: a second PipelineOptions subclass adding the same flags
    # would conflict in Beam's global parser (it collects every subclass's arguments).
    from pipeline.options import CodesageOptions as Opts

    opts = Opts(["--ngram", "4", "--num-perm", "128", "--dedup-threshold", "0.8", "--bands", "16", "--rows", "8",
                 "--no-verify", "--cc-max-rounds", "9", "--mega-cluster-size", "50", "--minhash-seed", "3",
                 "--runner=DirectRunner"])
    p = params_from_options(opts)
    assert (p.ngram, p.num_perm, p.threshold, p.seed, p.verify, p.cc_max_rounds, p.mega_cluster_size) == (
        4, 128, 0.8, 3, False, 9, 50)
    assert p.band_params() == (16, 8) and p.enabled
    d = params_from_options(Opts([]))
    assert d == NearDedupParams() and d.effective_verify_threshold() == 0.7
    ns = argparse.ArgumentParser()
    add_dedup_arguments(ns)
    q = params_from_options(ns.parse_args(["--no-near-dedup", "--verify-threshold", "0.9", "--rows", "16"]))
    assert not q.enabled and q.effective_verify_threshold() == 0.9 and q.band_params() == (16, 16)
    import pickle

    assert pickle.loads(pickle.dumps(p)) == p


@pytest.mark.parametrize("kwargs,flag", [
    (dict(bands=30, rows=10), "--num-perm"), (dict(threshold=1.5), "--dedup-threshold"),
    (dict(ngram=0), "--ngram"), (dict(cc_max_rounds=0), "--cc-max-rounds"),
])
def test_bad_params_are_user_errors(kwargs, flag):
    with pytest.raises(UserError, match=re.escape(flag)):
        NearDedupParams(**kwargs)


# --- survivor rule -------------------------------------------------------------------------------

def test_file_rank():
    recs = [
        {"id": "a", "licenses": ["GPL-3.0"], "stars": 1000},
        {"id": "b", "licenses": ["MIT", "GPL-3.0"], "stars": 5},
        {"id": "c", "licenses": ["mit"], "stars": None},
        {"id": "d", "licenses": ["Apache-2.0"], "stars": 3},
        {"id": "e", "licenses": ["BSD-3-Clause"], "stars": 3},
        {"id": "f", "licenses": [], "stars": 10},
        {"id": "g"},
    ]
    order = [r["id"] for r in sorted(recs, key=file_rank)]
    assert order == ["d", "e", "c", "b", "a", "f", "g"]


# --- verification --------------------------------------------------------------------------------

def _fp(items):
    return np.unique(np.array(sorted(items), dtype=np.uint64))


def test_verification_does_not_disconnect_true_duplicates():
    # A ~ C (J = 0.9) but B, sorted between them, is unrelated to both: chain verification
    # (A-B, B-C) would lose A-C; ours must link A and C.
    a = _fp(range(100))
    b = _fp(range(1000, 1100))
    c = _fp(list(range(95)) + [7777])  # J(A, C) = 95 / 101
    members = [(("1", "A"), a), (("2", "B"), b), (("3", "C"), c)]
    edges, comparisons = verify_members(members, 0.7)
    assert edges == [(("1", "A"), ("3", "C"))]
    assert comparisons >= 1
    assert chain_edges([m[0] for m in members]) == [(("1", "A"), ("2", "B")), (("2", "B"), ("3", "C"))]


def test_verification_forest_property_random():
    rng = random.Random(5)
    base = [set(rng.sample(range(10000), 80)) for _ in range(4)]
    members = []
    for i in range(30):
        s = set(base[i % 4])
        for _ in range(rng.randrange(0, 12)):
            s.discard(rng.choice(sorted(s)))
            s.add(rng.randrange(10000, 20000))
        members.append(((rng.random(), f"m{i}"), _fp(s)))
    t = 0.7
    edges, _ = verify_members(members, t)
    assert len(edges) <= len(members) - 1
    parent = {m[0]: m[0] for m in members}

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for x, y in edges:
        assert jaccard(dict(members)[x], dict(members)[y]) >= t
        parent[find(x)] = find(y)
    for (x, fx), (y, fy) in itertools.combinations(members, 2):
        if jaccard(fx, fy) >= t:
            assert find(x) == find(y)


def test_jaccard():
    assert jaccard(_fp([1, 2, 3]), _fp([2, 3, 4])) == 0.5
    assert jaccard(_fp([]), _fp([])) == 0.0


# --- connected components (the Beam algorithm, run in memory) -----------------------------------

def test_long_chain_converges_in_few_rounds():
    nodes = [node_label(f"file{i:04d}") for i in range(200)]
    roots, rounds = components_reference(zip(nodes, nodes[1:]), max_rounds=20)
    assert set(roots) == set(nodes) and set(roots.values()) == {min(nodes)}
    assert 1 <= rounds <= 8  # O(log n) with hashed labels; the default --cc-max-rounds is 12
    with pytest.raises(ComponentsNotConverged, match="--cc-max-rounds"):
        components_reference(zip(nodes, nodes[1:]), max_rounds=rounds - 1)


def test_star_and_random_graph_match_union_find():
    centre = node_label("centre")
    leaves = [node_label(f"leaf{i}") for i in range(300)]
    roots, rounds = components_reference([(centre, x) for x in leaves], max_rounds=5)
    assert set(roots.values()) == {min(leaves + [centre])} and rounds <= 2

    rng = random.Random(3)
    nodes = [node_label(f"n{i}") for i in range(400)]
    edges = [(rng.choice(nodes), rng.choice(nodes)) for _ in range(300)]
    roots, _ = components_reference(edges, max_rounds=20)
    parent = {n: n for n in nodes}

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for x, y in edges:
        a, b = find(x), find(y)
        if a != b:
            parent[max(a, b)] = min(a, b)
    for n, r in roots.items():
        assert r == find(n)
