"""NearDedup: shingles -> MinHash -> LSH bands -> verified edges -> connected components -> survivor.

records -> {"kept", "rejected", "clusters"} (see `NearDedup`). The stages, each a Beam transform:

1. Sketch (batched DoFn): tokens, 5-gram shingles, 64-bit fingerprints, vectorized MinHash
   (bit-identical to datasketch), b band keys. Documents with fewer than `ngram` tokens go to
   the exact path keyed by their token sequence instead (counter ``{stage}.short_docs``).
2. Buckets: GroupByKey on band key; buckets with >= 2 members become candidate sets, deduplicated
   across bands (a pair of near-duplicates usually collides in many bands).
3. Verify (default): candidate sets are joined with the members' records by id (packed, see
   packing.py), whose shingle fingerprints are computed there, and verified by exact Jaccard (`verify.verify_members`: <= k - 1 edges, never disconnects true duplicates).
   With ``verify=False`` each set yields k - 1 chain edges. Short documents with the same token
   sequence are chained likewise.
4. `components.ConnectedComponents`: unrolled large-star/small-star; fails loudly if not converged.
5. Survivor: per component, the smallest ``rank_fn`` wins; ``cluster_size`` is the number of input
   files (sum of ``exact_dup_count``, 1 when absent). Clusters above ``mega_cluster_size`` input
   files are counted (``{stage}.mega_clusters``, ``{stage}.mega_cluster_files``), logged, and kept
   whole: nothing is removed from them (a cluster that large usually comes from transitive drift,
   A~B~C~...~Z with A and Z unrelated, so removal is not trusted), but all members share the
   survivor's cluster_id so a cluster-based split still keeps them on one side.
6. Join the decisions back onto the full records by id.

Every keep/drop is counted in namespace "codesage": ``{stage}.kept``, ``{stage}.dropped.near_duplicate``,
plus ``{stage}.candidate_sets``, ``{stage}.jaccard_comparisons``, ``{stage}.edges``,
``{stage}.clusters``, ``{stage}.cc_nodes``, ``{stage}.cc_components``.
Records must have a unique ``id`` (extra records repeating an id are rejected as
``duplicate_id`` naming the kept one).
"""
from __future__ import annotations

import hashlib
import logging
from typing import Callable

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from pipeline.records import reject_row

from .components import ConnectedComponents, node_label
from .lsh import band_keys
from .minhash import fingerprints, permutations, signatures_from_fingerprints
from .packing import pack, unpack
from .params import NearDedupParams
from .ranking import canonical, file_rank
from .shingles import shingles_from_tokens, token_sequence_key, tokenize
from .verify import chain_edges, verify_members

log = logging.getLogger(__name__)

_BAND, _SHORT, _INFO = "band", "short", "info"
_REJECTED, _CLUSTERS = "rejected", "clusters"


def _text(record, text_key) -> str:
    value = record.get(text_key)
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _count(record) -> int:
    return int(record.get("exact_dup_count") or 1)


class _Sketch(beam.DoFn):
    """Batch of records -> band entries, fingerprints, short-doc keys and light member info."""

    def __init__(self, params: NearDedupParams, text_key, rank_fn, stage, namespace):
        self._p = params
        self._text_key = text_key
        self._rank_fn = rank_fn
        self._stage = stage
        self._namespace = namespace
        # Computed here, on the launcher, and pickled with the DoFn: both come from datasketch, whose
        # import (scipy) would otherwise cost every worker process about a CPU second at start-up.
        self._b, self._r = params.band_params()
        self._perms = permutations(params.num_perm, params.seed)

    def setup(self):
        self._short = Metrics.counter(self._namespace, f"{self._stage}.short_docs")
        self._sketched = Metrics.counter(self._namespace, f"{self._stage}.sketched_docs")

    def process(self, batch):
        pending = []
        for record in batch:
            rid = str(record["id"])
            node = node_label(rid)
            tokens = tokenize(_text(record, self._text_key))
            short = len(tokens) < self._p.ngram
            info = (self._rank_fn(record), _count(record), record.get("lang"), record.get("path"), short)
            yield beam.pvalue.TaggedOutput(_INFO, (rid, info))
            if short:
                self._short.inc()
                yield beam.pvalue.TaggedOutput(_SHORT, (token_sequence_key(tokens), node))
            else:
                pending.append((rid, node, fingerprints(shingles_from_tokens(tokens, self._p.ngram))))
        if not pending:
            return
        sigs = signatures_from_fingerprints(
            [fp for _, _, fp in pending], self._p.num_perm, self._p.seed, perms=self._perms
        )
        for (rid, node, fp), sig in zip(pending, sigs):
            self._sketched.inc()
            for key in band_keys(sig, self._b, self._r):
                yield beam.pvalue.TaggedOutput(_BAND, (key, node))


