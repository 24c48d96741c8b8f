"""Atomic file writes: a crash or `kill -9` at any instant leaves either the old file or the new
one on disk, never half of one. Everything the project persists (configs, checkpoints, bundles,
caches, reports) goes through here."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: str | Path, mode: str = "wb"):
    """Write through the yielded file object; `path` appears only when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_file(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_replace_dir(staging: str | Path, final: str | Path) -> None:
    """Move a fully written `staging` directory to `final`, replacing what was there.

    The old directory is renamed aside first and removed only after the new one is in place,
    so an interruption leaves either the old or the new directory under `final` (plus at most
    a stray `.old` folder), never a mix."""
    staging, final = Path(staging), Path(final)
    old = final.with_name(f".{final.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    _fsync_dir(final.parent)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def staging_dir_for(final: str | Path) -> Path:
    """A fresh temporary directory beside `final` (same file system, so rename is atomic)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".staging", dir=final.parent))


@contextmanager
def staged_dir(final: str | Path):
    """`with staged_dir(out) as tmp:` write a whole directory into `tmp`; when the block ends
    without error it replaces `out` atomically (`atomic_replace_dir`), otherwise `tmp` is
    removed and `out` is left as it was. Used for bundles and report folders, so a report
    is never half-written or mixed with an older one's figures."""
    staging = staging_dir_for(final)
    try:
        yield staging
        atomic_replace_dir(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_files(folder: str | Path, files: dict[str, bytes]) -> None:
    """Write `{relative path: bytes}` under `folder`, creating subfolders."""
    for rel, data in files.items():
        target = Path(folder) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
