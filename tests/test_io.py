"""Report folders and bundles are replaced whole: an error while writing leaves the old folder
as it was and no staging litter (what a user sees after a crashed `gan.evaluate` run); only an
older folder of the same kind is ever replaced, never a user's files; temporaries a killed
writer left are cleared."""
from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys

import pytest

from gan.io import (MANIFEST, REPORT, Marker, ReplaceRefused, atomic_file, atomic_write_text,
                    check_replaceable, remove_stale, staged_dir, write_files)

OLD_REPORT = b'{"format": "facegan-evaluation/1"}'


def test_staged_dir_replaces_the_folder_on_success(tmp_path):
    out = tmp_path / "evaluation"
    write_files(out, {"report.json": OLD_REPORT, "old_figure.png": b"x"})
    with staged_dir(out) as tmp:
        write_files(tmp, {"report.json": b"new", "figs/swd.png": b"y"})
    assert (out / "report.json").read_bytes() == b"new"
    assert (out / "figs" / "swd.png").read_bytes() == b"y"
    assert not (out / "old_figure.png").exists()        # never new figures beside old ones
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evaluation"]


def test_staged_dir_keeps_the_old_folder_when_writing_fails(tmp_path):
    out = tmp_path / "evaluation"
    write_files(out, {"report.json": OLD_REPORT})
    with pytest.raises(RuntimeError):
        with staged_dir(out) as tmp:
            write_files(tmp, {"report.json": b"half"})
            raise RuntimeError("figure failed")
    assert (out / "report.json").read_bytes() == OLD_REPORT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evaluation"]


BUNDLE = Marker("model.json", "a FaceGAN bundle", format="facegan-bundle")


