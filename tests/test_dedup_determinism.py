"""The survivor of a duplicate group never depends on element order, even when copies share id and text.

The Stack gives every copy of a file the same hexsha (our id) in each repository holding it; such
copies differ only in repo, path, licences or stars. Found by benchmarks/scaling.py on 1000 rows per
language: with ties broken by arrival order, 1 and 2 DirectRunner workers wrote different shards.
"""
import apache_beam as beam

from pipeline.dedup.exact import REJECTED, _PickSurvivor
from pipeline.dedup.near import _Apply
from pipeline.dedup.packing import pack
from pipeline.dedup.ranking import file_rank


def copies():
    base = {"id": "same-sha", "lang": "c", "content": "int main() { return 0; }\n", "licenses": ["MIT"], "stars": 3}
    return [dict(base, repo=f"org{i}/proj", path=f"src/main{i}.c") for i in (2, 0, 1)]


def run(dofn, element):
    dofn.setup()
    kept, rejected = [], []
    for out in dofn.process(element):
        (rejected if isinstance(out, beam.pvalue.TaggedOutput) else kept).append(out)
    return kept, [(o.tag, o.value) for o in rejected]


def test_exact_dedup_survivor_is_independent_of_order():
    results = []
    for order in (copies(), list(reversed(copies())), copies()[1:] + copies()[:1]):
        dofn = _PickSurvivor(file_rank, "exact_dedup", "content", "codesage")
        results.append(run(dofn, ("key", [pack(r) for r in order])))
    assert results[0] == results[1] == results[2]
    kept, rejected = results[0]
    assert kept[0]["path"] == "src/main0.c" and kept[0]["exact_dup_count"] == 3
    assert sorted(v["path"] for tag, v in rejected if tag == REJECTED) == ["src/main1.c", "src/main2.c"]


def test_near_dedup_duplicate_id_choice_is_independent_of_order():
    decision = [("same-sha", 1, None)]
    results = []
    for order in (copies(), list(reversed(copies()))):
        dofn = _Apply("near_dedup", "content", True, "codesage")
        results.append(run(dofn, ("same-sha", {"records": [pack(r) for r in order], "decision": decision})))
    assert results[0] == results[1]
    assert results[0][0][0]["path"] == "src/main0.c"
