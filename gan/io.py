"""Atomic file writes: a crash or `kill -9` at any instant leaves either the old file or the new
one on disk, never half of one. Everything the project persists (configs, checkpoints, bundles,
caches, reports) goes through here.

Replacing a folder is limited to an older folder of the same kind (a bundle, a report), which
the caller names; anything else there is refused, so a mistyped path never deletes a user's
files. Temporary files and folders are named `.<target>.<pid>-<random>.tmp|staging|old`, so
those left by a killed process can be told from the user's files and from a live writer's, and
removed (`remove_stale`). Whatever is written gets the permissions the user's umask gives."""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

Recognise = Callable[[Path], bool]
_TEMP_KINDS = ("tmp", "staging", "old")
# ours: pid-random; before pids were in the names, mkstemp/mkdtemp's 8 characters
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?:(?P<pid>\d+)-[0-9a-f]{8}|[A-Za-z0-9_]{8})"
                      r"\.(?P<kind>tmp|staging|old)$")


class ReplaceRefused(FileExistsError, ValueError):
    """A write would replace something that is not an older copy of what is being written."""


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


def _temp_path(final: Path, kind: str) -> Path:
    return final.parent / f".{final.name}.{os.getpid()}-{secrets.token_hex(4)}.{kind}"


def _create_unique(final: Path, kind: str, create: Callable[[Path], Any]) -> tuple[Path, Any]:
    """Create a new temporary entry beside `final` with `create` (which must fail on an existing
    name); retried on the rare clash of random names."""
    for _ in range(100):
        path = _temp_path(final, kind)
        try:
            return path, create(path)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no free temporary name beside {final}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:       # e.g. another user's process: alive
        return True
    return True


def remove_stale(folder: str | Path, name: str | None = None) -> list[Path]:
    """Remove temporary files and folders in `folder` that a killed writer left (those of a
    process still running are kept); only of target `name` when given. Returns what was removed."""
    folder = Path(folder)
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for p in entries:
        m = _TEMP_RE.match(p.name)
        if not m or (name is not None and m["name"] != name):
            continue
        if m["pid"] is not None and (int(m["pid"]) == os.getpid() or _pid_alive(int(m["pid"]))):
            continue
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        except FileNotFoundError:
            continue
        removed.append(p)
    return removed


@contextmanager
def atomic_file(path: str | Path, mode: str = "wb"):
    """Write through the yielded file object; `path` appears only when the block succeeds.
    An OSError while writing names `path` (e.g. which file a full disk stopped)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    tmp, fd = _create_unique(path, "tmp", lambda p: os.open(p, flags, 0o666))
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.filename is None:
            e.filename = str(path)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_file(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


class Marker:
    """Recognises a folder this project wrote by a file in it, e.g.
    `Marker("model.json", "a FaceGAN bundle", format="facegan-bundle")`; with `values`, the
    file must hold a JSON object with those values."""

    def __init__(self, filename: str, what: str, **values: Any):
        self.filename, self.what, self.values = filename, what, values

    def __call__(self, folder: Path) -> bool:
        path = Path(folder) / self.filename
        if not self.values:
            return path.is_file()
        try:
            d = json.loads(path.read_text())
        except (OSError, ValueError):
            return False
        return isinstance(d, dict) and all(d.get(k) == v for k, v in self.values.items())


# what every staged_dir caller but bundles writes: evaluation/, detection/report/, attributes/
REPORT = Marker("report.json", "a report folder (with report.json)")


def check_replaceable(final: str | Path, replaces: Recognise = REPORT) -> None:
    """Raise ReplaceRefused unless writing the folder `final` may go ahead: nothing is there,
    an empty folder, or a folder `replaces` recognises (an older one of the same kind). Call it
    before long work too, so a bad target is refused before hours of it."""
    final = Path(final)
    if final.is_symlink():
        raise ReplaceRefused(f"{final} is a symbolic link; give the folder it points to "
                             f"({os.path.realpath(final)}) or a new path. Nothing was written.")
    if not final.exists():
        return
    if not final.is_dir():
        raise ReplaceRefused(f"{final} is a file, not a folder; give a new folder. "
                             "Nothing was written.")
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in final.iterdir())
    if not entries or replaces(final):
        return
    shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    what = getattr(replaces, "what", "what this write replaces")
    held = "1 entry" if len(entries) == 1 else f"{len(entries)} entries"
    raise ReplaceRefused(f"{final} is not {what} but holds {held} ({shown}); it would be replaced "
                         "as a whole, so nothing was written. Give a new or empty folder, or "
                         "move those files away.")


def atomic_replace_dir(staging: str | Path, final: str | Path, replaces: Recognise = REPORT) -> None:
    """Move a fully written `staging` directory to `final`, replacing an older folder there
    that `replaces` recognises (anything else: ReplaceRefused, `staging` is kept).

    The old directory is renamed aside first and removed only after the new one is in place,
    so an interruption leaves either the old or the new directory under `final` (plus at most
    a stray `.old` folder, removed by the next write there), never a mix."""
    staging, final = Path(staging), Path(final)
    check_replaceable(final, replaces)
    old = None
    if final.exists():
        old, _ = _create_unique(final, "old", os.mkdir)  # a rename replaces an empty folder
        os.replace(final, old)
    os.replace(staging, final)
    _fsync_dir(final.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def staging_dir_for(final: str | Path) -> Path:
    """A fresh temporary directory beside `final` (same file system, so rename is atomic),
    with the permissions a new folder gets under the user's umask."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    return _create_unique(final, "staging", lambda p: os.mkdir(p, 0o777))[0]


@contextmanager
def staged_dir(final: str | Path, replaces: Recognise = REPORT):
    """`with staged_dir(out) as tmp:` write a whole directory into `tmp`; when the block ends
    without error it replaces `out` atomically (`atomic_replace_dir`), otherwise `tmp` is
    removed and `out` is left as it was. Used for bundles and report folders, so a report
    is never half-written or mixed with an older one's figures. `replaces` recognises what
    may be replaced (default: an older report); anything else is refused before writing."""
    final = Path(final)
    check_replaceable(final, replaces)
    remove_stale(final.parent, final.name)
    staging = staging_dir_for(final)
    try:
        yield staging
        atomic_replace_dir(staging, final, replaces)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_files(folder: str | Path, files: dict[str, bytes]) -> None:
    """Write `{relative path: bytes}` under `folder`, creating subfolders."""
    for rel, data in files.items():
        target = Path(folder) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MB chunks (bundles, audits and data manifests record it)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
