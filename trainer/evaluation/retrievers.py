"""Retrievers behind one interface: `scores(queries, docs) -> (Q, D) float32` (higher = better).

- `DenseRetriever(model)`: any local model folder (ours, a stage-1 export, the packaged MiniLM):
  mean-pooled, L2-normalized embeddings, cosine scores. Documents are cut at `doc_max_len` tokens,
  by default `st_export.doc_max_len(model)` (256 capped at the model's positions; the same as embed). Document embeddings are cached per identical
  document list, so several query sets against one pool embed the pool once.
- `BM25Retriever()`: bm25s (Lucene BM25, k1=1.5, b=0.75) over code tokens: identifiers split at
  snake_case and camelCase into lower-cased sub-tokens plus the whole identifier lower-cased, numbers
  kept, punctuation dropped; queries tokenized the same way with English stop words removed.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from trainer.encoder import encode, load_encoder
from trainer.st_export import doc_max_len as default_doc_max_len
from trainer.subtokens import subtokens

STOP_WORDS = frozenset(
    "a an and are as at be by for from has have how i in is it its of on or that the this to was what when where which "
    "who why will with do does can get my me you your using use python".split()
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")


def code_tokens(text: str, stop_words: frozenset = frozenset()) -> list[str]:
    out = []
    for word in _WORD.findall(text or ""):
        low = word.lower()
        parts = subtokens(word)
        for tok in ([low] if len(parts) != 1 or parts[0] != low else []) + parts:
            if tok and tok not in stop_words:
                out.append(tok)
    return out


class BM25Retriever:
    name = "bm25"

    def __init__(self, k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b
        self._cache: tuple[int, object, dict] | None = None

    def _index(self, docs: Sequence[str]):
        import bm25s  # noqa: PLC0415

        key = hash(tuple(docs))
        if self._cache is None or self._cache[0] != key:
            tokenized = [code_tokens(d) or ["<empty>"] for d in docs]
            vocab: dict[str, int] = {}
            ids = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in tokenized]
            model = bm25s.BM25(k1=self.k1, b=self.b)
            model.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
            self._cache = (key, model, vocab)
        return self._cache[1], self._cache[2]

    def scores(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        model, vocab = self._index(docs)
        out = np.zeros((len(queries), len(docs)), dtype=np.float32)
        for i, q in enumerate(queries):
            toks = [t for t in code_tokens(q, STOP_WORDS) if t in vocab]
            if toks:
                out[i] = model.get_scores(toks)
        return out


class DenseRetriever:
    def __init__(self, model: str, *, batch_size: int = 64, query_max_len: int = 64, doc_max_len: int | None = None, progress: bool = True, device="cpu"):
        self.encoder, self.tokenizer, self.model_dir = load_encoder(model)
        self.encoder.to(device).eval()
        self.name = str(model)
        if doc_max_len is None:
            doc_max_len = default_doc_max_len(self.encoder.backbone)
        self.batch_size, self.query_max_len, self.doc_max_len = batch_size, query_max_len, doc_max_len
        self.progress, self.device = progress, device
        self._cache: tuple[int, np.ndarray] | None = None

    def embed(self, texts: Sequence[str], max_len: int, desc: str) -> np.ndarray:
        return encode(self.encoder, self.tokenizer, texts, max_len=max_len, batch_size=self.batch_size,
                      device=self.device, progress=self.progress, desc=desc)

    def scores(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        key = hash(tuple(docs))
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self.embed(docs, self.doc_max_len, "embed pool"))
        q = self.embed(queries, self.query_max_len, "embed queries")
        return q @ self._cache[1].T

    def code_scores(self, codes: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        """Code-as-query scores (queries embedded with the document length)."""
        key = hash(tuple(docs))
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self.embed(docs, self.doc_max_len, "embed pool"))
        return self.embed(codes, self.doc_max_len, "embed code queries") @ self._cache[1].T
