"""`python -m gan.data reframe`: photos cut tightly around their faces (framed like UTKFace's),
their labels kept, bad files left out and counted, and no folder but an older reframed one
replaced."""
from __future__ import annotations

import csv
import json
import os

import pytest

from gan.data import reframe as reframe_module
from gan.data.__main__ import main
from gan.data.preprocess import detect_face, open_image, prepare_image
from tests.factories import draw_face

def _source(tmp_path):
    """Head-and-shoulders photos (the face a third of the frame, off centre), one photo without
    a face, one file that is not an image and a pipe; labels.csv names all six."""
    src = tmp_path / "aaf"
    src.mkdir()
    for i, (w, h, c) in enumerate([(300, 300, (150, 140)), (360, 280, (200, 150)), (280, 340, (130, 190))]):
        draw_face(w, h, seed=i, center=c, face_width=0.33 * min(w, h)).save(src / f"{i:05d}A{20 + i}.jpg", quality=95)
    draw_face(300, 300, seed=5, face=False).save(src / "00003A40.jpg", quality=95)
    (src / "00004A50.jpg").write_bytes(b"not a photo")
    os.mkfifo(src / "00005A60.jpg")       # a pipe named like a photo: counted, never waited on
    names = ["00000A20.jpg", "00001A21.jpg", "00002A22.jpg", "00003A40.jpg", "00004A50.jpg",
             "00005A60.jpg"]
    with open(src / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "age", "gender"])
        w.writerows([name, 20 + i, i % 2] for i, name in enumerate(names))
    return src


def test_each_face_fills_its_reframed_photo_and_the_labels_come_along(tmp_path, capsys):
    src = _source(tmp_path)
    out = tmp_path / "aaf-tight"
    assert main(["reframe", str(src), "--out", str(out), "--fill", "1.0"]) == 0
    said = capsys.readouterr().out
    assert "wrote    3 of 6 photos" in said and "1 no face found" in said and "1 not an image" in said

    written = sorted(p.name for p in out.glob("*.jpg"))
    assert written == ["00000A20.jpg", "00001A21.jpg", "00002A22.jpg"]
    for name in written:
        before = open_image(src / name)
        x, y, fw, fh = detect_face(before)
        after = open_image(out / name)
        assert after.size[0] == after.size[1] == round(fw / 1.0)     # the face box's width
        # Cut around the face: the face crop training takes of it is the whole photo.
        assert prepare_image(str(out / name), size=64).box == (0, 0, *after.size)
        # Before, the face crop was a part of a larger photo: the framing did change.
        left, _, right, _ = prepare_image(str(src / name), size=64).box
        assert right - left > 1.5 * after.size[0]

    rows = list(csv.reader((out / "labels.csv").read_text().splitlines()))
    assert rows[0] == ["file", "age", "gender"]
    assert [r[0] for r in rows[1:]] == written
    report = json.loads((out / "reframe_report.json").read_text())
    assert report["written"] == 3 and report["photos"] == 6
    assert report["left_out"] == {"no face found": 1, "not an image": 1, "not a regular file": 1}

    # The groups command reads the reframed folder as it would the original.
    groups = tmp_path / "groups"
    assert main(["groups", str(out), "--out", str(groups), "--set", "aaf-tight.ethnicity=asian",
                 "--set", "aaf-tight.gender=0:female,1:male"]) == 0
    labelled = list(csv.DictReader((groups / "labels.csv").open()))
    assert len(labelled) == 3 and {r["ethnicity"] for r in labelled} == {"asian"}


def test_labels_given_apart_from_the_photos_come_along_too(tmp_path):
    src = _source(tmp_path)
    (src / "labels.csv").rename(tmp_path / "aaf-labels.csv")
    out = tmp_path / "tight"
    assert main(["reframe", str(src), "--out", str(out), "--labels", str(tmp_path / "aaf-labels.csv")]) == 0
    assert len((out / "labels.csv").read_text().splitlines()) == 1 + 3


def test_bad_targets_and_options_are_refused_and_nothing_is_touched(tmp_path, capsys):
    src = _source(tmp_path)
    before = sorted(p.name for p in src.iterdir())
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    for args, said in [
        (["--out", str(src)], "outside"),
        (["--out", str(src / "inside")], "outside"),
        (["--out", str(foreign)], "not a reframed folder"),
        (["--out", str(tmp_path / "x"), "--fill", "3"], "between 0.5 and 1.5"),
        (["--out", str(tmp_path / "x"), "--labels", str(tmp_path / "missing.csv")], "no such file"),
    ]:
        assert main(["reframe", str(src), *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and said in err and "Traceback" not in err
    assert sorted(p.name for p in src.iterdir()) == before
    assert (foreign / "notes.txt").read_text() == "keep me" and len(list(foreign.iterdir())) == 1
    assert not (tmp_path / "x").exists()
    assert main(["reframe", str(tmp_path / "nowhere"), "--out", str(tmp_path / "y")]) == 2
    assert "not a folder of photos" in capsys.readouterr().err


def test_an_older_reframed_folder_is_replaced_whole(tmp_path):
    src = _source(tmp_path)
    out = tmp_path / "tight"
    assert main(["reframe", str(src), "--out", str(out)]) == 0
    (src / "00001A21.jpg").unlink()
    assert main(["reframe", str(src), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.jpg")) == ["00000A20.jpg", "00002A22.jpg"]


def test_a_photo_keeps_its_format_under_its_name(tmp_path):
    """Labels name the files, so a PNG, WebP or BMP photo is written as one, not as JPEG."""
    from PIL import Image

    src = tmp_path / "mixed"
    src.mkdir()
    for i, ext in enumerate([".png", ".webp", ".bmp", ".jpeg"]):
        draw_face(240, 240, seed=i, center=(120, 110), face_width=80).save(src / f"p{i}{ext}")
    out = tmp_path / "tight"
    assert main(["reframe", str(src), "--out", str(out)]) == 0
    formats = {p.name: Image.open(p).format for p in out.iterdir() if p.suffix != ".json"}
    assert formats == {"p0.png": "PNG", "p1.webp": "WEBP", "p2.bmp": "BMP", "p3.jpeg": "JPEG"}


@pytest.mark.parametrize("where", ["--labels", "labels.csv in the folder"])
@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", b"file,age\0\0\0\n"])
def test_labels_that_are_not_a_csv_are_refused_by_name_before_any_photo(tmp_path, capsys,
                                                                        monkeypatch, where, content):
    """A binary labels file failed only after every photo was cut, without naming the file."""
    src = _source(tmp_path)
    bad = tmp_path / "labels.bin" if where == "--labels" else src / "labels.csv"
    bad.write_bytes(content)
    cut = []
    monkeypatch.setattr(reframe_module, "_cut", lambda *a: cut.append(a) or (None, "x"))
    more = ["--labels", str(bad)] if where == "--labels" else []
    out = tmp_path / "tight"
    assert main(["reframe", str(src), "--out", str(out), *more]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: labels {bad}: not a CSV text file") and "Traceback" not in err
    assert not cut and not out.exists()
