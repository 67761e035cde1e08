"""Parsing stage: tree-sitter extraction (extract.py), pairs (pairs.py, text.py), Beam transform (transform.py).

Public interface used by pipeline/run.py::

    from pipeline.parse import ParseFiles, ParseConfig, add_parse_arguments, parse_config_from_options
"""
from __future__ import annotations

from .pairs import ParseConfig, add_parse_arguments, parse_config_from_options
from .transform import ParseFiles

__all__ = ["ParseFiles", "ParseConfig", "add_parse_arguments", "parse_config_from_options"]
