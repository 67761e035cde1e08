"""Local source trees: every file whose extension a language spec claims.

A `TreeSource` is a folder on the launcher's file system (or a list of files in it). Listing
happens inside the job (one element per tree, expanded to one element per file and then
reshuffled so reading parallelises); `repo` is the tree's folder name and `path` the file's
path relative to the tree, with forward slashes.

Contract: a file that cannot be opened (permissions, broken symlink, vanished) or is larger
than `max_read_bytes` becomes a counted `read` reject, never an exception. Files are decoded as
strict UTF-8; binary (NUL bytes) and invalid UTF-8 become `read` rejects too. A file whose
relative path is not valid UTF-8 (a name the OS hands over with surrogate escapes) becomes a
counted `read` reject `undecodable_path` whose `path` shows the raw bytes as `\\xNN` escapes
(`common.printable`); the tree's other files are read normally. `repo` is made printable the
same way, so no record or reject row carries a string that is not valid UTF-8.

Symbolic links to files are followed (a broken one is an `unreadable` reject). Symbolic links to
directories are not followed (a link may point anywhere, e.g. at `/`, or loop): each one becomes a
counted `read` reject `symlinked_directory` whose `path` is the link's path with a trailing `/`
(lang null: its files were never listed). Pass the linked folder as an `--input` of its own to
read it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import sysconfig

import apache_beam as beam
from apache_beam.metrics import Metrics

from ..filtering import REJECTED_TAG
from ..languages import language_for_path
from .common import SKIP_DIRS, decode_strict, git_blob_sha1, is_utf8, make_record, printable, read_reject

DEFAULT_MAX_READ_BYTES = 64 * 1024 * 1024
# Third-party packages installed into the interpreter are not the standard library.
STDLIB_EXCLUDE = ("site-packages", "dist-packages")


@dataclasses.dataclass(frozen=True)
class TreeSource:
    root: str                               # absolute folder
    repo: str                               # the `repo` value of its records
    files: tuple[str, ...] | None = None    # relative paths; None = walk the folder
    exclude_dirs: tuple[str, ...] = ()      # directory names skipped anywhere in the tree
    max_files: int | None = None            # deterministic cap (see `list_tree`)


def stdlib_source(max_files: int | None = None) -> TreeSource:
    """The running interpreter's standard library (the embedded default input)."""
    root = os.path.realpath(sysconfig.get_paths()["stdlib"])
    return TreeSource(root=root, repo=printable(os.path.basename(root) or "stdlib"), exclude_dirs=STDLIB_EXCLUDE,
                      max_files=max_files)


def tree_source(root: str, max_files: int | None = None) -> TreeSource:
    """The tree at folder `root`; `repo` is the folder's name, made printable (valid UTF-8)."""
    root = os.path.realpath(root)
    return TreeSource(root=root, repo=printable(os.path.basename(root.rstrip(os.sep)) or root), max_files=max_files)


def list_tree(source: TreeSource, languages: tuple[str, ...] | None):
    """Yield (source, relative path, lang) for every file of a registered language, sorted by path,
    and (source, "link/", None) for every symbolic link to a directory (not followed; see module doc).

    The relative path is a `str` with `/` separators. A relative path that is not valid UTF-8 is
    yielded as `bytes` (its raw OS bytes) instead, because such a str cannot cross a Beam coder;
    `ReadTreeFile` turns it into an `undecodable_path` reject. With `max_files`, keeps the N files
    with the smallest sha1(relative path bytes): a deterministic sample spread over the whole tree
    rather than its alphabetically first folders.
    """
    linked_dirs = []
    if source.files is not None:
        rels = list(source.files)
    else:
        rels = []
        skip = SKIP_DIRS | set(source.exclude_dirs)
        for folder, dirs, names in os.walk(source.root):
            dirs[:] = sorted(d for d in dirs if d not in skip)
            for d in dirs:  # os.walk lists them but never descends into them (followlinks=False)
                if os.path.islink(os.path.join(folder, d)):
                    linked_dirs.append(os.path.relpath(os.path.join(folder, d), source.root).replace(os.sep, "/") + "/")
            for name in names:
                rels.append(os.path.relpath(os.path.join(folder, name), source.root).replace(os.sep, "/"))
    chosen = []
    for rel in rels:
        lang = language_for_path(rel)
        if lang is None or (languages is not None and lang not in languages):
            continue
        chosen.append((os.fsencode(rel), rel, lang))
    if source.max_files is not None:
        chosen.sort(key=lambda item: hashlib.sha1(item[0]).hexdigest())
        chosen = chosen[: source.max_files]
    for raw, rel, lang in sorted(chosen):
        yield source, (rel if is_utf8(rel) else raw), lang
    for rel in sorted(linked_dirs):
        yield source, (rel if is_utf8(rel) else os.fsencode(rel)), None


class ReadTreeFile(beam.DoFn):
    """(TreeSource, relative path, lang) -> file record, or a `read` reject row (REJECTED_TAG)."""

    def __init__(self, max_read_bytes: int = DEFAULT_MAX_READ_BYTES):
        self._max_read_bytes = max_read_bytes

    def setup(self):
        self._read = Metrics.counter("codesage", "read.records")
        self._rejected = Metrics.counter("codesage", "read.rejected")

    def process(self, element):
        source, rel, lang = element
        # see list_tree: lang None is a symbolic link to a directory (not followed); a bytes path is a
        # name that is not valid UTF-8 (shown with \xNN escapes)
        if lang is None or isinstance(rel, bytes):
            self._rejected.inc()
            path = rel.decode("utf-8", errors="backslashreplace") if isinstance(rel, bytes) else rel
            reason = "symlinked_directory" if lang is None else "undecodable_path"
            yield beam.pvalue.TaggedOutput(REJECTED_TAG, read_reject(id=None, lang=lang, path=path, reason=reason))
            return
        full = os.path.join(source.root, *rel.split("/"))
        try:
            with open(full, "rb") as fh:
                data = fh.read(self._max_read_bytes + 1)
        except OSError as exc:
            self._rejected.inc()
            yield beam.pvalue.TaggedOutput(
                REJECTED_TAG, read_reject(id=None, lang=lang, path=rel, reason=f"unreadable:{type(exc).__name__}")
            )
            return
        if len(data) > self._max_read_bytes:
            self._rejected.inc()
            yield beam.pvalue.TaggedOutput(
                REJECTED_TAG, read_reject(id=None, lang=lang, path=rel, reason=f"too_large_to_read>{self._max_read_bytes}")
            )
            return
        text, reason = decode_strict(data)
        if reason is not None:
            self._rejected.inc()
            yield beam.pvalue.TaggedOutput(
                REJECTED_TAG, read_reject(id=git_blob_sha1(data), lang=lang, path=rel, reason=reason)
            )
            return
        self._read.inc()
        yield make_record(id=None, lang=lang, repo=source.repo, path=rel, licenses=(), content=text)