def _dead_pid() -> int:
    """The id of a process that has ended (its temporary files are leftovers)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("files, replaces", [
    ({"thesis.txt": b"mine"}, BUNDLE),                                   # a user's folder
    ({"default/model.json": b'{"format": "facegan-bundle"}'}, BUNDLE),    # models/, not a bundle
    ({"checkpoint.npz": b"x", "log.jsonl": b""}, BUNDLE),                 # another run
    ({"report.json": b"{}", "figure.png": b"x"}, BUNDLE),                 # a report is no bundle
    ({"model.json": b'{"format": "other"}'}, BUNDLE),                     # someone else's card
    ({"notes.txt": b"mine"}, REPORT),                                     # evaluate --out wrong
    ({"holiday.jpg": b"x", "report.json": b'{"trip": "Rome"}'}, REPORT),  # a user's report.json
])
def test_staged_dir_refuses_to_replace_what_it_does_not_recognise(tmp_path, files, replaces):
    """`train.py --export DIR` and report writers replace only an older folder of their own
    kind; anything else stays as it was, and the message says what is there."""
    out = tmp_path / "target"
    write_files(out, files)
    with pytest.raises(ReplaceRefused, match=sorted(files)[0].split("/")[0]) as e:
        with staged_dir(out, replaces) as tmp:
            write_files(tmp, {"model.json": b'{"format": "facegan-bundle"}'})
    assert isinstance(e.value, ValueError) and str(out) in str(e.value)
    assert {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()} == files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]


@pytest.mark.parametrize("existing", ["missing", "empty", "older bundle"])
def test_staged_dir_writes_a_new_empty_or_older_bundle_folder(tmp_path, existing):
    out = tmp_path / "models" / "mine"
    if existing == "empty":
        out.mkdir(parents=True)
    elif existing == "older bundle":
        write_files(out, {"model.json": b'{"format": "facegan-bundle"}', "old.png": b"x"})
    with staged_dir(out, BUNDLE) as tmp:
        write_files(tmp, {"model.json": b'{"format": "facegan-bundle", "new": 1}'})
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "model.json"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["mine"]


def _report(folder, **files):
    """A report folder written by staged_dir, as gan.evaluate writes one."""
    with staged_dir(folder) as tmp:
        write_files(tmp, {"report.json": OLD_REPORT, "swd.png": b"x", "figs/pairs.jpg": b"y",
                          **files})
    return folder


@pytest.mark.parametrize("added", [["holiday.jpg"], ["notes.txt", "figs/mine.png"],
                                   [f"photo{i}.jpg" for i in range(7)]])
def test_a_folder_we_wrote_is_not_replaced_once_the_user_added_files(tmp_path, added):
    """`gan.evaluate --out DIR` on an older report of its own, to which the user added photos or
    notes: replacing it whole would delete them, so nothing is written and the message names
    them (five at most)."""
    out = _report(tmp_path / "report")
    for name in added:
        write_files(out, {name: b"mine"})
    before = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(ReplaceRefused, match="did not write: ") as e:
        with staged_dir(out) as tmp:
            write_files(tmp, {"report.json": b"new"})
    said = str(e.value)
    assert all(name in said for name in sorted(added)[:5]) and "Nothing was written" in said
    assert ("and 2 more" in said) == (len(added) == 7)
    assert {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_a_bundle_with_reports_written_into_it_later_stays_replaceable(tmp_path):
    """A bundle gets evaluation/, detection/report/, audit-groups/G/ written later (each with
    its own manifest) and detector files its card lists: all ours. One file of the user's
    anywhere in it stops the export."""
    from gan.bundle import BUNDLE as CARD_LISTS_FILES

    out = tmp_path / "mine"
    card = b'{"format": "facegan-bundle", "files": {"generator.keras": {}, "detection/f.npz": {}}}'
    with staged_dir(out, CARD_LISTS_FILES) as tmp:
        write_files(tmp, {"model.json": card, "generator.keras": b"g", "examples/real/0.png": b"p"})
    _report(out / "evaluation")
    _report(out / "detection" / "report")
    _report(out / "audit-groups" / "gender=male")
    write_files(out, {"detection/f.npz": b"detector, added in place"})
    check_replaceable(out, CARD_LISTS_FILES)
    write_files(out, {"audit-groups/gender=male/sheet copy.jpg": b"mine"})
    with pytest.raises(ReplaceRefused, match=r"audit-groups/gender=male/sheet copy\.jpg"):
        check_replaceable(out, CARD_LISTS_FILES)


def test_a_folder_written_before_manifests_is_recognised_by_its_marker(tmp_path):
    """Bundles and reports written before the manifest (the shipped models/) stay replaceable
    by their tools."""
    out = tmp_path / "old bundle"
    write_files(out, {"model.json": b'{"format": "facegan-bundle"}', "generator.keras": b"g",
                      "evaluation/report.json": OLD_REPORT, "evaluation/swd.png": b"x"})
    check_replaceable(out, BUNDLE)
    check_replaceable(out / "evaluation")
    with staged_dir(out, BUNDLE) as tmp:
        write_files(tmp, {"model.json": b'{"format": "facegan-bundle"}'})
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "model.json"]


@pytest.mark.parametrize("make", [lambda p: p.write_text("a file"),
                                  lambda p: p.symlink_to(p.parent / "elsewhere")])
def test_staged_dir_refuses_a_file_or_link_in_place_of_the_folder(tmp_path, make):
    out = tmp_path / "bundle"
    (tmp_path / "elsewhere").mkdir()
    make(out)
    with pytest.raises(ReplaceRefused, match="nothing was written|Nothing was written"):
        with staged_dir(out, BUNDLE) as tmp:
            write_files(tmp, {"model.json": b"{}"})
    assert out.is_symlink() or out.read_text() == "a file"


def test_written_folders_and_files_get_the_umask_permissions(tmp_path):
    """An exported bundle is readable like any folder the user makes (not mkdtemp's 0700)."""
    old = os.umask(0o022)
    try:
        with staged_dir(tmp_path / "bundle", BUNDLE) as tmp:
            write_files(tmp, {"examples/a.png": b"x"})
            atomic_write_text(tmp / "model.json", "{}")
        atomic_write_text(tmp_path / "checkpoint.npz", "x")
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(tmp_path / "bundle") == 0o755
    assert mode(tmp_path / "bundle" / "examples") == 0o755
    assert mode(tmp_path / "bundle" / "model.json") == 0o644
    assert mode(tmp_path / "checkpoint.npz") == 0o644


def test_remove_stale_takes_only_a_dead_writers_temporaries(tmp_path):
    """What `kill -9` during a write leaves is removed; a live writer's temporaries and the
    user's files (however named) stay."""
    dead, alive = _dead_pid(), os.getpid()
    leftovers = [f".checkpoint.npz.{dead}-0123abcd.tmp", ".checkpoint.npz.k2j4_x9q.tmp",
                 f".bundle.{dead}-0123abcd.staging", f".bundle.{dead}-89abcdef.old"]
    kept = [f".checkpoint.npz.{alive}-0123abcd.tmp", "notes.tmp", ".notes.tmp", "a.staging",
            "checkpoint.npz", ".checkpoint.npz.toolongname.tmp"]
    for name in leftovers + kept:
        if name.endswith((".staging", ".old")):
            write_files(tmp_path / name, {"generator.keras": b"x"})
        else:
            (tmp_path / name).write_text("x")
    removed = remove_stale(tmp_path)
    assert sorted(p.name for p in removed) == sorted(leftovers)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


def test_staged_dir_clears_a_killed_exports_leftovers_of_the_same_folder(tmp_path):
    dead = _dead_pid()
    write_files(tmp_path / f".mine.{dead}-0123abcd.staging", {"generator.keras": b"x"})
    write_files(tmp_path / f".other.{dead}-0123abcd.staging", {"generator.keras": b"x"})
    with staged_dir(tmp_path / "mine", BUNDLE) as tmp:
        write_files(tmp, {"model.json": b"{}"})
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".other.{dead}-0123abcd.staging", "mine"]


def test_a_write_stopped_by_a_full_disk_names_the_file_and_leaves_the_old_one(tmp_path):
    target = tmp_path / "checkpoint.npz"
    target.write_bytes(b"old")
    with pytest.raises(OSError) as e:
        with atomic_file(target) as f:
            f.write(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(target)
    assert target.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["checkpoint.npz"]
