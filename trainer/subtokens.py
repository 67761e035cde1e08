"""Sub-tokens of an identifier, shared by BM25's code tokenizer and the name queries of stage 2.

`subtokens(identifier)`: the lower-cased pieces of `identifier` split at `_` and other non-alphanumerics,
lower->Upper boundaries (`getUser` -> get, user), ACRONYMWord boundaries (`HTTPServer` -> http, server)
and digit runs (`utf8` -> utf, 8), in order.
"""
from __future__ import annotations

import re

_PIECE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def subtokens(identifier: str) -> list[str]:
    return [p.lower() for p in _PIECE.findall(identifier or "")]
