"""Beam FileSystems for schemes Beam does not have, served by fsspec: `hf://` (the Hugging Face Hub,
e.g. `--input 'hf://datasets/bigcode/the-stack-dedup/data/python/*.parquet'`).

Beam picks a FileSystem by the path's scheme among every subclass of `FileSystem` that exists in
the process, so defining the class is the registration: importing `pipeline.readers` (which every
reader DoFn does, on every worker) makes `FileSystems.match` / `FileSystems.open` understand the
scheme, and every reader (Parquet footers and row groups, JSONL) works on it unchanged.

Contract: read-only (match, open, exists, size, metadata, listing); writes, copies, renames and
deletes raise BeamIOError. Paths keep their scheme (`hf://...`) in and out. Credentials and
endpoints are fsspec's (for `hf://`, huggingface_hub's: `HF_TOKEN`, `HF_ENDPOINT`); the library
behind a scheme is imported on first use, and its absence is a one-line error naming the package.
"""
from __future__ import annotations

import posixpath
from typing import BinaryIO, Iterator

from apache_beam.io.filesystem import (
    BeamIOError,
    CompressedFile,
    CompressionTypes,
    FileMetadata,
    FileSystem,
    MatchResult,
)

_GLOB_CHARS = frozenset("*?[")


class FsspecFileSystem(FileSystem):
    """A read-only Beam FileSystem over the fsspec implementation of `PROTOCOL`; subclasses set it.
    `PACKAGE` is what to pip-install when fsspec lacks the implementation."""

    PROTOCOL: str | None = None
    PACKAGE: str = "fsspec"

    @classmethod
    def scheme(cls):
        # Beam compares this with the path's scheme, None for local paths: the base class must not
        # answer None (it would claim every local path), so it answers what no URL can start with
        return cls.PROTOCOL or "<no scheme>"

    # ------------------------------------------------------------------ paths
    def _fs(self):
        import fsspec  # fsspec caches instances per protocol and arguments

        try:
            return fsspec.filesystem(self.PROTOCOL)
        except ImportError as exc:
            raise BeamIOError(f"{self.PROTOCOL}:// needs the package {self.PACKAGE} "
                              f"(pip install {self.PACKAGE}): {exc}") from None

    def _strip(self, path: str) -> str:
        prefix = f"{self.PROTOCOL}://"
        return path[len(prefix):] if path.startswith(prefix) else path

    def _url(self, path: str) -> str:
        return f"{self.PROTOCOL}://{self._strip(path)}"

    def join(self, basepath: str, *paths: str) -> str:
        return self._url(posixpath.join(self._strip(basepath), *paths))

    def split(self, path: str) -> tuple[str, str]:
        head, tail = posixpath.split(self._strip(path))
        return self._url(head), tail

    def has_dirs(self) -> bool:
        return True

    # ------------------------------------------------------------------ reading
    def _metadata(self, info: dict) -> FileMetadata:
        modified = info.get("last_modified") or info.get("mtime") or 0
        timestamp = modified.timestamp() if hasattr(modified, "timestamp") else float(modified or 0)
        return FileMetadata(self._url(info["name"]), int(info.get("size") or 0), timestamp)

    def match(self, patterns, limits=None):
        """One MatchResult of the files (never folders) each pattern names or globs, in path order."""
        limits = list(limits) if limits is not None else [None] * len(patterns)
        fs = self._fs()
        results = []
        for pattern, limit in zip(patterns, limits):
            try:
                path = self._strip(pattern)
                if _GLOB_CHARS & set(path):
                    infos = list(fs.glob(path, detail=True).values())
                else:
                    infos = [fs.info(path)] if fs.exists(path) else []
                files = sorted((self._metadata(i) for i in infos if i.get("type") != "directory"),
                               key=lambda m: m.path)
            except Exception as exc:  # network, auth, missing repo: Beam's error for a failed match
                raise BeamIOError("Match operation failed", {pattern: exc}) from None
            results.append(MatchResult(pattern, files[:limit] if limit is not None else files))
        return results

    def _list(self, dir_or_prefix: str) -> Iterator[FileMetadata]:
        for info in self._fs().ls(self._strip(dir_or_prefix), detail=True):
            if info.get("type") != "directory":
                yield self._metadata(info)

    def open(self, path: str, mime_type: str = "application/octet-stream",
             compression_type: str = CompressionTypes.AUTO) -> BinaryIO:
        raw = self._fs().open(self._strip(path), "rb")
        if compression_type == CompressionTypes.AUTO:
            compression_type = CompressionTypes.detect_compression_type(path)
        if compression_type == CompressionTypes.UNCOMPRESSED:
            return raw
        return CompressedFile(raw, compression_type=compression_type)

    def exists(self, path: str) -> bool:
        return self._fs().exists(self._strip(path))

    def size(self, path: str) -> int:
        return int(self._fs().size(self._strip(path)))

    def last_updated(self, path: str) -> float:
        return self._metadata(self._fs().info(self._strip(path))).last_updated_in_seconds

    def metadata(self, path: str) -> FileMetadata:
        return self._metadata(self._fs().info(self._strip(path)))

    def checksum(self, path: str) -> str:
        return str(self._fs().checksum(self._strip(path)))

    # ------------------------------------------------------------------ writing: not supported
    def _read_only(self, *paths):
        raise BeamIOError(f"{self.PROTOCOL}:// is read-only here; write --output to a local path, gs:// or s3://",
                          {p: None for p in paths})

    def mkdirs(self, path):
        self._read_only(path)

    def create(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        self._read_only(path)

    def copy(self, source_file_names, destination_file_names):
        self._read_only(*source_file_names)

    def rename(self, source_file_names, destination_file_names):
        self._read_only(*source_file_names)

    def delete(self, paths):
        self._read_only(*paths)


class HuggingFaceFileSystem(FsspecFileSystem):
    """`hf://datasets/<org>/<name>/<path>`: The Stack's Parquet files read from the Hub."""

    PROTOCOL = "hf"
    PACKAGE = "huggingface_hub"
