"""`python -m gan.data merge`: several folders -> one labelled source, near-duplicates dropped
before any split, the labelled copy kept, readable by the project's loader; bad input is one
`error:` line and leaves nothing behind.

Fixtures: two folders of drawn faces (tests.factories.draw_face), "lab" with a labels CSV and
"unlab" without, holding an exact and a near (resized, brightened, re-compressed) copy of two
of lab's photos."""
from __future__ import annotations

import ast
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from gan.data import load_faces
from gan.data import merge as merge_mod
from gan.data.__main__ import main
from gan.data.merge import MergeError, merge_sources
from tests.factories import draw_face

REPO = Path(__file__).resolve().parent.parent
FAST = dict(size=64, crop="center", n_jobs=1, cache_dir=False, use_cache=False)
CLI_FAST = ["--size", "64", "--crop", "center", "--n-jobs", "1", "--no-cache"]


def _face(i: int) -> Image.Image:
    """Distinct drawn faces: seed, position, size and skin vary (same-layout faces would be
    near-duplicates of each other)."""
    rng = np.random.default_rng(100 + i)
    return draw_face(96, 96, seed=i, center=(48 + rng.uniform(-12, 12), 48 + rng.uniform(-10, 10)),
                     face_width=rng.uniform(28, 46), skin=tuple(int(v) for v in rng.integers(120, 240, 3)))


