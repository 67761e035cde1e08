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

Symbolic links to files inside the tree are followed (a broken one is an `unreadable` reject); a
link whose target lies outside the tree (its real path is not under the tree's real path, e.g.
`x.py -> /etc/passwd`) is not read and becomes a counted `read` reject `symlink_outside_tree`, so
a tree can never pull in files from elsewhere on the machine. Symbolic links to directories are
not followed (a link may point anywhere, e.g. at `/`, or loop): each one becomes a counted `read`
reject `symlinked_directory` whose `path` is the link's path with a trailing `/` (lang null: its
files were never listed). Pass the linked folder as an `--input` of its own to read it.

A directory that cannot be listed (permissions, vanished while walking) is a counted `read`
reject `unreadable_directory:<OSError name>` with path `dir/` (lang null), not a silent gap. A
path that is not a regular file (a named pipe, socket or device, or a link to one) is the reject
`not_a_regular_file`: it is never opened, since opening a FIFO blocks until a writer appears
and would hang the job.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
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
    root: str                               # the folder, as its real path (resolved on construction)
    repo: str                               # the `repo` value of its records
    files: tuple[str, ...] | None = None    # relative paths; None = walk the folder
    exclude_dirs: tuple[str, ...] = ()      # directory names skipped anywhere in the tree
    max_files: int | None = None            # deterministic cap (see `list_tree`)

    def __post_init__(self):
        # the real path (links resolved), once: every file's "inside the tree?" check compares against it
        object.__setattr__(self, "root", os.path.realpath(self.root))


@dataclasses.dataclass(frozen=True)
class ListedReject:
    """A directory `list_tree` could not or would not descend into; becomes one `read` reject.

    `path` is the directory's path inside the tree with a trailing `/`, printable (valid UTF-8);
    `reason` is `symlinked_directory` or `unreadable_directory:<OSError name>`.
    """

    path: str
    reason: str


def stdlib_source(max_files: int | None = None) -> TreeSource:
    """The running interpreter's standard library (the embedded default input)."""
    root = os.path.realpath(sysconfig.get_paths()["stdlib"])
    return TreeSource(root=root, repo=printable(os.path.basename(root) or "stdlib"), exclude_dirs=STDLIB_EXCLUDE,
                      max_files=max_files)


def tree_source(root: str, max_files: int | None = None) -> TreeSource:
    """The tree at folder `root`; `repo` is the folder's name, made printable (valid UTF-8)."""
    root = os.path.realpath(root)
    return TreeSource(root=root, repo=printable(os.path.basename(root.rstrip(os.sep)) or root), max_files=max_files)


def _dir_path(folder: str, root: str) -> str:
    """`folder` relative to the tree `root`, with `/` separators and a trailing `/`, printable."""
    rel = os.path.relpath(folder, root).replace(os.sep, "/")
    return printable("./" if rel == "." else rel + "/")


def list_tree(source: TreeSource, languages: tuple[str, ...] | None):
    """Yield (source, relative path, lang) for every file of a registered language, sorted by path,
    then (source, ListedReject, None) for every directory not descended into: symbolic links to
    directories (not followed; see module doc) and directories that could not be listed.

    The relative path is a `str` with `/` separators. A relative path that is not valid UTF-8 is
    yielded as `bytes` (its raw OS bytes) instead, because such a str cannot cross a Beam coder;
    `ReadTreeFile` turns it into an `undecodable_path` reject. With `max_files`, keeps the N files
    with the smallest sha1(relative path bytes): a deterministic sample spread over the whole tree
    rather than its alphabetically first folders.
    """
    skipped: list[ListedReject] = []
    if source.files is not None:
        rels = list(source.files)
    else:
        rels = []
        skip = SKIP_DIRS | set(source.exclude_dirs)

        def unlisted(exc: OSError) -> None:
            # os.walk drops a directory it cannot scan unless told; record it instead.
            folder = exc.filename if isinstance(exc.filename, str) else source.root
            skipped.append(ListedReject(_dir_path(folder, source.root), f"unreadable_directory:{type(exc).__name__}"))

        for folder, dirs, names in os.walk(source.root, onerror=unlisted):
            dirs[:] = sorted(d for d in dirs if d not in skip)
            for d in dirs:  # os.walk lists them but never descends into them (followlinks=False)
                if os.path.islink(os.path.join(folder, d)):
                    skipped.append(ListedReject(_dir_path(os.path.join(folder, d), source.root), "symlinked_directory"))
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
    for reject in sorted(skipped, key=lambda r: (r.path, r.reason)):
        yield source, reject, None


