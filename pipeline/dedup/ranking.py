"""The survivor rule: which record of a duplicate group is kept.

`file_rank(record)` is a sort key; the smallest record of a group survives. It is a total order
(the id breaks every tie), so the survivor never depends on element order, bundling or runner.

1. licence class: 0 when every SPDX id in ``record["licenses"]`` is permissive, 1 when some are,
   2 when none is or the list is missing/empty;
2. more stars first (``record.get("stars")`` may be None, which counts as 0);
3. id ascending.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

# SPDX ids (compared case-insensitively) of licences that allow redistribution of the code in a
# training set with attribution at most.
PERMISSIVE_LICENSES = frozenset(
    s.lower()
    for s in (
        "MIT", "MIT-0", "Apache-2.0", "Apache-1.1", "BSD-2-Clause", "BSD-3-Clause", "BSD-4-Clause",
        "BSD-3-Clause-Clear", "0BSD", "BSD-1-Clause", "BSD-2-Clause-Patent", "ISC", "Zlib", "Unlicense",
        "CC0-1.0", "BSL-1.0", "PSF-2.0", "Python-2.0", "X11", "NCSA", "WTFPL", "UPL-1.0", "Artistic-2.0",
        "PostgreSQL", "MS-PL", "AFL-3.0", "ECL-2.0", "Libpng", "libpng-2.0", "BlueOak-1.0.0", "curl",
        "Expat", "OpenSSL", "CC-BY-4.0", "CC-BY-3.0", "Unicode-DFS-2016", "HPND",
    )
)


def licence_class(licenses) -> int:
    """0 = all permissive, 1 = some permissive, 2 = none or unknown."""
    ids = [str(x).strip().lower() for x in (licenses or []) if x is not None and str(x).strip()]
    if not ids:
        return 2
    permissive = sum(1 for x in ids if x in PERMISSIVE_LICENSES)
    if permissive == len(ids):
        return 0
    return 1 if permissive else 2


def file_rank(record: Mapping[str, Any]) -> tuple[int, int, str]:
    """Sort key of a file record; smaller = better survivor (see module docstring)."""
    stars = record.get("stars")
    try:
        stars = int(stars) if stars is not None else 0
    except (TypeError, ValueError):
        stars = 0
    return (licence_class(record.get("licenses")), -stars, str(record.get("id")))


def canonical(record: Mapping[str, Any]) -> str:
    """The whole record as JSON with sorted keys: the last tie-break of a survivor rule.

    Records can share an id and a text yet differ: The Stack gives every copy of a file the same
    ``hexsha`` (our id) in each repository that holds it, with its own repo, path and licences.
    Ordering such copies by this string keeps the choice independent of element order.
    """
    return json.dumps(record, sort_keys=True, default=str, ensure_ascii=False)
