"""`python -m trainer evaluate`: CoSQA, held-out pair retrieval and code-to-code MAP for one or more
models and BM25, through the same code. Prints a table (metric, convention) and writes JSON.

--json is checked before anything is evaluated (its folder is created if missing and must be writable;
the path must not be a folder), so a long evaluation never ends with its result lost.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from trainer.cli import positive_int
from trainer.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", action="append", default=[], help="local model folder (repeatable; 'minilm' = the packaged MiniLM)")
    p.add_argument("--baseline-model", action="append", default=[], help="more model folders evaluated the same way")
    p.add_argument("--bm25", action="store_true", help="also evaluate BM25 (bm25s) over code tokens")
    p.add_argument("--cosqa", help="folder with cosqa-retrieval-dev-500.json and code_idx_map.txt")
    p.add_argument("--pairs", help="the pipeline's OUT/pairs folder (held-out retrieval and code-to-code MAP)")
    p.add_argument("--split", default="test", help="split of --pairs to evaluate (default test)")
    p.add_argument("--max-queries", type=positive_int, default=None,
                   help="evaluate only the first N queries of each task (pool unchanged; default: all)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="texts embedded per forward pass")
    p.add_argument("--query-max-len", type=positive_int, default=64, help="query tokens kept")
    p.add_argument("--code-max-len", type=positive_int, default=None,
                   help="code tokens kept (default: 256, capped at the model's position limit; the same rule as embed and the export)")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def evaluate_all(args) -> dict:
    from trainer.evaluation.cosqa import evaluate_cosqa
    from trainer.evaluation.pairs_eval import evaluate_code_to_code, evaluate_pair_retrieval, load_split
    from trainer.evaluation.retrievers import BM25Retriever, DenseRetriever

    models = list(args.model) + list(args.baseline_model)
    if not models and not args.bm25:
        raise UserError("nothing to evaluate: pass --model MODEL (repeatable) and/or --bm25")
    if not args.cosqa and not args.pairs:
        raise UserError("no task: pass --cosqa DIR and/or --pairs DIR")
    rows = load_split(args.pairs, args.split) if args.pairs else None
    results: dict = {"split": args.split if args.pairs else None, "systems": {}}
    systems = [("bm25", None)] if args.bm25 else []
    systems += [(m, m) for m in models]
    for name, model in systems:
        retriever = BM25Retriever() if model is None else DenseRetriever(
            model, batch_size=args.batch_size, query_max_len=args.query_max_len, doc_max_len=args.code_max_len,
            progress=not args.no_progress)
        out: dict = {}
        if args.cosqa:
            out["cosqa"] = evaluate_cosqa(retriever, args.cosqa, args.max_queries)
        if rows is not None:
            out["pairs_summary_to_code_hard"] = evaluate_pair_retrieval(retriever, rows, "code_hard", args.max_queries)
            out["pairs_summary_to_code"] = evaluate_pair_retrieval(retriever, rows, "code", args.max_queries)
            out["code_to_code"] = evaluate_code_to_code(retriever, rows, args.max_queries)
        results["systems"][name] = out
    return results


def format_table(results: dict) -> str:
    lines, conventions = [], {}
    header = f"{'system':<40} {'task':<28} {'metric':<10} {'value':>8}  {'queries':>7} {'pool':>6}"
    lines += [header, "-" * len(header)]
    for system, tasks in results["systems"].items():
        for task, r in tasks.items():
            conventions[task] = r["convention"]
            for metric in ("mrr", "recall@1", "recall@10", "map"):
                if metric in r:
                    v = r[metric]
                    value = "n/a" if v is None else f"{v:.4f}"
                    lines.append(f"{system[-40:]:<40} {task:<28} {metric:<10} {value:>8}  {r.get('queries', ''):>7} {r.get('pool', ''):>6}")
    lines.append("")
    lines.append("conventions:")
    for task, text in conventions.items():
        lines.append(f"  {task}: {text}")
    return "\n".join(lines)


def check_output_path(path: str | os.PathLike, flag: str = "--json") -> Path:
    """Make sure `path` can be written as a file, before any work; UserError (naming `flag`) if the path
    is a folder, one of its parents is not a folder, or the file cannot be created there. Leaves no
    trace: an existing file is not changed, and the probe file and any parent folders made for it are
    removed again (the writer creates them at the end)."""
    out = Path(path)
    if out.is_dir():
        raise UserError(f"{flag} {out} is a folder; pass the path of a file to write the results to")
    ancestor = out.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(f"{flag} {out}: {ancestor} is not a folder; choose a path inside a folder")
    created = [d for d in [out.parent, *out.parent.parents] if not d.exists()]
    existed = out.exists()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise UserError(f"cannot write {flag} {out} ({exc.strerror or exc}); choose a writable path") from None
    finally:
        if not existed:
            out.unlink(missing_ok=True)
        for d in created:  # deepest first
            try:
                d.rmdir()
            except OSError:
                pass
    return out


def run(args) -> int:
    if args.json:
        check_output_path(args.json)
    results = evaluate_all(args)
    print(format_table(results))
    if args.json:
        try:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        except OSError as exc:
            raise UserError(f"could not write --json {args.json} ({exc.strerror or exc}); the table above holds the results") from None
    return 0