class NotRegularFile(Exception):
    """The path is a named pipe, socket, device or directory (see `read_regular_file`)."""


class OutsideTree(Exception):
    """The path resolves (through links) to a file outside its tree (see `read_regular_file`)."""


def read_regular_file(full: str, limit: int, root: str | None = None) -> bytes:
    """Up to `limit` bytes of the regular file `full`; NotRegularFile for anything else, OutsideTree
    when `root` (a real path, as TreeSource.root is) is given and the file lies outside it, OSError
    when it cannot be opened or read.

    The path is resolved once and that resolved path is what is checked and opened, with O_NOFOLLOW
    (a link swapped in afterwards fails to open instead of being followed); on Linux the opened file's
    own path (/proc/self/fd) is checked again, so a parent folder swapped for a link in between cannot
    lead outside the tree either. stat first, so that a FIFO or device is never opened (open() on a
    FIFO blocks until a writer appears: the job hung forever); the open is non-blocking and checked
    again with fstat.
    """
    real = os.path.realpath(full)
    real_root = root
    if real_root is not None and os.path.commonpath([real_root, real]) != real_root:
        raise OutsideTree(full)
    if not stat.S_ISREG(os.stat(real).st_mode):
        raise NotRegularFile(full)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(real, flags)
    with open(fd, "rb", closefd=True) as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(full)
        opened = f"/proc/self/fd/{fd}"
        if real_root is not None and os.path.islink(opened):
            where = os.readlink(opened)
            if os.path.commonpath([real_root, where]) != real_root:
                raise OutsideTree(full)
        return fh.read(limit)


class ReadTreeFile(beam.DoFn):
    """(TreeSource, relative path, lang) -> file record, or a `read` reject row (REJECTED_TAG)."""

    def __init__(self, max_read_bytes: int = DEFAULT_MAX_READ_BYTES):
        self._max_read_bytes = max_read_bytes

    def setup(self):
        self._read = Metrics.counter("codesage", "read.records")
        self._rejected = Metrics.counter("codesage", "read.rejected")

    def process(self, element):
        source, rel, lang = element
        # see list_tree: a ListedReject is a directory not descended into; a bytes path is a name
        # that is not valid UTF-8 (shown with \xNN escapes)
        if isinstance(rel, ListedReject):
            yield self._reject(None, rel.path, rel.reason)
            return
        if isinstance(rel, bytes):
            yield self._reject(lang, rel.decode("utf-8", errors="backslashreplace"), "undecodable_path")
            return
        full = os.path.join(source.root, *rel.split("/"))
        try:
            data = read_regular_file(full, self._max_read_bytes + 1, source.root)
        except OutsideTree:
            yield self._reject(lang, rel, "symlink_outside_tree")
            return
        except NotRegularFile:
            yield self._reject(lang, rel, "not_a_regular_file")
            return
        except OSError as exc:
            yield self._reject(lang, rel, f"unreadable:{type(exc).__name__}")
            return
        if len(data) > self._max_read_bytes:
            yield self._reject(lang, rel, f"too_large_to_read>{self._max_read_bytes}")
            return
        text, reason = decode_strict(data)
        if reason is not None:
            yield self._reject(lang, rel, reason, id=git_blob_sha1(data))
            return
        self._read.inc()
        yield make_record(id=None, lang=lang, repo=source.repo, path=rel, licenses=(), content=text)

    def _reject(self, lang: str | None, path: str, reason: str, id: str | None = None):
        """Count one `read` reject and return it as the tagged output."""
        self._rejected.inc()
        return beam.pvalue.TaggedOutput(REJECTED_TAG, read_reject(id=id, lang=lang, path=path, reason=reason))