def _labels(i: int) -> tuple[int, int]:
    return i % 2, (i // 2) % 2  # male, smiling


@pytest.fixture
def folders(tmp_path):
    """lab/img/f00..f{n-1}.jpg + lab/labels.csv; unlab/p1, unlab/p2 with 7 other faces plus
    an exact copy of lab's f01 and a near copy of lab's f02."""
    def make(n_labelled=12):
        lab, unlab = tmp_path / "lab", tmp_path / "unlab"
        (lab / "img").mkdir(parents=True)
        rows = ["image,male,smiling"]
        for i in range(n_labelled):
            _face(i).save(lab / "img" / f"f{i:02d}.jpg", quality=90)
            rows.append(f"f{i:02d}.jpg,{_labels(i)[0]},{_labels(i)[1]}")
        (lab / "labels.csv").write_text("\n".join(rows) + "\n")
        for k in range(7):
            sub = unlab / ("p1" if k < 4 else "p2")
            sub.mkdir(parents=True, exist_ok=True)
            _face(50 + k).save(sub / f"u{k}.jpg", quality=90)
        shutil.copy(lab / "img" / "f01.jpg", unlab / "p1" / "exact.jpg")
        near = _face(2).resize((88, 88), Image.Resampling.LANCZOS)
        ImageEnhance.Brightness(near).enhance(1.06).save(unlab / "p2" / "near.jpg", quality=70)
        return lab, unlab
    return make


def _csv(path: Path, delimiter=",") -> dict:
    with open(path, newline="") as f:
        return {r["image"]: r for r in csv.DictReader(f, delimiter=delimiter)}


def _leftovers(parent: Path) -> list:
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


def test_duplicates_across_folders_dropped_labelled_copy_kept(folders, tmp_path):
    lab, unlab = folders()
    out = tmp_path / "merged"
    # The unlabelled folder first: the labelled copy must win on labels, not on order.
    r = merge_sources([unlab, lab], out, "male,smiling", predict=False, **FAST)

    assert r["counts"] == {"found": 21, "read": 21, "pairs": 2, "dropped_as_duplicates": 2, "kept": 19,
                           "labels_given": 12, "labels_predicted": 0, "labels_missing": 7}
    assert r["duplicates"]["pairs_by_folders"] == {"within unlab": 0, "within lab": 0,
                                                   "across unlab + lab": 2}
    assert {frozenset((p["a"], p["b"])) for p in r["duplicates"]["pairs"]} == {
        frozenset(("unlab/p1/exact.jpg", "lab/img/f01.jpg")),
        frozenset(("unlab/p2/near.jpg", "lab/img/f02.jpg"))}
    assert r["duplicates"]["threshold"] == 10 and r["duplicates"]["min_correlation"] == 0.95

    files = sorted(str(p.relative_to(out)) for p in out.rglob("*.jpg"))
    assert "lab/img/f01.jpg" in files and "lab/img/f02.jpg" in files
    assert "unlab/p1/exact.jpg" not in files and "unlab/p2/near.jpg" not in files
    assert len(files) == 19
    link = out / "lab" / "img" / "f01.jpg"
    assert link.is_symlink() and Path(os.path.realpath(link)) == (lab / "img" / "f01.jpg").resolve()

    labels = _csv(out / "labels.csv")
    assert len(labels) == 19
    for i in range(12):
        row = labels[f"lab/img/f{i:02d}.jpg"]
        assert (int(row["male"]), int(row["smiling"])) == _labels(i)
    assert labels["unlab/p1/u0.jpg"]["male"] == ""          # --no-predict: blank
    manifest = _csv(out / "manifest.tsv", "\t")
    assert manifest["lab/img/f01.jpg"]["duplicates_dropped"] == "unlab/p1/exact.jpg"
    assert manifest["lab/img/f01.jpg"]["labels"] == "given"
    assert manifest["unlab/p1/u0.jpg"]["labels"] == "none"
    assert json.loads((out / "merge_report.json").read_text())["counts"]["kept"] == 19


def test_output_reads_with_the_loader_and_no_duplicate_survives_a_split(folders, tmp_path):
    lab, unlab = folders()
    out = tmp_path / "merged"
    merge_sources([lab, unlab], out, "male,smiling", predict=False, **FAST)

    labelled = load_faces(out, size=64, crop="center", labels="male,smiling", n_jobs=1, cache_dir=False,
                          progress=False)
    assert labelled.report["source"]["kind"] == "csv"
    assert labelled.label_names == ["male", "smiling"]
    assert len(labelled) == 12                                   # blank labels: left out, as the loader does
    for key, (m, s) in zip(labelled.keys, labelled.labels):
        i = int(key.split("/f")[1][:2])
        assert (int(m), int(s)) == _labels(i)
    everything = load_faces(out, size=64, crop="center", n_jobs=1, cache_dir=False, progress=False,
                            dedup="report")
    assert len(everything) == 19
    assert everything.report["duplicates"]["pairs"] == []        # nothing left to straddle a split
    train, held = everything.split(0.5, seed=0)
    assert not set(train.keys) & set(held.keys)
    assert not {"unlab/p1/exact.jpg", "unlab/p2/near.jpg"} & set(train.keys + held.keys)


@pytest.mark.slow
def test_unlabelled_photos_get_predicted_labels_flagged(folders, tmp_path):
    lab, unlab = folders(n_labelled=20)
    out = tmp_path / "merged"
    from gan.sliders import classifier

    r = merge_sources([lab, unlab], out, "male,smiling", holdout=0.3, epochs=1,
                      classifier=classifier, **FAST)

    clf = r["classifier"]
    assert clf["trained_on"] + clf["held_out"] == 20 and clf["held_out"] >= 2
    assert set(clf["heldout_accuracy"]) == {"male", "smiling"}
    assert all(0.0 <= v <= 1.0 for v in clf["heldout_accuracy"].values())
    assert r["counts"]["labels_predicted"] == 7 and r["counts"]["labels_missing"] == 0

    labels, manifest = _csv(out / "labels.csv"), _csv(out / "manifest.tsv", "\t")
    assert list(next(iter(labels.values()))) == ["image", "male", "smiling"]   # no extra label columns
    for key, row in manifest.items():
        if key.startswith("unlab/"):
            assert row["labels"] == "predicted"
            for n in ("male", "smiling"):
                p = float(row[f"p_{n}"])
                assert 0.0 <= p <= 1.0 and int(labels[key][n]) == int(p >= 0.5)
        else:
            assert row["labels"] == "given" and row["p_male"] == ""
    loaded = load_faces(out, size=64, crop="center", labels="male,smiling", n_jobs=1, cache_dir=False,
                        progress=False)
    assert len(loaded) == 27 and loaded.labels.shape == (27, 2)


def test_cli_prints_the_counts(folders, tmp_path, capsys):
    lab, unlab = folders()
    out = tmp_path / "merged"
    assert main(["merge", str(lab), str(unlab), "--out", str(out), "--labels", "male,smiling",
                 "--no-predict", *CLI_FAST]) == 0
    text = capsys.readouterr().out
    assert "21 photos read" in text and "2 near-duplicate pairs" in text and "across lab + unlab 2" in text
    assert "kept     19" in text
    # Running it again replaces the older merge (and only that).
    assert main(["merge", str(lab), str(unlab), "--out", str(out), "--labels", "male,smiling",
                 "--no-predict", *CLI_FAST]) == 0
    assert _leftovers(tmp_path) == []


def test_hardlinks_share_the_photo_instead_of_copying_it(folders, tmp_path):
    lab, unlab = folders()
    out = tmp_path / "merged"
    merge_sources([lab, unlab], out, "male,smiling", predict=False, link="hardlink", **FAST)
    linked = out / "lab" / "img" / "f03.jpg"
    assert not linked.is_symlink() and linked.stat().st_ino == (lab / "img" / "f03.jpg").stat().st_ino


def _bad_cases(tmp_path, lab, unlab):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no photos here")
    garbled = tmp_path / "garbled"
    shutil.copytree(lab, garbled)
    (garbled / "labels.csv").write_bytes(b"\xff\xfe\x00garbage\x00\x81")
    headless = tmp_path / "headless"
    shutil.copytree(lab, headless)
    (headless / "labels.csv").write_text("f00.jpg,1,0\nf01.jpg,0,1\n")
    nosmile = tmp_path / "nosmile"
    shutil.copytree(lab, nosmile)
    (nosmile / "labels.csv").write_text("image,male\n" + "".join(f"f{i:02d}.jpg,1\n" for i in range(12)))
    return {
        "missing folder": ([str(tmp_path / "nowhere"), str(unlab)], "no such folder"),
        "folder without photos": ([str(lab), str(empty)], "holds no photos"),
        "unreadable labels": ([str(garbled), str(unlab)], "cannot read labels"),
        "labels without a header": ([str(headless), str(unlab)], "first column is 'f00.jpg'"),
        "a label column missing": ([str(nosmile), str(unlab)], "no label 'smiling'"),
        "the same folder twice": ([str(lab), str(lab)], "give each folder once"),
        "no labelled folder": ([str(unlab)], "none of the folders has the labels"),
    }


@pytest.mark.parametrize("case", ["missing folder", "folder without photos", "unreadable labels",
                                  "labels without a header", "a label column missing",
                                  "the same folder twice", "no labelled folder"])
def test_bad_input_is_one_error_line_and_nothing_written(folders, tmp_path, capsys, case):
    lab, unlab = folders()
    argv, says = _bad_cases(tmp_path, lab, unlab)[case]
    out = tmp_path / "out" / "merged"
    (tmp_path / "out").mkdir()
    assert main(["merge", *argv, "--out", str(out), "--labels", "male,smiling", *CLI_FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and says in err[0], err
    assert not out.exists() and os.listdir(tmp_path / "out") == []


def test_an_output_holding_other_files_or_inside_the_repository_is_refused(folders, tmp_path, capsys):
    lab, unlab = folders()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("my file")
    assert main(["merge", str(lab), str(unlab), "--out", str(mine), "--no-predict", *CLI_FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a merged data folder" in err[0]
    assert os.listdir(mine) == ["keep.txt"]
    inside = REPO / "data-merged-test-never-written"
    assert main(["merge", str(lab), "--out", str(inside), "--no-predict", *CLI_FAST]) == 2
    assert "inside the repository" in capsys.readouterr().err and not inside.exists()


def test_a_failure_while_writing_leaves_nothing_half_written(folders, tmp_path, monkeypatch):
    lab, unlab = folders()
    out = tmp_path / "merged"
    merge_sources([lab, unlab], out, "male,smiling", predict=False, **FAST)
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    real_symlink, calls = os.symlink, []

    def failing(src, dst, *a, **k):
        calls.append(dst)
        if len(calls) > 5:
            raise OSError(28, "No space left on device")
        return real_symlink(src, dst, *a, **k)

    monkeypatch.setattr(merge_mod.os, "symlink", failing)
    with pytest.raises(MergeError, match="No space left"):
        merge_sources([lab], out, "male,smiling", predict=False, **FAST)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before   # the older merge, whole
    assert _leftovers(tmp_path) == []


def test_error_is_one_line_without_traceback_from_the_shell(tmp_path):
    r = subprocess.run([sys.executable, "-m", "gan.data", "merge", str(tmp_path / "nowhere"),
                        "--out", str(tmp_path / "merged")], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"error: no such folder: {tmp_path / 'nowhere'}"]


def test_the_library_never_imports_a_command_line_module():
    tree = ast.parse((REPO / "gan" / "data" / "merge.py").read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m.endswith("__main__") or m in ("gan.attributes", "attributes")]


@pytest.mark.parametrize("where", ["inside", "same", "around"])
def test_an_output_overlapping_a_source_folder_is_refused(tmp_path, where):
    """Merging into a folder inside a source (or the source itself, or around it) would read
    its own output next time, or replace the photos: refused before anything is written."""
    src = tmp_path / "photos"
    src.mkdir()
    Image.new("RGB", (64, 64), (120, 90, 60)).save(src / "a.jpg")
    out = {"inside": src / "merged", "same": src, "around": tmp_path}[where]
    with pytest.raises(MergeError, match="overlap"):
        merge_sources([src], out, predict=False)
    assert sorted(p.name for p in src.iterdir()) == ["a.jpg"]
