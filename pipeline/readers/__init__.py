"""Readers: turn `--input` into one PCollection of file records plus `read` reject rows.

What a pattern is decides the reader (`resolve_inputs`):
    a folder holding data/<lang>/*.parquet, or *.parquet files      -> The Stack Parquet reader
    *.jsonl / *.jsonl.gz / *.ndjson / *.json files                  -> JSONL reader
    any other folder                                                -> source tree reader
    a single source file (extension known to a language spec)       -> source tree of one file
    no --input at all                                               -> this interpreter's stdlib
Patterns may be globs, repeated or comma-separated; local paths use the OS, other schemes
(gs://, s3://, ...) go through Beam FileSystems, and hf:// (the Hugging Face Hub) through fsspec
registered with Beam FileSystems (fsspec_fs.py). A pattern matching nothing is a UserError, and
so is a Parquet or JSONL file whose name is not valid UTF-8 (it could not be named in a record
or reject row); inside a source tree such a name is an `undecodable_path` reject instead.
"""
from __future__ import annotations

import dataclasses
import glob
import os
import stat
from typing import Iterable, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from ..errors import UserError
from ..filtering import REJECTED_TAG
from ..languages import all_specs, language_for_path
from . import fsspec_fs  # noqa: F401 (defining its classes registers hf:// with Beam FileSystems)
from .common import NOT_SELECTED_TAG, is_utf8, printable
from .jsonl import ReadJsonlFile, is_jsonl
from .parquet import ParquetPart, ReadParquetPart, dir_language, plan_parquet
from .tree import (
    DEFAULT_MAX_READ_BYTES, ListedReject, ReadTreeFile, TreeSource, list_tree, stdlib_source, tree_source,
)

__all__ = [
    "InputPlan", "ReadInputs", "resolve_inputs", "split_patterns", "languages_in_plan", "ParquetPart", "TreeSource",
    "stdlib_source", "tree_source", "DEFAULT_MAX_READ_BYTES", "local_input_paths",
]

_GLOB_CHARS = set("*?[")


@dataclasses.dataclass(frozen=True)
class InputPlan:
    parquet: tuple[ParquetPart, ...] = ()
    jsonl: tuple[str, ...] = ()
    trees: tuple[TreeSource, ...] = ()

    def describe(self) -> dict:
        """The manifest's `inputs`. `parquet_rows` is the row count the footers promise, so that
        read + rejected + not-selected rows can be checked against it (a row group that fails to
        decode is one reject whose path says how many rows it lost)."""
        return {
            "parquet_files": len({p.path for p in self.parquet}),
            "parquet_row_groups": len(self.parquet),
            "parquet_rows": sum(p.num_rows for p in self.parquet),
            "jsonl_files": len(self.jsonl),
            "trees": [printable(t.root) for t in self.trees],
        }


def split_patterns(values: Sequence[str] | None) -> list[str]:
    """['a,b', 'c'] -> ['a', 'b', 'c'] (repeatable and comma-separated --input)."""
    out = []
    for value in values or ():
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def _is_remote(pattern: str) -> bool:
    return "://" in pattern and not pattern.startswith("file://")


def _match(pattern: str) -> list[str]:
    if _is_remote(pattern):
        try:
            result = FileSystems.match([pattern])[0]
        except Exception as exc:  # BeamIOError, missing filesystem plugin (e.g. gcsfs not installed)
            raise UserError(f"--input {pattern} could not be listed ({exc}); check the path and credentials") from None
        return sorted(m.path for m in result.metadata_list)
    local = pattern[len("file://"):] if pattern.startswith("file://") else pattern
    local = os.path.expanduser(local)
    if not (_GLOB_CHARS & set(local)):
        return [local] if os.path.exists(local) or os.path.islink(local) else []
    return sorted(glob.glob(local, recursive=True))


