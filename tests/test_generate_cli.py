"""`python -m gan.generate`: what it does with the user's files and folders. --out is never a
user's file overwritten with faces or a GIF; a mistake is one error line, exit 2, and the
files there are left as they were. Tiny untrained bundles from tests.factories."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gan.generate import main
from gan.images import gif_bytes
from tests.factories import make_tiny_bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    rows = np.array([[0, 0], [1, 0], [1, 1], [0, 1]] * 3, np.float32)
    return make_tiny_bundle(tmp_path_factory.mktemp("bundle") / "b", label_names=["male", "smiling"],
                            label_rows=rows)


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def refused(capsys, argv, *words) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert all(w in err for w in words), err
    return err


# ---- --out: a user's file or folder


def test_faces_into_an_existing_file_are_refused(bundle, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    refused(capsys, ["--model", str(bundle), "--n", "2", "--out", str(notes)], "is a file")
    refused(capsys, ["--model", str(bundle), "--n", "2", "--out", str(notes / "faces")],
            "is a file, not a folder")
    assert contents(tmp_path) == {"notes.txt": b"my notes\n"}


@pytest.mark.parametrize("name, data", [
    ("hol.jpg", b"\xff\xd8\xff\xe0 a holiday photo"),            # not a .gif name
    ("notes2.txt", b"my notes\n"),
    ("old.gif", gif_bytes(np.zeros((2, 8, 8, 3), np.uint8))),  # a GIF, but not a morph of ours
    ("fake.gif", b"not a gif at all"),
], ids=["a photo", "a text file", "another GIF", "not a GIF"])
def test_a_morph_never_overwrites_a_users_file(bundle, tmp_path, capsys, name, data):
    target = tmp_path / name
    target.write_bytes(data)
    refused(capsys, ["--model", str(bundle), "--interpolate", "1", "2", "--frames", "3",
                     "--out", str(target)], str(target))
    assert contents(tmp_path) == {name: data}


def test_a_morph_needs_a_gif_name_and_not_a_folder(bundle, tmp_path, capsys):
    folder = tmp_path / "user3"
    folder.mkdir()
    (folder / "mine.png").write_bytes(b"png")
    refused(capsys, ["--model", str(bundle), "--interpolate", "1", "2", "--out", str(folder)],
            "is a folder")
    refused(capsys, ["--model", str(bundle), "--interpolate", "1", "2", "--out",
                     str(tmp_path / "new.png")], "ending in .gif")
    (tmp_path / "afile").write_text("x")
    refused(capsys, ["--model", str(bundle), "--interpolate", "1", "2", "--out",
                     str(tmp_path / "afile" / "m.gif")], "is a file, not a folder")
    assert contents(tmp_path) == {"afile": b"x", "user3/mine.png": b"png"}


def test_a_morph_of_ours_is_replaced_by_the_same_command(bundle, tmp_path):
    out = tmp_path / "m" / "morph.GIF"
    argv = ["--model", str(bundle), "--interpolate", "1", "2", "--frames", "3", "--out", str(out)]
    assert main(argv) == 0
    first = out.read_bytes()
    assert main([*argv[:-4], "--frames", "4", "--out", str(out)]) == 0
    assert out.read_bytes() != first and sorted(p.name for p in out.parent.iterdir()) == ["morph.GIF"]


# ---- resuming into a folder: faces.json says how its faces were made


def run(bundle, out, *extra, n=4):
    return main(["--model", str(bundle), "--n", str(n), "--out", str(out), "--seed", "3", *extra])


def test_a_users_labels_csv_is_never_overwritten(bundle, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "labels.csv").write_text("image,label\nme.jpg,smiling\n")
    refused(capsys, ["--model", str(bundle), "--n", "2", "--out", str(out)],
            "labels.csv that gan.generate did not write")
    assert contents(out) == {"labels.csv": b"image,label\nme.jpg,smiling\n"}


@pytest.mark.parametrize("other, says", [
    (["--labels", "smiling=0"], "--labels smiling=1 there, smiling=0 here"),
    (["--labels", "smiling=1", "--truncation", "0.5"], "--truncation 1 there, 0.5 here"),
    (["--labels", "smiling=1", "--toward", "male=1:0.5"], "--toward none there, male=1:0.5 here"),
    (["--labels", "smiling=1", "--batch-size", "2"], "--batch-size 64 there, 2 here"),
])
def test_a_resume_with_other_options_is_refused(bundle, tmp_path, capsys, other, says):
    out = tmp_path / "faces"
    assert run(bundle, out, "--labels", "smiling=1") == 0
    before = contents(out)
    capsys.readouterr()
    err = refused(capsys, ["--model", str(bundle), "--n", "4", "--out", str(out), "--seed", "3",
                           *other], says, "labels.csv would no longer describe them")
    assert str(out / "faces.json") in err
    assert contents(out) == before


def test_a_resume_with_the_same_options_keeps_every_faces_row(bundle, tmp_path):
    from gan.bundle import load_bundle
    from gan.sampling import label_matrix

    out = tmp_path / "faces"
    assert run(bundle, out, "--labels", "smiling=1") == 0
    first = {k: v for k, v in contents(out).items() if k.endswith(".png")}
    assert run(bundle, out, "--labels", "smiling=1", n=6) == 0     # --n may grow
    assert run(bundle, out, "--labels", "smiling=1", n=2) == 0     # or shrink: rows are kept
    rows = (out / "labels.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == [f"seed000003_{i:06d}.png" for i in range(6)]
    want = label_matrix(load_bundle(bundle), 6, {"smiling": 1.0}, seed=3)
    assert np.array_equal([[float(v) for v in r.split(",")[1:]] for r in rows], want)
    assert all(contents(out)[k] == v for k, v in first.items())


def test_an_unconditional_resume_with_another_truncation_is_refused(tmp_path, capsys):
    plain = make_tiny_bundle(tmp_path / "plain", seed=1)
    out = tmp_path / "faces"
    assert run(plain, out) == 0
    before = contents(out)
    capsys.readouterr()
    err = refused(capsys, ["--model", str(plain), "--n", "4", "--out", str(out), "--seed", "3",
                           "--truncation", "0.7"], "--truncation 1 there, 0.7 here")
    assert "labels.csv" not in err and contents(out) == before
    other = make_tiny_bundle(tmp_path / "other", seed=2)
    refused(capsys, ["--model", str(other), "--n", "4", "--out", str(out), "--seed", "3"],
            "--model generator")
    assert contents(out) == before


def test_faces_or_a_faces_json_not_written_here_are_refused(bundle, tmp_path, capsys):
    out = tmp_path / "faces"
    assert run(bundle, out) == 0
    for name in ("faces.json", "labels.csv"):            # e.g. faces copied in from elsewhere
        (out / name).unlink()
    before = contents(out)
    capsys.readouterr()
    refused(capsys, ["--model", str(bundle), "--n", "4", "--out", str(out), "--seed", "3"],
            "without the faces.json")
    assert contents(out) == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "faces.json").write_text('{"my": "notes"}')
    refused(capsys, ["--model", str(bundle), "--n", "2", "--out", str(mine)],
            "faces.json was not written by gan.generate")
    assert contents(mine) == {"faces.json": b'{"my": "notes"}'}


# ---- --labels: numbers that are numbers, groups by their names


@pytest.mark.parametrize("option, value", [
    ("--labels", "male=nan"), ("--labels", "smiling=inf"), ("--labels", "male=-inf"),
    ("--toward", "male=nan:0.5"),
])
@pytest.mark.parametrize("mode", [["--n", "2"], ["--interpolate", "1", "2", "--frames", "3"]],
                         ids=["faces", "morph"])
def test_a_label_that_is_not_a_finite_number_is_refused(bundle, tmp_path, capsys, option, value,
                                                        mode):
    out = tmp_path / ("m.gif" if "--interpolate" in mode else "faces")
    refused(capsys, ["--model", str(bundle), *mode, "--out", str(out), f"{option}={value}"],
            option, value)
    assert not out.exists()


@pytest.fixture(scope="module")
def groups_bundle(tmp_path_factory):
    names = ["ethnicity=asian", "ethnicity=white", "age_group=0-9", "age_group=50+", "male"]
    rows = np.array([[1, 0, 1, 0, 0], [0, 1, 0, 1, 1], [0, 1, 1, 0, 0], [1, 0, 0, 1, 1]] * 2,
                    np.float32)
    return make_tiny_bundle(tmp_path_factory.mktemp("groups") / "g", label_names=names,
                            label_rows=rows)


def test_a_group_is_chosen_by_its_name(groups_bundle, tmp_path):
    out = tmp_path / "faces"
    assert main(["--model", str(groups_bundle), "--n", "6", "--out", str(out),
                 "--labels", "ethnicity=white,age_group=50+"]) == 0
    lines = (out / "labels.csv").read_text().splitlines()
    assert lines[0] == "image,ethnicity=asian,ethnicity=white,age_group=0-9,age_group=50+,male"
    rows = np.array([[float(v) for v in line.split(",")[1:]] for line in lines[1:]])
    assert len(rows) == 6 and np.all(rows[:, :4] == [0, 1, 0, 1])
    assert set(rows[:, 4]) <= {1.0}                 # drawn from the photos with those groups
    gif = tmp_path / "m.gif"
    assert main(["--model", str(groups_bundle), "--interpolate", "1", "2", "--frames", "3",
                 "--out", str(gif), "--labels", "ethnicity=asian"]) == 0 and gif.is_file()


def test_an_unknown_group_lists_the_groups(groups_bundle, tmp_path, capsys):
    out = tmp_path / "faces"
    refused(capsys, ["--model", str(groups_bundle), "--n", "2", "--out", str(out),
                     "--labels", "ethnicity=martian"], "ethnicity has the groups asian, white")
    refused(capsys, ["--model", str(groups_bundle), "--n", "2", "--out", str(out),
                     "--labels", "race=white"], "'white' is not a number",
            "ethnicity=asian|white; age_group=0-9|50+")
    assert not out.exists()
