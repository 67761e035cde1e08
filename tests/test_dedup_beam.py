"""Beam tests of pipeline.dedup: connected components on the engine (chain, star, non-convergence)
and ExactDedup + NearDedup end to end on small synthetic records, with every public variant."""
from __future__ import annotations

import random

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.dedup import ComponentsNotConverged, ConnectedComponents, ExactDedup, NearDedup, NearDedupParams
from pipeline.dedup.components import components_reference, node_label


def _chain_and_star():
    chain = [node_label(f"chain{i:03d}") for i in range(200)]
    star = [node_label(f"star{i:03d}") for i in range(60)]
    pair = [node_label("p0"), node_label("p1")]
    edges = list(zip(chain, chain[1:])) + [(star[0], s) for s in star[1:]] + [tuple(pair)]
    random.Random(0).shuffle(edges)
    return edges


def test_components_on_beam_match_reference_with_exactly_the_needed_rounds():
    edges = _chain_and_star()
    expected, rounds = components_reference(edges, max_rounds=30)
    assert rounds <= 8
    with TestPipeline() as p:
        got = p | beam.Create(edges) | ConnectedComponents(max_rounds=rounds)
        assert_that(got, equal_to(sorted(expected.items())))
    assert len(set(expected.values())) == 3


def test_components_on_beam_fail_loudly_when_not_converged():
    edges = _chain_and_star()
    _, rounds = components_reference(edges, max_rounds=30)
    with pytest.raises(Exception, match="--cc-max-rounds") as info:
        with TestPipeline() as p:
            _ = p | beam.Create(edges) | ConnectedComponents(max_rounds=rounds - 1)
    assert "did not converge" in str(info.value)
    assert isinstance(info.value, ComponentsNotConverged) or "ComponentsNotConverged" in repr(info.value)


# --- end to end ----------------------------------------------------------------------------------

def _words(rng, n):
    return [rng.choice(["foo", "bar", "baz", "qux", "x", "y", "z", "1", "2", "+", "(", ")", ";"]) + str(rng.randrange(50))
            for _ in range(n)]


def _records():
    rng = random.Random(42)
    base = _words(rng, 300)

    def variant(k):
        toks = list(base)
        for _ in range(k):
            toks[rng.randrange(len(toks))] = f"edit{rng.randrange(10**6)}"
        return " ".join(toks)

    other = _words(rng, 300)
    half = base[:150] + other[150:]
    recs = [
        {"id": "v0", "content": " ".join(base) + "\n", "licenses": ["MIT"], "stars": 5},
        {"id": "v0crlf", "content": " ".join(base) + "\r\n", "licenses": ["MIT"], "stars": 0},
        {"id": "v1", "content": variant(2), "licenses": ["GPL-3.0"], "stars": 100},
        {"id": "v2", "content": variant(3), "licenses": ["MIT"], "stars": 1},
        {"id": "v3", "content": variant(2), "licenses": [], "stars": None},
        {"id": "u", "content": " ".join(other), "licenses": ["MIT"], "stars": 0},
        {"id": "half", "content": " ".join(half), "licenses": ["MIT"], "stars": 0},
        {"id": "s1", "content": "x = 1"},
        {"id": "s2", "content": "x=1\n"},
        {"id": "s3", "content": "y = 2"},
        {"id": "s4", "content": ""},
        {"id": "s5", "content": "x =\t1"},  # same tokens as s1, different normalized content
    ]
    for r in recs:
        r.update(lang="python", path=f"pkg/{r['id']}.py", repo="r")
    return recs


def _kept(pc, label):
    return pc | label >> beam.Map(lambda r: (r["id"], r.get("cluster_id"), r.get("cluster_size")))


def _rej(pc, label):
    return pc | label >> beam.Map(lambda r: (r["id"], r["stage"], r["reason"], r["kept_id"]))


