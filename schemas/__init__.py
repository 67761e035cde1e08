"""The data contract between `pipeline` and `trainer` (design.md section 3).

Depends only on pyarrow. Nothing here imports Beam or torch.
"""
from .contract import (
    FILES_SCHEMA,
    IDENTIFIER_KINDS,
    IDENTIFIER_SPAN,
    PAIRS_SCHEMA,
    REJECT_STAGES,
    REJECTED_SCHEMA,
    SCHEMA_VERSION,
    SCHEMAS,
    SPLITS,
    schema_for,
)
from .manifest import MANIFEST_NAME, Manifest, ShardInfo, read_manifest
from .validate import SchemaError, validate, version_problem

__all__ = [
    "FILES_SCHEMA", "IDENTIFIER_KINDS", "IDENTIFIER_SPAN", "PAIRS_SCHEMA", "REJECT_STAGES",
    "REJECTED_SCHEMA", "SCHEMA_VERSION", "SCHEMAS", "SPLITS", "schema_for", "MANIFEST_NAME",
    "Manifest", "ShardInfo", "read_manifest", "SchemaError", "validate",
    "version_problem",
]
