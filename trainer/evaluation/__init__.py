"""Evaluation with explicit conventions (design.md section 5): CoSQA retrieval, held-out pair retrieval,
code-to-code MAP; dense models and BM25 run through the same `Retriever` interface."""