J = "near_duplicate jaccard>=0.70"
EXPECTED_KEPT = [("v0", "v0", 5), ("u", "u", 1), ("half", "half", 1), ("s1", "s1", 3), ("s3", "s3", 1), ("s4", "s4", 1)]
EXPECTED_REJ = [
    ("v1", "near_dedup", J, "v0"), ("v2", "near_dedup", J, "v0"), ("v3", "near_dedup", J, "v0"),
    ("s2", "near_dedup", "near_duplicate identical_tokens", "s1"),
    ("s5", "near_dedup", "near_duplicate identical_tokens", "s1"),
]


def test_exact_and_near_dedup_end_to_end_all_variants():
    recs = _records()
    small = NearDedupParams(cc_max_rounds=3)
    with TestPipeline() as p:
        # Main path, and the same input in another order and bundling: identical results.
        for name, order in (("fwd", recs), ("rev", list(reversed(recs)))):
            src = p | f"Create_{name}" >> beam.Create(order, reshuffle=(name == "rev"))
            ex = src | f"Exact_{name}" >> ExactDedup(text_key="content", stage="exact_dedup")
            near = ex["kept"] | f"Near_{name}" >> NearDedup(small, text_key="content", stage="near_dedup")
            assert_that(_rej(ex["rejected"], f"ExRej_{name}"),
                        equal_to([("v0crlf", "exact_dedup", "exact_duplicate", "v0")]), label=f"CheckExact_{name}")
            assert_that(_kept(near["kept"], f"Kept_{name}"), equal_to(EXPECTED_KEPT), label=f"CheckKept_{name}")
            assert_that(_rej(near["rejected"], f"Rej_{name}"), equal_to(EXPECTED_REJ), label=f"CheckRej_{name}")
            assert_that(
                near["clusters"],
                equal_to([
                    {"cluster_id": "v0", "lang": "python", "size": 5, "path": "pkg/v0.py"},
                    {"cluster_id": "s1", "lang": "python", "size": 3, "path": "pkg/s1.py"},
                ]),
                label=f"CheckClusters_{name}",
            )
            ex_counts = ex["kept"] | f"Counts_{name}" >> beam.Map(lambda r: (r["id"], r["exact_dup_count"]))
            assert_that(ex_counts, equal_to([(r["id"], 2 if r["id"] == "v0" else 1) for r in recs if r["id"] != "v0crlf"]),
                        label=f"CheckDupCount_{name}")

        src = p | "CreateNear" >> beam.Create([r for r in recs if r["id"] != "v0crlf"])

        # Unverified LSH edges (chains per bucket): same family removed, reason says so.
        unv = src | "Unverified" >> NearDedup(NearDedupParams(verify=False, cc_max_rounds=3), stage="near_dedup")
        assert_that(
            unv["rejected"] | "UnvIds" >> beam.Map(lambda r: (r["id"], r["kept_id"], "(unverified)" in r["reason"]
                                                               or "identical_tokens" in r["reason"])),
            equal_to([("v1", "v0", True), ("v2", "v0", True), ("v3", "v0", True), ("s2", "s1", True), ("s5", "s1", True)]),
            label="CheckUnverified",
        )

        # Mega-cluster guard: the 4-file family exceeds 3, so it is kept whole under the survivor's id.
        mega = src | "Mega" >> NearDedup(NearDedupParams(mega_cluster_size=3, cc_max_rounds=3), stage="near_dedup")
        assert_that(
            _kept(mega["kept"], "MegaKept") | beam.Filter(lambda t: t[0].startswith("v")),
            equal_to([(f"v{i}", "v0", 4) for i in range(4)]),
            label="CheckMega",
        )

        # Disabled: everything kept, annotated with its own id.
        off = src | "Off" >> NearDedup(NearDedupParams(enabled=False), stage="near_dedup")
        assert_that(_kept(off["kept"], "OffKept"), equal_to([(r["id"], r["id"], 1) for r in recs if r["id"] != "v0crlf"]),
                    label="CheckOff")
        assert_that(off["rejected"], equal_to([]), label="CheckOffRej")

        # Pair-level reuse (helper C): other text key, id rank, no annotation -> records unchanged.
        pairs = [{"id": f"{r['id']}:1", "code": r["content"], "lang": "python", "path": r["path"], "summary": "s"}
                 for r in recs if r["id"].startswith("v") and r["id"] != "v0crlf"]
        pair = (p | "CreatePairs" >> beam.Create(pairs)
                | "PairDedup" >> NearDedup(small, text_key="code", rank_fn=lambda r: r["id"], stage="pair_dedup",
                                           annotate=False))
        assert_that(pair["kept"], equal_to([pairs[0]]), label="CheckPairKept")
        assert_that(_rej(pair["rejected"], "PairRej"),
                    equal_to([(f"v{i}:1", "pair_dedup", J, "v0:1") for i in (1, 2, 3)]), label="CheckPairRej")


