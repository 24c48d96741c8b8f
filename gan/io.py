"""Atomic file writes: a crash or `kill -9` at any instant leaves either the old file or the new
one on disk, never half of one. Everything the project persists (configs, checkpoints, bundles,
caches, reports) goes through here.

Replacing a folder is limited to an older folder of the same kind (a bundle, a report), which
the caller names, holding only files this project wrote: `staged_dir` leaves a manifest of its
files in each folder it writes (`MANIFEST`), and a file the manifest does not list (a photo the
user put in an evaluation folder, say) stops the replacement. Anything else there is refused
too, so a mistyped path never deletes a user's files. Temporary files and folders are named
`.<target>.<pid>-<random>.tmp|staging|old`, so those left by a killed process can be told
from the user's files and from a live writer's, and removed (`remove_stale`).
Whatever is written gets the permissions the user's umask gives."""
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
# written into every folder staged_dir writes: the files it wrote, so a replacement can tell
# them from files a user added later (hidden, so photo listings skip it)
MANIFEST = ".facegan-written.json"
MANIFEST_FORMAT = "facegan-written/1"
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
    file must hold a JSON object with those values (a callable value is a test of the value).
    `lists` names the key of that object whose entries (a dict's keys or a list) are more
    files of the folder, relative to it, that the project added in place after writing it
    (a bundle's card lists the detector and encoder files), so a replacement counts them as
    ours."""

    def __init__(self, filename: str, what: str, *, lists: str | None = None, **values: Any):
        self.filename, self.what, self.lists, self.values = filename, what, lists, values

    def _read(self, folder: Path) -> Any:
        try:
            return json.loads((Path(folder) / self.filename).read_text())
        except (OSError, ValueError):
            return None

    def __call__(self, folder: Path) -> bool:
        if not self.values:
            return (Path(folder) / self.filename).is_file()
        d = self._read(folder)
        return isinstance(d, dict) and all(v(d.get(k)) if callable(v) else d.get(k) == v
                                           for k, v in self.values.items())

    def listed(self, folder: Path) -> set[str]:
        """The files the marker file lists as the folder's (by `lists`), relative to it."""
        d = self._read(folder) if self.lists else None
        entries = d.get(self.lists) if isinstance(d, dict) else None
        return {e for e in entries if isinstance(e, str)} if isinstance(entries, (dict, list)) else set()


def _facegan_format(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("facegan-")


# what every staged_dir caller but bundles writes: evaluation/, detection/report/, attributes/;
# each writes its own "format" (facegan-evaluation/1, ...), so a user's report.json is not one
REPORT = Marker("report.json", "a report folder (with a FaceGAN report.json)", format=_facegan_format)


def _read_manifest(folder: Path) -> set[str]:
    """The files `folder`'s manifest lists; none when it cannot be read (then nothing in the
    folder counts as ours: refusing is the safe side)."""
    try:
        d = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return set()
    files = d.get("files") if isinstance(d, dict) else None
    return {f for f in files if isinstance(f, str)} if isinstance(files, list) else set()


def _files_under(folder: Path) -> list[str]:
    """Every file under `folder` (links not followed), relative POSIX paths, sorted."""
    out = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        out += [(rel / n).as_posix() for n in files]
        out += [(rel / n).as_posix() for n in dirs if os.path.islink(os.path.join(root, n))]
    return sorted(out)


def _write_manifest(folder: Path) -> None:
    """Record in `folder` (a staging folder about to be renamed into place) every file in it."""
    files = [f for f in _files_under(folder) if f != MANIFEST]
    path = folder / MANIFEST
    path.write_text(json.dumps({"format": MANIFEST_FORMAT, "files": files}, indent=0) + "\n")
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _not_ours(folder: Path, listed: set[str], base: Path, top: Path) -> list[str]:
    """Files under `folder` that no manifest lists: `listed` is what the manifest of `base` (the
    nearest folder above with one) names, relative to `base`; a subfolder with a manifest of its
    own (a report written into a bundle later) is judged by that one. Paths relative to `top`.
    Temporaries of a writer (`remove_stale` takes them) count as ours."""
    out = []
    for p in sorted(folder.iterdir()):
        if _TEMP_RE.match(p.name) or (folder == base and p.name == MANIFEST):
            continue
        if p.is_dir() and not p.is_symlink():
            if (p / MANIFEST).is_file():
                out += _not_ours(p, _read_manifest(p), p, top)
            else:
                out += _not_ours(p, listed, base, top)
        elif p.relative_to(base).as_posix() not in listed:
            out.append(p.relative_to(top).as_posix())
    return out


def _shown(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def check_replaceable(final: str | Path, replaces: Recognise = REPORT) -> None:
    """Raise ReplaceRefused unless writing the folder `final` may go ahead: nothing is there,
    an empty folder, or a folder `replaces` recognises (an older one of the same kind) whose
    every file its manifest lists (or a subfolder's own manifest, or the marker file's `lists`),
    so a file the user added is never deleted with it. A folder written before manifests (the
    bundles shipped in models/, say) has none and is recognised by its marker alone, as then.
    Call it before long work too, so a bad target is refused before hours of it."""
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
    if not entries:
        return
    if not replaces(final):
        what = getattr(replaces, "what", "what this write replaces")
        held = "1 entry" if len(entries) == 1 else f"{len(entries)} entries"
        raise ReplaceRefused(f"{final} is not {what} but holds {held} ({_shown(entries)}); it would "
                             "be replaced as a whole, so nothing was written. Give a new or empty "
                             "folder, or move those files away.")
    if not (final / MANIFEST).is_file():
        return                                   # written before manifests: the marker decides
    listed = getattr(replaces, "listed", None)
    ours = _read_manifest(final) | (set(listed(final)) if listed else set())
    foreign = _not_ours(final, ours, final, final)
    if foreign:
        raise ReplaceRefused(f"{final} holds files this project did not write: {_shown(foreign)}; "
                             "move them away or give a new folder. Nothing was written.")


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
        _write_manifest(staging)
        atomic_replace_dir(staging, final, replaces)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def paths_overlap(a: str | Path, b: str | Path) -> bool:
    """Whether two paths are one folder or one lies inside the other (links resolved): a
    command that reads one and writes the other would read its own output next time."""
    ra, rb = os.path.realpath(a), os.path.realpath(b)
    return ra == rb or any(x.startswith(y.rstrip(os.sep) + os.sep) for x, y in ((ra, rb), (rb, ra)))


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