def _set_key(nodes) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for _, rid in nodes:
        h.update(rid.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.digest()


def _candidate_set(element):
    _, nodes = element
    members = tuple(sorted(set(nodes)))
    if len(members) >= 2:
        yield (_set_key(members), members)


class _Verify(beam.DoFn):
    def __init__(self, threshold, stage, namespace):
        self._t = threshold
        self._stage = stage
        self._namespace = namespace

    def setup(self):
        self._comparisons = Metrics.counter(self._namespace, f"{self._stage}.jaccard_comparisons")
        self._edges = Metrics.counter(self._namespace, f"{self._stage}.edges")

    def process(self, element):
        _, members = element
        unique = {}
        for node, raw in members:
            # Several records with one id: keep one fingerprint set deterministically.
            if node not in unique or raw < unique[node]:
                unique[node] = raw
        edges, comparisons = verify_members(
            [(n, np.frombuffer(raw, dtype=np.uint64)) for n, raw in unique.items()], self._t
        )
        self._comparisons.inc(comparisons)
        self._edges.inc(len(edges))
        yield from edges


def _attach_fps(element, text_key, ngram):
    """(id, {"records": packed records, "sets": set keys}) -> (set key, (node, fingerprints)) per set.

    The fingerprints are recomputed here, from the record, for the ids that are in a candidate set
    only: shipping the packed records to this join costs ~0.3 bytes per input byte, shipping every
    document's fingerprints from the sketch cost ~1 (8 bytes per shingle), and few documents are
    candidates. Same values as the sketch's (same tokens, shingles and hashes).
    """
    rid, grouped = element
    if not grouped["sets"] or not grouped["records"]:
        return
    raws = []
    for data in grouped["records"]:
        tokens = tokenize(_text(unpack(data), text_key))
        if len(tokens) >= ngram:  # short documents took the exact token path and were never sketched
            raws.append(fingerprints(shingles_from_tokens(tokens, ngram)).tobytes())
    if not raws:
        return
    raw = min(raws)
    node = node_label(rid)
    for key in grouped["sets"]:
        yield (key, (node, raw))


class _Survivor(beam.DoFn):
    """(root, [(id, info)]) -> decisions (id, (cluster_id, size, reason|None)) + cluster dicts."""

    def __init__(self, params: NearDedupParams, stage, namespace):
        self._p = params
        self._stage = stage
        self._namespace = namespace

    def setup(self):
        self._clusters = Metrics.counter(self._namespace, f"{self._stage}.clusters")
        self._mega = Metrics.counter(self._namespace, f"{self._stage}.mega_clusters")
        self._mega_files = Metrics.counter(self._namespace, f"{self._stage}.mega_cluster_files")

    def process(self, element):
        _, members = element
        members = sorted(members, key=lambda m: (m[1][0], m[0]))
        survivor_id, (_, _, lang, path, short) = members[0]
        size = sum(info[1] for _, info in members)
        if size > 1:
            self._clusters.inc()
            yield beam.pvalue.TaggedOutput(
                _CLUSTERS, {"cluster_id": survivor_id, "lang": lang, "size": size, "path": path}
            )
        mega = size > self._p.mega_cluster_size
        if mega:
            self._mega.inc()
            self._mega_files.inc(size)
            log.warning(
                "near-dedup cluster %s has %d input files (> --mega-cluster-size %d): counted and kept whole",
                survivor_id, size, self._p.mega_cluster_size,
            )
        if short:
            reason = "near_duplicate identical_tokens"
        elif self._p.verify:
            reason = f"near_duplicate jaccard>={self._p.effective_verify_threshold():.2f}"
        else:
            reason = f"near_duplicate minhash_lsh>={self._p.threshold:.2f} (unverified)"
        yield (survivor_id, (survivor_id, size, None))
        for rid, _ in members[1:]:
            yield (rid, (survivor_id, size, None if mega else reason))


def _route_singletons(element):
    """(id, {"root": [...], "info": [...]}) -> (root_id, (id, info)) or a singleton decision."""
    rid, grouped = element
    infos = grouped["info"]
    if not infos:
        return
    info = min(infos, key=repr)
    roots = grouped["root"]
    if roots:
        yield beam.pvalue.TaggedOutput("clustered", (roots[0][1], (rid, info)))
    else:
        yield (rid, (rid, info[1], None, info[2], info[3]))


class _Apply(beam.DoFn):
    def __init__(self, stage, text_key, annotate, namespace):
        self._stage = stage
        self._text_key = text_key
        self._annotate = annotate
        self._namespace = namespace

    def setup(self):
        self._kept = Metrics.counter(self._namespace, f"{self._stage}.kept")
        self._dropped = Metrics.counter(self._namespace, f"{self._stage}.dropped.near_duplicate")
        self._dup_id = Metrics.counter(self._namespace, f"{self._stage}.dropped.duplicate_id")

    def process(self, element):
        rid, grouped = element
        # Several records with one id: the text, then the whole record, picks the one kept, so that
        # the choice never depends on arrival order.
        records = sorted((unpack(data) for data in grouped["records"]),
                         key=lambda r: (_text(r, self._text_key), canonical(r)))
        cluster_id, size, reason = grouped["decision"][0]
        first, extra = records[0], records[1:]
        for r in extra:
            self._dup_id.inc()
            yield beam.pvalue.TaggedOutput(_REJECTED, reject_row(r, self._stage, "duplicate_id", kept_id=rid))
        if reason is not None:
            self._dropped.inc()
            yield beam.pvalue.TaggedOutput(_REJECTED, reject_row(first, self._stage, reason, kept_id=cluster_id))
            return
        self._kept.inc()
        if self._annotate:
            first = dict(first)
            first["cluster_id"] = cluster_id
            first["cluster_size"] = int(size)
        yield first


class NearDedup(beam.PTransform):
    """PCollection[record] -> {"kept", "rejected", "clusters"}.

    - kept: surviving records; with ``annotate=True`` each gets ``cluster_id`` (the survivor's id,
      its own id when unique) and ``cluster_size`` (input files in the cluster); with
      ``annotate=False`` records are passed through unchanged.
    - rejected: `pipeline.records.reject_row` rows at `stage`, ``kept_id`` = survivor id.
    - clusters: ``{"cluster_id", "lang", "size", "path"}`` (the survivor's lang and path) for every
      cluster standing for more than one input file.

    Records need ``id`` and ``text_key``; ``lang``, ``path`` and ``exact_dup_count`` are optional.
    """

    def __init__(
        self,
        params: NearDedupParams | None = None,
        text_key: str = "content",
        rank_fn: Callable = file_rank,
        stage: str = "near_dedup",
        annotate: bool = True,
        namespace: str = "codesage",
        max_batch_size: int = 256,
    ):
        super().__init__()
        self._p = params or NearDedupParams()
        self._text_key = text_key
        self._rank_fn = rank_fn
        self._stage = stage
        self._annotate = annotate
        self._namespace = namespace
        self._max_batch_size = max_batch_size
        self._p.band_params()  # validate (and compute) (b, r) at construction time, not on workers

    def _disabled(self, records):
        annotate, stage, ns = self._annotate, self._stage, self._namespace

        def keep(r):
            Metrics.counter(ns, f"{stage}.kept").inc()
            if not annotate:
                return r
            r = dict(r)
            r["cluster_id"], r["cluster_size"] = str(r["id"]), _count(r)
            return r

        kept = records | "PassThrough" >> beam.Map(keep)
        rejected = records.pipeline | "NoRejects" >> beam.Create([])
        clusters = records | "ExactClusters" >> beam.FlatMap(
            lambda r: [{"cluster_id": str(r["id"]), "lang": r.get("lang"), "size": _count(r), "path": r.get("path")}]
            if _count(r) > 1 else []
        )
        return {"kept": kept, "rejected": rejected, "clusters": clusters}

    def expand(self, records):
        if not self._p.enabled:
            return self._disabled(records)
        p, stage, ns = self._p, self._stage, self._namespace

        sk = (
            records
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._max_batch_size)
            | "Sketch" >> beam.ParDo(_Sketch(p, self._text_key, self._rank_fn, stage, ns)).with_outputs(
                _BAND, _SHORT, _INFO
            )
        )

        sets = (
            sk[_BAND]
            | "GroupBuckets" >> beam.GroupByKey()
            | "CandidateSets" >> beam.FlatMap(_candidate_set)
            | "DistinctSets" >> beam.CombinePerKey(min)
        )
        _ = sets | "CountSets" >> beam.Map(lambda kv: Metrics.counter(ns, f"{stage}.candidate_sets").inc())

        # The full records cross the shuffles keyed by id packed: opaque compressed bytes (see packing.py).
        keyed = records | "KeyById" >> beam.Map(lambda r: (str(r["id"]), pack(r)))
        text_key = self._text_key
        if p.verify:
            memberships = sets | "Memberships" >> beam.FlatMapTuple(lambda key, nodes: [(n[1], key) for n in nodes])
            lsh_edges = (
                {"records": keyed, "sets": memberships}
                | "JoinFingerprints" >> beam.CoGroupByKey()
                | "AttachFingerprints" >> beam.FlatMap(_attach_fps, text_key, p.ngram)
                | "GroupSets" >> beam.GroupByKey()
                | "Verify" >> beam.ParDo(_Verify(p.effective_verify_threshold(), stage, ns))
            )
        else:
            lsh_edges = sets | "ChainEdges" >> beam.FlatMapTuple(lambda key, nodes: chain_edges(nodes))

        short_edges = (
            sk[_SHORT]
            | "GroupShort" >> beam.GroupByKey()
            | "ShortChains" >> beam.FlatMapTuple(lambda key, nodes: chain_edges(nodes))
        )

        roots = (
            (lsh_edges, short_edges)
            | "AllEdges" >> beam.Flatten()
            | "Components" >> ConnectedComponents(p.cc_max_rounds, ns, stage)
            | "RootById" >> beam.MapTuple(lambda node, root: (node[1], root))
        )

        routed = (
            {"root": roots, "info": sk[_INFO]}
            | "JoinInfo" >> beam.CoGroupByKey()
            | "Route" >> beam.FlatMap(_route_singletons).with_outputs("clustered", main="single")
        )
        survivors = (
            routed.clustered
            | "GroupClusters" >> beam.GroupByKey()
            | "Survivor" >> beam.ParDo(_Survivor(p, stage, ns)).with_outputs(_CLUSTERS, main="decisions")
        )
        single_clusters = routed.single | "SingleClusters" >> beam.FlatMapTuple(
            lambda rid, d: [{"cluster_id": rid, "lang": d[3], "size": d[1], "path": d[4]}] if d[1] > 1 else []
        )
        single_decisions = routed.single | "SingleDecisions" >> beam.MapTuple(lambda rid, d: (rid, d[:3]))
        decisions = (survivors.decisions, single_decisions) | "AllDecisions" >> beam.Flatten()

        out = (
            {"records": keyed, "decision": decisions}
            | "JoinDecisions" >> beam.CoGroupByKey()
            | "Apply" >> beam.ParDo(_Apply(stage, text_key, self._annotate, ns)).with_outputs(_REJECTED, main="kept")
        )
        clusters = (survivors[_CLUSTERS], single_clusters) | "AllClusters" >> beam.Flatten()
        return {"kept": out.kept, "rejected": out[_REJECTED], "clusters": clusters}