def _stack_layout(folder: str) -> list[str]:
    """Parquet files of a folder in The Stack's layout, else [].

    Tried in order: <folder>/data/<lang>/*.parquet, <folder>/<lang>/*.parquet (where <lang> names
    a registered language, so a source tree with Parquet test fixtures stays a source tree), and
    <folder>/*.parquet (the folder is itself one language's directory or a plain Parquet folder).
    """
    sep = "/" if _is_remote(folder) else os.sep
    base = folder.rstrip("/" + os.sep)
    found = _match(f"{base}{sep}data{sep}*{sep}*.parquet")
    if found:
        return found
    found = [p for p in _match(f"{base}{sep}*{sep}*.parquet") if dir_language(p) is not None]
    if found:
        return found
    return _match(f"{base}{sep}*.parquet")


def resolve_inputs(
    patterns: Iterable[str] | None,
    languages: tuple[str, ...] | None = None,
    max_files_per_tree: int | None = None,
) -> InputPlan:
    """Classify every --input pattern; raises UserError for patterns that match nothing usable."""
    patterns = list(patterns or ())
    if not patterns:
        return InputPlan(trees=(stdlib_source(max_files_per_tree),))
    parquet: list[str] = []
    jsonl: list[str] = []
    trees: list[TreeSource] = []
    loose: dict[str, list[str]] = {}
    for pattern in patterns:
        matches = _match(pattern)
        if not matches and _is_remote(pattern) and not (_GLOB_CHARS & set(pattern)):
            matches = _stack_layout(pattern)
        if not matches:
            raise UserError(f"--input {pattern} matches no file or folder; check the path or glob")
        for path in matches:
            if not _is_remote(path) and os.path.isdir(path):
                stack = _stack_layout(path)
                if stack:
                    parquet.extend(stack)
                else:
                    trees.append(tree_source(path, max_files_per_tree))
            elif path.lower().endswith(".parquet"):
                parquet.append(path)
            elif is_jsonl(path):
                jsonl.append(path)
            elif language_for_path(path) is not None and not _is_remote(path):
                folder, name = os.path.split(os.path.realpath(path))
                loose.setdefault(folder, []).append(name)
            elif len(matches) == 1:
                raise UserError(
                    f"--input {path} is neither a folder, a .parquet, a .jsonl nor a source file of a known "
                    "language; pass The Stack's folder, Parquet or JSONL files, or a source tree"
                )
    for folder, names in sorted(loose.items()):
        trees.append(TreeSource(root=folder, repo=printable(os.path.basename(folder)), files=tuple(sorted(set(names)))))
    for path in (*parquet, *jsonl):
        if not _is_remote(path) and os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
            # a named pipe would block the planner (Parquet footers) or a worker (JSONL) forever
            raise UserError(f"--input {printable(path)} is not a regular file (a named pipe, socket or device); "
                            "write its data to a file and pass that")
        if not is_utf8(path):
            raise UserError(
                f"--input file {printable(path)} has a name that is not valid UTF-8; rename it (e.g. with convmv) "
                "or leave it out of --input"
            )
    plan = InputPlan(
        parquet=tuple(plan_parquet(sorted(set(parquet)), languages)),
        jsonl=tuple(sorted(set(jsonl))),
        trees=tuple(trees),
    )
    listed = [(rel, lang) for tree in plan.trees for _, rel, lang in list_tree(tree, languages)]
    if not (plan.parquet or plan.jsonl) and all(lang is None for _, lang in listed):
        hint = _skipped_dirs_hint([rel for rel, _ in listed])
        if languages:
            raise UserError(
                f"--input {', '.join(patterns)} holds no file of the selected languages "
                f"({', '.join(languages)}); check --input and --languages{hint}"
            )
        raise UserError(
            f"--input {', '.join(patterns)} holds no file of the selected languages (no file has an extension "
            f"of a registered language); check --input{hint}"
        )
    return plan


def _skipped_dirs_hint(skipped: Sequence[ListedReject]) -> str:
    """Why a tree with no readable file may look empty: its folders were links or unreadable."""
    links = [r.path for r in skipped if r.reason == "symlinked_directory"]
    unreadable = [f"{r.path} ({r.reason.split(':', 1)[-1]})" for r in skipped if r.reason != "symlinked_directory"]
    hint = ""
    if links:
        hint += (f"; its folders {', '.join(links[:3])} are symbolic links, which are not followed: "
                 "pass their targets as --input")
    if unreadable:
        hint += f"; its folders {', '.join(unreadable[:3])} could not be listed: check their permissions"
    return hint


