"""`python -m gan.data dedup` finds a copied photo, and gan.data.dedup stays a leaf module
(the loader imports it, never the other way round)."""
from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan.data.__main__ import main
from tests.factories import write_photo_folder

REPO = Path(__file__).resolve().parent.parent


def test_dedup_command_lists_a_copied_photo(tmp_path, capsys):
    photos = write_photo_folder(tmp_path / "photos", n=6)
    shutil.copy(photos / "img_002.jpg", photos / "copy_of_2.jpg")
    out = tmp_path / "pairs.json"
    assert main(["dedup", str(photos), "--crop", "center", "--size", "64", "--n-jobs", "1",
                 "--json", str(out), "--sheet", str(tmp_path / "sheet.png")]) == 0
    assert "near-duplicate pairs" in capsys.readouterr().out
    pairs = json.loads(out.read_text())
    assert any({p["a"].split("::")[1], p["b"].split("::")[1]} == {"img_002.jpg", "copy_of_2.jpg"}
               for p in pairs)
    assert (tmp_path / "sheet.png").stat().st_size > 0


def test_dedup_imports_nothing_of_gan():
    tree = ast.parse((REPO / "gan" / "data" / "dedup.py").read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m.startswith(("gan", "dataset", ".")) or m == ""]


def _run(argv) -> int:
    """The exit status, whether main returns it or argparse exits with it."""
    try:
        return main([str(a) for a in argv])
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize("option, said", [
    (["--size", "0"], "--size must be a power of two"),
    (["--crop", "bogus"], "invalid choice: 'bogus'"),
    (["--sheet-pairs", "0"], "--sheet-pairs must be 1 or more, not 0"),
    (["--sheet-pairs", "-1"], "--sheet-pairs must be 1 or more, not -1"),
    (["--json", "{folder}"], "is a folder: give the name of a file"),
    (["--sheet", "{folder}"], "is a folder: give the name of a file"),
    (["--json", "{file}/pairs.json"], "is a file, not a folder"),
    (["--sheet", "{folder}/pairs"], "end the name with an image format's extension, e.g. .png"),
    (["{missing}"], "no such file or folder"),
    (["{file}"], "not a folder, a .zip, or a label file"),
])
def test_a_bad_path_or_option_is_one_error_line_before_any_decoding(tmp_path, capsys, monkeypatch,
                                                                    option, said):
    photos = write_photo_folder(tmp_path / "photos", n=4)
    folder = tmp_path / "out"
    folder.mkdir()
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    decoded = []
    monkeypatch.setattr("gan.data.__main__.load_faces", lambda *a, **k: decoded.append(a))
    fill = {"folder": folder, "file": notes, "missing": tmp_path / "nowhere"}
    argv = ["dedup", photos, *[o.format(**fill) for o in option]]
    assert _run(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and said in lines[0] and "Traceback" not in err, err
    assert not decoded and not list(folder.iterdir()) and notes.read_text() == "mine"


def test_the_sheet_shows_as_many_pairs_as_asked_and_files_go_into_new_folders(tmp_path, capsys):
    photos = write_photo_folder(tmp_path / "photos", n=6)
    for i in range(3):
        shutil.copy(photos / f"img_00{i}.jpg", photos / f"copy_of_{i}.jpg")
    out = tmp_path / "new" / "folder"
    assert main(["dedup", str(photos), "--crop", "center", "--size", "32", "--n-jobs", "1",
                 "--json", str(out / "pairs.json"), "--sheet", str(out / "sheet.png"),
                 "--sheet-pairs", "2"]) == 0
    assert len(json.loads((out / "pairs.json").read_text())) >= 3
    with Image.open(out / "sheet.png") as sheet:   # one row of 4 slots, 2 pairs drawn in it
        assert sheet.size == (4 * (2 * 32 + 12), 32 + 4)
        slots = np.split(np.asarray(sheet), 4, axis=1)
    assert [bool((slot != 255).any()) for slot in slots] == [True, True, False, False]
