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
