"""`python -m gan.data PATH` (what a source holds) and `python -m gan.data speed`: a mistake in the
path or an option is one `error:` line and exit status 2, said before any photo is decoded, and
nothing is written."""
from __future__ import annotations

import json
import os
import zipfile

import pytest

from gan.data.__main__ import main
from tests.factories import write_photo_folder

FAST = ["--crop", "center", "--n-jobs", "1", "--no-cache"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_photo_folder(tmp_path_factory.mktemp("photos"), n=4)


def _run(argv) -> int:
    """The exit status, whether main returns it or argparse exits with it."""
    try:
        return main([str(a) for a in argv])
    except SystemExit as e:
        return e.code


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_source_is_summed_up_and_its_report_written(photos, tmp_path, capsys):
    report = tmp_path / "new" / "report.json"
    assert _run([photos, "--size", "32", *FAST, "--report", report]) == 0
    assert "4 found, 4 loaded" in capsys.readouterr().out
    assert json.loads(report.read_text())["counts"]["loaded"] == 4


@pytest.mark.parametrize("size", [0, -1, 7, 100, 2048])
@pytest.mark.parametrize("command", ["inspect", "dedup", "merge", "speed"])
def test_a_size_training_cannot_use_is_refused(photos, tmp_path, capsys, command, size):
    """--size as train.py takes --resolution (a power of two from 16 to 1024): --size 100000
    was taken, and grew to 15 GB before the kernel killed it."""
    out = tmp_path / "out"
    argv = {"inspect": [photos, *FAST],
            "dedup": ["dedup", photos, *FAST[:4]],
            "merge": ["merge", photos, "--out", out, "--no-predict", *FAST],
            "speed": ["speed", "--images", "4", "--batch", "2", "--steps", "1"]}[command]
    assert _run([*argv, "--size", size]) == 2
    assert f"--size must be a power of two from 16 to 1024 (as train.py's --resolution), " \
           f"not {size}" in _error_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize("case, said", [
    ("missing", "no such file or folder"),
    ("a file", "not a folder, a .zip, or a label file"),
    ("a pipe", "it is a named pipe"),
    ("a cut zip", "a damaged .zip"),
    ("--labels foo", "label 'foo' not in"),
    ("--report a folder", "is a folder: give the name of a file"),
    ("--report in a file", "is a file, not a folder"),
])
def test_a_bad_path_or_option_is_one_error_line(photos, tmp_path, capsys, case, said):
    notes = tmp_path / "notes.txt"
    notes.write_text("not photos")
    folder = tmp_path / "reports"
    folder.mkdir()
    path, more = photos, []
    if case == "missing":
        path = tmp_path / "nowhere"
    elif case == "a file":
        path = notes
    elif case == "a pipe":
        path = tmp_path / "faces.jpg"
        os.mkfifo(path)
    elif case == "a cut zip":
        path = tmp_path / "faces.zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.write(photos / "img_000.jpg", "img_000.jpg")
        path.write_bytes(path.read_bytes()[:-30])
    elif case == "--labels foo":
        more = ["--labels", "foo"]
    elif case == "--report a folder":
        more = ["--report", folder]
    else:
        more = ["--report", notes / "report.json"]
    assert _run([path, *FAST, *more]) == 2
    assert said in _error_line(capsys)
    assert not list(folder.iterdir()) and notes.read_text() == "not photos"


def test_a_source_without_photos_is_an_error_as_in_training(tmp_path, capsys):
    """train.py stops on a source without a usable photo; the check before it says so too,
    after its summary and report."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    report = tmp_path / "report.json"
    assert _run([empty, *FAST, "--report", report]) == 2
    out, err = capsys.readouterr()
    assert "0 found" in out and err.startswith("error: no photos found in ") and ".txt" in err
    assert json.loads(report.read_text())["counts"]["found"] == 0

    broken = tmp_path / "broken"
    broken.mkdir()
    for i in range(3):
        (broken / f"{i}.jpg").write_bytes(b"not a photo")
    assert _run([broken, *FAST]) == 2
    assert "error: none of the 3 photos in " in capsys.readouterr().err


@pytest.mark.parametrize("option, said", [
    (["--images", "0"], "--images must be 1 or more, not 0"),
    (["--images", "-1"], "--images must be 1 or more, not -1"),
    (["--batch", "0"], "--batch must be from 1 to 65536 (as train.py's --batch-size), not 0"),
    (["--steps", "0"], "--steps must be 1 or more, not 0"),       # was a ZeroDivisionError
    (["--steps", "-1"], "--steps must be 1 or more, not -1"),     # printed negative img/s
])
def test_speed_refuses_counts_that_measure_nothing(capsys, option, said):
    assert _run(["speed", "--images", "8", "--size", "16", "--batch", "2", "--steps", "1",
                 *option]) == 2
    assert _error_line(capsys) == "error: " + said


@pytest.mark.slow  # loads TensorFlow: about 9 s on 2 busy cores
def test_speed_measures_both_flips(capsys):
    assert _run(["speed", "--images", "8", "--size", "16", "--batch", "2", "--steps", "2"]) == 0
    rates = [float(line.split()[1]) for line in capsys.readouterr().out.splitlines()
             if "img/s" in line]
    assert len(rates) == 2 and min(rates) > 0


def test_speed_refuses_a_run_the_memory_cannot_hold(capsys, monkeypatch):
    """The defaults at --size 1024 need about 50 GB: refused, not left to the kernel's killer."""
    from gan.data import __main__ as cli

    assert cli._available_memory() > 0          # read from this machine
    monkeypatch.setattr(cli, "_available_memory", lambda: 16 * 10**9)
    assert cli._speed_memory_problem(4000, 128, 64) is None           # the defaults fit
    assert "need about 52.7 GB of memory, more than the 16.0 GB available now" in \
        cli._speed_memory_problem(4000, 1024, 64)
    monkeypatch.setattr(cli, "_available_memory", lambda: 10**6)
    assert _run(["speed", "--images", "4000", "--size", "16", "--batch", "2", "--steps", "1"]) == 2
    assert _error_line(capsys).startswith("error: --images 4000 and --batch 2 at --size 16 need ")
