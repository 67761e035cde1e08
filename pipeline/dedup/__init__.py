"""Exact and near-duplicate removal as reusable Beam transforms (see docs/dedup.md).

    from pipeline.dedup import ExactDedup, NearDedup, NearDedupParams, file_rank
    res = records | ExactDedup(text_key="content", rank_fn=file_rank, stage="exact_dedup")
    near = res["kept"] | NearDedup(params, text_key="content", rank_fn=file_rank, stage="near_dedup")
    near["kept"], near["rejected"], near["clusters"]
"""
from . import lsh
from .components import ComponentsNotConverged, ConnectedComponents
from .exact import ExactDedup
from .near import NearDedup
from .params import NearDedupParams, add_dedup_arguments, params_from_options
from .ranking import file_rank

__all__ = [
    "ExactDedup",
    "NearDedup",
    "NearDedupParams",
    "ConnectedComponents",
    "ComponentsNotConverged",
    "file_rank",
    "add_dedup_arguments",
    "params_from_options",
    "lsh",
]