def local_input_paths(patterns: Iterable[str] | None) -> list[str]:
    """Real paths of every local file or folder the --input patterns match (the stdlib without any).

    Cheap (globbing only, no reading): `run` uses it before anything else to refuse an output
    folder that equals, contains or lies inside an input. Remote patterns are skipped.
    """
    patterns = list(patterns or ())
    if not patterns:
        return [stdlib_source().root]
    found = []
    for pattern in patterns:
        if _is_remote(pattern):
            continue
        found.extend(os.path.realpath(path) for path in _match(pattern))
    return sorted(set(found))


def languages_in_plan(plan: InputPlan, languages: tuple[str, ...] | None) -> tuple[str, ...]:
    """The languages the job can meet: --languages, else what the inputs can hold.

    Parquet files under data/<lang>/ name theirs; source trees are listed (local, cheap); a Parquet
    file outside that layout or a JSONL file may hold any registered language.
    """
    if languages is not None:
        return tuple(languages)
    found: set[str] = set()
    if plan.jsonl or any(part.dir_lang is None for part in plan.parquet):
        return tuple(sorted(all_specs()))
    found.update(part.dir_lang for part in plan.parquet)
    for tree in plan.trees:
        found.update(lang for _, _, lang in list_tree(tree, None) if lang is not None)
    return tuple(sorted(found))


class ReadInputs(beam.PTransform):
    """PBegin -> {"records": file records, "rejected": `read` reject rows, "not_selected": (lang, n)}."""

    def __init__(self, plan: InputPlan, languages: tuple[str, ...] | None = None,
                 max_read_bytes: int = DEFAULT_MAX_READ_BYTES, label: str | None = None):
        super().__init__(label)
        self._plan = plan
        self._languages = languages
        self._max_read_bytes = max_read_bytes

    def expand(self, pbegin):
        """{"records", "rejected", "not_selected"}: the last holds (lang, n) counts of Parquet / JSONL
        rows skipped by --languages (tree files of other languages are never listed, and Parquet
        files under a data/<lang>/ folder that is not selected are never opened)."""
        records, rejected, not_selected = [], [], []

        def collect(outputs, counts_unselected=True):
            records.append(outputs["records"])
            rejected.append(outputs[REJECTED_TAG])
            if counts_unselected:
                not_selected.append(outputs[NOT_SELECTED_TAG])

        if self._plan.parquet:
            collect(
                pbegin
                | "ParquetParts" >> beam.Create(list(self._plan.parquet), reshuffle=True)
                | "ReadParquet" >> beam.ParDo(ReadParquetPart(self._languages)).with_outputs(
                    REJECTED_TAG, NOT_SELECTED_TAG, main="records")
            )
        if self._plan.jsonl:
            collect(
                pbegin
                | "JsonlFiles" >> beam.Create(list(self._plan.jsonl), reshuffle=True)
                | "ReadJsonl" >> beam.ParDo(ReadJsonlFile(self._languages)).with_outputs(
                    REJECTED_TAG, NOT_SELECTED_TAG, main="records")
            )
        if self._plan.trees:
            languages = self._languages
            collect(
                pbegin
                | "Trees" >> beam.Create(list(self._plan.trees))
                | "ListTrees" >> beam.FlatMap(list_tree, languages)
                | "SpreadFiles" >> beam.Reshuffle()
                | "ReadFiles" >> beam.ParDo(ReadTreeFile(self._max_read_bytes)).with_outputs(
                    REJECTED_TAG, main="records"),
                counts_unselected=False,
            )
        if not not_selected:  # Flatten needs at least one input
            not_selected.append(pbegin | "NoRowsSkipped" >> beam.Create([]))
        return {
            "records": records | "AllRecords" >> beam.Flatten(),
            "rejected": rejected | "AllReadRejects" >> beam.Flatten(),
            "not_selected": not_selected | "AllNotSelected" >> beam.Flatten(),
        }