def test_repeated_ids_are_made_unique_before_near_dedup():
    """Inputs with ids of their own (JSONL, contract Parquet) may repeat one for different texts. Exact
    dedup then keeps one record per id (best rank, then text hash) and rejects the others as
    duplicate_id, so near dedup sees unique ids and finds the near duplicates among the kept ones (a
    repeated id used to hide them: both near-duplicate files were kept)."""
    rng = random.Random(7)
    text = " ".join(_words(rng, 300))
    edited = text.replace(text.split()[10], "changed", 1)
    recs = [
        {"id": "X", "content": " ".join(_words(rng, 300)), "licenses": [], "stars": None, "path": "a.py"},
        {"id": "X", "content": text, "licenses": ["MIT"], "stars": 3, "path": "split.py"},  # better rank: kept
        {"id": "Y", "content": edited, "licenses": ["MIT"], "stars": 0, "path": "split2.py"},
    ]
    for r in recs:
        r.update(lang="python", repo="r")
    with TestPipeline() as p:
        for name, order in (("fwd", recs), ("rev", list(reversed(recs)))):
            src = p | f"Create_{name}" >> beam.Create(order, reshuffle=(name == "rev"))
            ex = src | f"Exact_{name}" >> ExactDedup(text_key="content", stage="exact_dedup")
            assert_that(ex["rejected"] | f"ExRej_{name}" >> beam.Map(lambda r: (r["id"], r["path"], r["reason"], r["kept_id"])),
                        equal_to([("X", "a.py", "duplicate_id", "X")]), label=f"CheckExact_{name}")
            assert_that(ex["kept"] | f"ExKept_{name}" >> beam.Map(lambda r: (r["id"], r["path"])),
                        equal_to([("X", "split.py"), ("Y", "split2.py")]), label=f"CheckExactKept_{name}")
            near = ex["kept"] | f"Near_{name}" >> NearDedup(NearDedupParams(cc_max_rounds=3), text_key="content",
                                                             stage="near_dedup")
            assert_that(_rej(near["rejected"], f"Rej_{name}"), equal_to([("Y", "near_dedup", J, "X")]),
                        label=f"CheckNear_{name}")


def test_exact_dedup_kept_counter_equals_what_leaves_the_stage():
    """`exact_dedup.kept` counts after duplicate_id, so the printed counter matches the manifest's
    exact_dedup_kept (it used to count the survivors of the text grouping, one more per repeated id)."""
    from apache_beam.metrics.metric import MetricsFilter

    recs = [{"id": "X", "content": "a = 1\n" * 20, "path": "a.py"},
            {"id": "X", "content": "b = 2\n" * 20, "path": "b.py"},
            {"id": "Z", "content": "a = 1\n" * 20, "path": "c.py"}]
    for r in recs:
        r.update(lang="python", repo="r", licenses=[], stars=None)
    p = TestPipeline()
    ex = p | beam.Create(recs) | ExactDedup(text_key="content", stage="exact_dedup")
    assert_that(ex["kept"] | beam.Map(lambda r: r["path"]), equal_to(["a.py"]))
    result = p.run()
    result.wait_until_finish()

    def counter(name):
        found = result.metrics().query(MetricsFilter().with_namespace("codesage").with_name(name))["counters"]
        return sum(c.committed for c in found)

    assert counter("exact_dedup.kept") == 1
    assert counter("exact_dedup.distinct_texts") == 2
    assert counter("exact_dedup.dropped.exact_duplicate") == 1
    assert counter("exact_dedup.dropped.duplicate_id") == 1
