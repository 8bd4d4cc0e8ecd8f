"""Walking a folder: recursive, sorted, hidden entries skipped, include/exclude globs, symlinks kept inside."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from fnmatch import fnmatchcase
from pathlib import Path

from ragtune.loaders.options import LoadFailure, LoadOptions

log = logging.getLogger(__name__)


def iter_folder(folder: Path, options: LoadOptions) -> Iterator[Path | LoadFailure]:
    """Files under ``folder`` to load, in sorted order, and failures for symlinks that leave it.

    Hidden files and folders (names starting with ``.``) are skipped. Symlinks are followed only
    when they resolve inside ``folder``; a link to a folder inside is not walked twice.
    """
    root = folder.resolve()
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as exc:
            yield LoadFailure(
                path=str(directory), reason=f"cannot list the folder ({exc.strerror}); check its permissions"
            )
            continue
        subdirs: list[Path] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            relative = path.relative_to(root).as_posix()
            if entry.is_symlink():
                target = path.resolve()
                if not _is_inside(target, root):
                    reason = (
                        f"symlink points outside the folder (to {target}); "
                        "copy the file into the folder or pass its path directly"
                    )
                    yield LoadFailure(path=str(path), reason=reason)
                    continue
                if not target.exists():
                    yield LoadFailure(path=str(path), reason=f"broken symlink (its target {target} does not exist)")
                    continue
                if target.is_dir():
                    continue  # inside the folder: walked under its real name
            if entry.is_dir():
                if not _matches_any(relative, options.exclude):
                    subdirs.append(path)
            elif entry.is_file():
                if options.include and not _matches_any(relative, options.include):
                    continue
                if not _matches_any(relative, options.exclude):
                    yield path
            else:
                log.debug("skipping %s: not a regular file", path)
        stack.extend(reversed(subdirs))


def _is_inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _matches_any(relative: str, patterns: Sequence[str]) -> bool:
    return any(glob_match(relative, pattern) for pattern in patterns)


def glob_match(relative: str, pattern: str) -> bool:
    """Whether a path relative to the folder (``a/b/c.md``) matches a glob.

    A glob without ``/`` matches the last path component (``*.md``, ``drafts``); one with
    ``/`` matches the whole relative path, where ``**/`` may also stand for no folder at all.
    """
    pattern = pattern.strip().removeprefix("./").rstrip("/")
    if not pattern:
        return False
    if "/" not in pattern:
        return fnmatchcase(relative.rsplit("/", 1)[-1], pattern)
    candidates = {pattern, pattern.replace("/**/", "/")}
    if pattern.startswith("**/"):
        candidates.add(pattern[3:])
    return any(fnmatchcase(relative, candidate) for candidate in candidates)


__all__ = ["glob_match", "iter_folder"]
