"""One reading of parsed flags for every component that builds its config from them."""
from __future__ import annotations

from typing import Any, Mapping


def option_values(opts: Any) -> dict:
    """Flag values by dest name from Beam PipelineOptions (any view), a Mapping or an argparse Namespace."""
    if hasattr(opts, "get_all_options"):
        return opts.get_all_options()
    if isinstance(opts, Mapping):
        return dict(opts)
    return vars(opts)
