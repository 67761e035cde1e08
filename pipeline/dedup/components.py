"""Connected components on the engine: alternating large-star / small-star (Kiveris et al., 2014).

Beam has no loops, so `ConnectedComponents` unrolls ``max_rounds`` rounds, each a large-star step
followed by a small-star step, every step being one GroupByKey over the undirected edge list.
Nodes are totally ordered labels; we use ``(63-bit BLAKE2b of the id, id)`` so the order is a
pseudo-random permutation of the ids, which is what gives the algorithm its O(log n) rounds in
expectation even on adversarial inputs such as long chains laid out in id order.

    large-star(u):  m = min(N(u) + {u});  for every neighbour v > u: edge (v, m)
    small-star(u):  S = {v in N(u) : v < u};  m = min(S + {u});  for every v in S + {u}: edge (v, m)

(self-loops are dropped). Both steps preserve connectivity, and their only common fixed point is a
forest of stars, each centred on its component's smallest node. After the last round a final
GroupByKey checks that fixed point (no node has two smaller neighbours, or a smaller and a larger
one); if it does not hold the job fails with `ComponentsNotConverged`, naming ``--cc-max-rounds``.
The output maps every node that has at least one edge to its component's root (its smallest node).
"""
from __future__ import annotations

import hashlib
from typing import Hashable, Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline.errors import UserError


class ComponentsNotConverged(UserError):
    """Connected components did not reach the star fixed point within the unrolled rounds."""


def node_label(record_id: str) -> tuple[int, str]:
    """Graph node of a record id: (63-bit BLAKE2b of the id, id); ordered like a random permutation."""
    # 63 bits: Beam's VarIntCoder (inferred for int fields) only encodes signed 64-bit integers.
    h = int.from_bytes(hashlib.blake2b(record_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big") >> 1
    return (h, record_id)


def _edge(x, y):
    return (x, y) if x < y else (y, x)


def large_star(u: Hashable, neighbours: Iterable) -> list[tuple]:
    """Edges emitted by the large-star step at node u (normalised (small, large), no self-loops)."""
    nbrs = set(neighbours)
    m = min(nbrs | {u})
    return [_edge(v, m) for v in nbrs if v > u and v != m]


def small_star(u: Hashable, neighbours: Iterable) -> list[tuple]:
    """Edges emitted by the small-star step at node u (normalised (small, large), no self-loops)."""
    smaller = {v for v in neighbours if v < u}
    if not smaller:
        return []
    m = min(smaller)
    return [_edge(v, m) for v in smaller | {u} if v != m]


def star_root(u: Hashable, neighbours: Iterable):
    """Root of u in a converged star forest, or None if u's neighbourhood violates the fixed point."""
    nbrs = set(neighbours)
    smaller = [v for v in nbrs if v < u]
    if not smaller:
        return u
    if len(smaller) == 1 and len(smaller) == len(nbrs):
        return smaller[0]
    return None


def _adjacency(edges: Iterable[tuple]) -> dict:
    adj: dict = {}
    for x, y in edges:
        adj.setdefault(x, set()).add(y)
        adj.setdefault(y, set()).add(x)
    return adj


def components_reference(edges: Iterable[tuple], max_rounds: int) -> tuple[dict, int]:
    """In-memory run of exactly the Beam algorithm: ({node: root}, rounds needed to converge).

    Raises ComponentsNotConverged like the Beam transform. Used by tests and for sizing
    ``--cc-max-rounds``.
    """
    edges = {_edge(x, y) for x, y in edges if x != y}
    for rounds in range(max_rounds + 1):
        adj = _adjacency(edges)
        roots = {u: star_root(u, n) for u, n in adj.items()}
        if all(r is not None for r in roots.values()):
            return roots, rounds
        if rounds == max_rounds:
            break
        edges = {e for u, n in adj.items() for e in large_star(u, n)}
        edges = {e for u, n in _adjacency(edges).items() for e in small_star(u, n)}
    raise ComponentsNotConverged(_not_converged_message(max_rounds))


def _not_converged_message(max_rounds: int) -> str:
    return (
        f"near-dedup connected components did not converge in {max_rounds} rounds of large-star/small-star; "
        f"rerun with a larger --cc-max-rounds (e.g. {2 * max_rounds})."
    )


def _both_directions(edge):
    x, y = edge
    yield (x, y)
    yield (y, x)


def _directed_step(element, step):
    u, neighbours = element
    for edge in step(u, neighbours):
        yield from _both_directions(edge)


class _RootOrFail(beam.DoFn):
    def __init__(self, max_rounds: int, namespace: str, stage: str):
        self._max_rounds = max_rounds
        self._namespace = namespace
        self._stage = stage

    def setup(self):
        self._nodes = Metrics.counter(self._namespace, f"{self._stage}.cc_nodes")
        self._roots = Metrics.counter(self._namespace, f"{self._stage}.cc_components")

    def process(self, element):
        u, nbrs = element
        root = star_root(u, nbrs)
        if root is None:
            raise ComponentsNotConverged(_not_converged_message(self._max_rounds))
        self._nodes.inc()
        if root == u:
            self._roots.inc()
        yield (u, root)


class ConnectedComponents(beam.PTransform):
    """PCollection[(node, node)] undirected edges -> PCollection[(node, root)] for every node with an edge.

    Nodes must be totally ordered and deterministically encodable (e.g. `node_label` tuples).
    The root is the smallest node of the component. Fails the job with ComponentsNotConverged
    if ``max_rounds`` rounds were not enough.
    """

    def __init__(self, max_rounds: int, namespace: str = "codesage", stage: str = "near_dedup"):
        super().__init__()
        self._max_rounds = max_rounds
        self._namespace = namespace
        self._stage = stage

    def expand(self, edges):
        # Each step is one GroupByKey plus one FlatMap that emits the next step's directed edges.
        current = edges | "Directed" >> beam.FlatMap(lambda e: _both_directions(e) if e[0] != e[1] else ())
        for i in range(self._max_rounds):
            for name, step in (("LargeStar", large_star), ("SmallStar", small_star)):
                current = (
                    current
                    | f"{name}{i}Group" >> beam.GroupByKey()
                    | f"{name}{i}Step" >> beam.FlatMap(_directed_step, step)
                )
        return (
            current
            | "CheckGroup" >> beam.GroupByKey()
            | "RootOrFail" >> beam.ParDo(_RootOrFail(self._max_rounds, self._namespace, self._stage))
        )
