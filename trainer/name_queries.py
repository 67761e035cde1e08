"""Search-style queries made from function names, for stage 2 (`--name-queries FRACTION`).

Why: the pipeline's texts are docstring summaries ("Return the date parsed from a string."), while code
search traffic (CoSQA's Bing queries: "python get date from string") is terse, lower-case keyword text.
A function's own name is exactly such a text ("parse_date_from_string" -> "parse date from string").
CodeSearchNet (Husain et al., 2019) used the same trick for functions without documentation: the
sub-tokenized name is the query and the code, with the name removed, is the document. Here the code side
is `code_hard` (the body without its signature), so the name is not trivially visible in the document;
with `--code-column code` the name sits in the signature and the task degenerates into string matching.

Contract
- `name_words(name)`: the sub-tokens (trainer/subtokens.py) of the last component of a qualified name
  (`Class.method` -> `method`).
- `name_query(name, lang, with_lang)`: those words joined by spaces, followed by the language's name when
  `with_lang`; None when the name gives fewer than 2 words (`run`, `__init__`: too vague to be a query) or
  names a test (`test_x`, `TestX`), whose name describes a test rather than what the code does.
- `apply_name_queries(texts, names, langs, fraction, seed)`: a new text list where each row whose name
  gives a query is replaced by it with probability `fraction` (half of the replaced rows carry the
  language's name). The choice is a pure function of (seed, row position), so resumed runs and every
  rank see the same texts. Returns (texts, positions replaced).
- `with_doc_comment(code, docstring, lang)`: `code` preceded by `docstring` as a doc comment of the
  language (Python triple quotes, Ruby `#` lines, `/** ... */` elsewhere). Used for the name-query rows
  with `--name-query-docs`: their document then looks like a snippet in a code-search index (CoSQA's
  snippets keep their docstrings) while the name stays hidden (code_hard has no signature). Summary rows
  never get it: their text would be a verbatim copy of part of the document.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from trainer.subtokens import subtokens

_SPOKEN_LANG = {"c-sharp": "c#", "cpp": "c++"}
QUOTE = '"' * 3


def name_words(name: str) -> list[str]:
    return subtokens(re.split(r"[.:#/\\]+", name.strip())[-1]) if name else []


def name_query(name: str, lang: str, with_lang: bool = False) -> str | None:
    words = name_words(name)
    if len(words) < 2 or words[0] == "test":
        return None
    query = " ".join(words)
    return f"{query} {_SPOKEN_LANG.get(lang, lang)}" if with_lang else query


def apply_name_queries(texts: Sequence[str], names: Sequence[str | None], langs: Sequence[str | None],
                       fraction: float, seed: int = 0) -> tuple[list[str], list[int]]:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"name-query fraction must be in [0, 1], got {fraction}")
    out = list(texts)
    if fraction == 0.0 or not out:
        return out, []
    # One generator keyed by the seed alone: the draw for row i never depends on other rows' names.
    draws = np.random.default_rng([seed, 0x4E414D45]).random((len(out), 2))
    replaced = []
    for i, (name, lang) in enumerate(zip(names, langs)):
        if draws[i, 0] >= fraction or not name:
            continue
        query = name_query(name, lang or "", with_lang=draws[i, 1] < 0.5)
        if query is not None:
            out[i] = query
            replaced.append(i)
    return out, replaced


def with_doc_comment(code: str, docstring: str | None, lang: str) -> str:
    doc = (docstring or "").strip()
    if not doc:
        return code
    if lang == "python":
        block = QUOTE + doc.replace(QUOTE, "'" * 3) + QUOTE
    elif lang == "ruby":
        block = "\n".join("# " + line if line else "#" for line in doc.splitlines())
    else:
        body = doc.replace("*/", "* /").splitlines()
        block = "/**\n" + "\n".join(" * " + line if line else " *" for line in body) + "\n */"
    return block + "\n" + code
