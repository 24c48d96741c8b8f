"""`python -m gan.data groups`: labelled folders -> one source labelled by ethnicity, gender and
age group, which the loader reads as three one-hot groups; a 0/1 column must say which value is
which; byte-identical copies are kept once; bad input is one `error:` line and writes nothing.

Fixtures: a UTKFace-named folder and an All-Age-Faces-like folder (labels.csv file,age,gender
with 0 = female, 1 = male and no ethnicity), of drawn faces."""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from gan.data import load_faces
from gan.data.__main__ import main
from gan.data.groups import GroupsError, write_groups
from gan.data.sources import age_band, age_band_names

UTK = ["3_1_0_20170109142408075.jpg.chip.jpg",      # 3, female, white
       "25_0_2_20170116174525125.jpg.chip.jpg",     # 25, male, asian
       "45_0_1_20170116174525126.jpg.chip.jpg",     # 45, male, black
       "70_1_3_20170116174525127.jpg.chip.jpg",     # 70, female, indian
       "61_1_20170109142408075.jpg.chip.jpg"]       # no race: left out


@pytest.fixture
def folders(tmp_path, write_faces):
    utk = tmp_path / "utkface"
    write_faces(utk, len(UTK), names=UTK)
    aaf = tmp_path / "aaf"
    write_faces(aaf, 4, names=[f"{i:05d}A{a:02d}.jpg" for i, a in enumerate((2, 12, 33, 33))], seed=10)
    shutil.copy(aaf / "00002A33.jpg", aaf / "00009A40.jpg")     # byte-identical, other age
    rows = [("00000A02.jpg", 2, 0), ("00001A12.jpg", 12, 1), ("00002A33.jpg", 33, 0),
            ("00003A33.jpg", 33, 1), ("00009A40.jpg", 40, 0)]
    with open(aaf / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "age", "gender"])
        w.writerows(rows)
    return utk, aaf


AAF_SETS = ["aaf.ethnicity=asian", "aaf.gender=0:female,1:male"]


def test_age_bands():
    assert age_band_names() == ["0-9", "10-29", "30-49", "50+"]
    assert [age_band(a) for a in (0, 9, 9.9, 10, 29, 30, 49, 50, 101)] == [
        "0-9", "0-9", "0-9", "10-29", "10-29", "30-49", "30-49", "50+", "50+"]
    assert age_band_names((18, 65)) == ["0-17", "18-64", "65+"]
    with pytest.raises(ValueError):
        age_band_names((30, 10))


def test_groups_folder_is_a_labelled_source_of_three_groups(folders, tmp_path):
    utk, aaf = folders
    out = tmp_path / "groups"
    report = write_groups([utk, aaf], out, AAF_SETS)
    rows = list(csv.DictReader(open(out / "labels.csv")))
    got = {r["image"]: (r["ethnicity"], r["gender"], r["age_group"]) for r in rows}
    assert got == {
        f"utkface/{UTK[0]}": ("white", "female", "0-9"),
        f"utkface/{UTK[1]}": ("asian", "male", "10-29"),
        f"utkface/{UTK[2]}": ("black", "male", "30-49"),
        f"utkface/{UTK[3]}": ("indian", "female", "50+"),
        "aaf/00000A02.jpg": ("asian", "female", "0-9"),
        "aaf/00001A12.jpg": ("asian", "male", "10-29"),
        "aaf/00002A33.jpg": ("asian", "female", "30-49"),
        "aaf/00003A33.jpg": ("asian", "male", "30-49"),
    }
    assert report["left_out"] == {"lacking_a_label": 1, "byte_identical": 1,
                                  "byte_identical_with_other_labels": 0}
    assert report["byte_identical"][0]["same_bytes_as"] == "aaf/00002A33.jpg"
    assert report["counts"]["ethnicity"] == {"white": 1, "black": 1, "asian": 5, "indian": 1}
    assert report["counts"]["age_group"] == {"0-9": 2, "10-29": 2, "30-49": 3, "50+": 1}
    assert report["ethnicity_by_age_group"]["asian"] == {"0-9": 1, "10-29": 2, "30-49": 2, "50+": 0}
    assert (out / "aaf" / "00000A02.jpg").is_symlink()

    data = load_faces(out, size=32, crop="center", labels="ethnicity,gender,age_group",
                      n_jobs=1, cache_dir=False, progress=False)
    assert len(data) == 8 and data.label_kind == ["onehot"] * 10
    assert data.label_names[:4] == ["ethnicity=asian", "ethnicity=black", "ethnicity=indian",
                                    "ethnicity=white"]
    assert data.label_info["age_group"]["categories"] == ["0-9", "10-29", "30-49", "50+"]
    assert np.all(data.labels.sum(axis=1) == 3)          # one group of each label per photo

    write_groups([utk, aaf], out, AAF_SETS, age_edges=(18,))   # an older groups folder: replaced
    assert {r["age_group"] for r in csv.DictReader(open(out / "labels.csv"))} == {"0-17", "18+"}


def test_a_0_1_column_must_say_which_is_which_and_bad_input_writes_nothing(folders, tmp_path, capsys):
    utk, aaf = folders
    out = tmp_path / "groups"
    with pytest.raises(GroupsError, match="0/1.*aaf.gender=0:VALUE,1:VALUE"):
        write_groups([utk, aaf], out, ["aaf.ethnicity=asian"])
    with pytest.raises(GroupsError, match="nothing gives ethnicity"):
        write_groups([aaf], out, ["aaf.gender=0:female,1:male"])
    with pytest.raises(GroupsError, match="no folder named 'afa'"):
        write_groups([aaf], out, ["afa.ethnicity=asian"])
    assert not out.exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["groups", str(utk), "--out", str(mine)]) == 2
    assert "error:" in capsys.readouterr().err and (mine / "notes.txt").read_text() == "keep me"
    assert main(["groups", str(utk), str(aaf), "--out", str(out), "--set", AAF_SETS[0],
                 "--set", AAF_SETS[1], "--age-edges", "10,x"]) == 2
    assert "--age-edges" in capsys.readouterr().err and not out.exists()
    assert main(["groups", str(utk), str(aaf), "--out", str(out), "--set", AAF_SETS[0],
                 "--set", AAF_SETS[1]]) == 0
    printed = capsys.readouterr().out
    assert "kept     8 photos" in printed and "asian 5" in printed
    assert json.loads((out / "groups_report.json").read_text())["photos"] == 8


def test_ctrl_c_and_an_unreadable_file_end_in_one_line_not_a_traceback(folders, tmp_path, capsys,
                                                                      monkeypatch):
    from gan.data import groups

    utk, _ = folders
    out = tmp_path / "groups"
    for raised, status, words in ((KeyboardInterrupt(), 130, "interrupted; nothing was written"),
                                  (PermissionError(13, "Permission denied", str(utk / "a.jpg")), 2,
                                   f"error: {utk / 'a.jpg'}: Permission denied")):
        def stopped(*a, _e=raised, **k):
            raise _e
        monkeypatch.setattr(groups, "write_groups", stopped)
        assert main(["groups", str(utk), "--out", str(out)]) == status
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err and not out.exists()
