"""What `train.py` does with a mistake or a mishap: bad options and config files, a wrong --out
or --export, a full disk, a killed run's leftovers. Each ends in one `error:` line and a non-zero
exit before any data is read (or, for a full disk, with the last checkpoint whole and the step
the same command resumes from); nothing of the user's is deleted."""
from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.factories import tiny_config, write_photo_folder

TINY = ["--resolution", "32", "--latent-dim", "16", "--g-channels", "8", "--g-max-channels", "32",
        "--d-channels", "8", "--d-max-channels", "32", "--batch-size", "8", "--crop", "center",
        "--precision", "float32", "--sample-every", "2", "--r1-gamma", "0", "--n-jobs", "1",
        "--no-progress", "--no-broken-figure"]   # its dlib pass is tested once (test_training)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_photo_folder(tmp_path_factory.mktemp("photos"), n=16)


@pytest.fixture(scope="module")
def trained(photos, tmp_path_factory):
    """A finished 2-step run with its checkpoint (for the export-only and resume cases)."""
    from gan.training.loop import train

    run = tmp_path_factory.mktemp("trained") / "run"
    train(tiny_config(data=str(photos), n_jobs=1, steps=2, r1_gamma=0), run, progress=False)
    return run


def _main(capsys, *argv) -> tuple[int, str]:
    from train import main

    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def _error_line(err: str) -> str:
    """The one line a failed command prints (progress messages aside)."""
    lines = [l for l in err.splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("option, value", [
    ("--checkpoint-every", 0), ("--log-every", 0), ("--r1-every", 0), ("--sample-every", 0),
    ("--lr-g", -1), ("--lr-d", 0), ("--latent-dim", 0), ("--batch-size", 0), ("--steps", -1),
    ("--holdout", 1), ("--d-dropout", 1), ("--resolution", 48), ("--ema-decay", 2),
    ("--beta-1", 1), ("--r1-gamma", "nan"), ("--seed", -1), ("--g-channels", 0),
    ("--extra-convs", -1), ("--diffaugment", "blur"),
])
def test_a_bad_option_is_refused_before_any_data_is_read(photos, tmp_path, capsys, option, value):
    run = tmp_path / "run"
    rc, err = _main(capsys, "--data", photos, "--out", run, "--steps", 2, *TINY, option, value)
    assert rc == 2
    assert option in _error_line(err)
    assert not run.exists()        # nothing started: no run directory, no data report


@pytest.mark.parametrize("content, says", [
    (None, "does not exist"),
    ("steps: 2", "is not valid JSON"),
    ("[2]", "must hold a JSON object"),
    ('{"steps": 2, "lr": 0.1}', "unknown config keys: ['lr']"),
    ('{"steps": "2"}', "steps (--steps) must be a whole number, got '2'"),
    ('{"flip": "yes"}', "flip (--flip) must be true or false"),
    ('{"checkpoint_every": 0}', "checkpoint_every (--checkpoint-every) must be 1 or more"),
])
def test_a_bad_config_file_is_named_in_the_error(photos, tmp_path, capsys, content, says):
    config = tmp_path / "my options.json"
    if content is not None:
        config.write_text(content)
    rc, err = _main(capsys, "--data", photos, "--out", tmp_path / "run", "--config", config, *TINY)
    line = _error_line(err)
    assert rc == 2 and str(config) in line and says in line, line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name, says", [("notes.txt", "is a file, not a run directory"),
                                        ("project/config.json", "unknown config keys")])
def test_out_that_is_not_a_run_is_refused_and_kept(photos, tmp_path, capsys, name, says):
    """--out naming a file, or a folder whose config.json is another program's (training
    would overwrite it)."""
    mine = tmp_path / name
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_text('{"theme": "dark"}')
    rc, err = _main(capsys, "--data", photos, "--out", tmp_path / name.split("/")[0], *TINY)
    assert rc == 2 and says in _error_line(err)
    assert mine.read_text() == '{"theme": "dark"}'
    assert sorted(p.name for p in mine.parent.iterdir()) == [mine.name]


def _user_folder(path: Path) -> None:
    (path / "sub").mkdir(parents=True)
    (path / "thesis.txt").write_text("years of work")
    (path / "sub" / "data.csv").write_text("1,2")


def _models_folder(path: Path) -> None:
    from tests.factories import make_tiny_bundle

    make_tiny_bundle(path / "default")


def _another_run(path: Path) -> None:
    path.mkdir(parents=True)
    (path / "checkpoint.npz").write_bytes(b"a checkpoint")
    (path / "log.jsonl").write_text('{"step": 1}\n')


TARGETS = {"user's folder": _user_folder, "models/": _models_folder, "another run": _another_run}


@pytest.mark.parametrize("kind", TARGETS)
def test_export_into_a_folder_that_is_no_bundle_is_refused_before_training(
        photos, tmp_path, capsys, kind):
    target = tmp_path / "target"
    TARGETS[kind](target)
    before = _files(target)
    run = tmp_path / "run"
    rc, err = _main(capsys, "--data", photos, "--out", run, "--steps", 2, *TINY,
                    "--export", target)
    line = _error_line(err)
    assert rc == 2 and str(target) in line and "is not a FaceGAN bundle" in line, line
    assert _files(target) == before
    assert not run.exists()        # refused before the data was read, not after the training


@pytest.mark.slow
@pytest.mark.parametrize("kind", TARGETS)
def test_export_of_a_checkpoint_into_a_folder_that_is_no_bundle_is_refused(
        trained, tmp_path, capsys, kind):
    target = tmp_path / "target"
    TARGETS[kind](target)
    before = _files(target)
    rc, err = _main(capsys, "--out", trained, "--export", target)
    assert rc == 2 and "is not a FaceGAN bundle" in _error_line(err)
    assert _files(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]     # no staging litter


@pytest.mark.slow
def test_export_replaces_an_older_bundle_with_normal_permissions(trained, tmp_path, capsys):
    from gan.bundle import load_bundle
    from tests.factories import make_tiny_bundle

    target = make_tiny_bundle(tmp_path / "models" / "mine")
    old = os.umask(0o022)
    try:
        rc, err = _main(capsys, "--out", trained, "--export", target)
    finally:
        os.umask(old)
    assert rc == 0, err
    assert load_bundle(target).card["training"]["steps"] == 2        # the run's, not the old one
    assert stat.S_IMODE(target.stat().st_mode) == 0o755              # not mkdtemp's 0700
    assert stat.S_IMODE((target / "model.json").stat().st_mode) == 0o644
    assert sorted(p.name for p in target.parent.iterdir()) == ["mine"]


@pytest.mark.slow
def test_new_with_a_bad_option_keeps_the_run(trained, capsys):
    """--new replaces a run only once the new options are known to be good."""
    before = (trained / "checkpoint.npz").read_bytes()
    rc, err = _main(capsys, "--out", trained, "--new", "--data", "x", "--log-every", 0, *TINY)
    assert rc == 2 and "--log-every" in _error_line(err)
    assert (trained / "checkpoint.npz").read_bytes() == before


@pytest.mark.slow
def test_a_killed_runs_temporaries_are_removed_when_it_resumes(trained, capsys):
    dead = _dead_pid()
    stale = [trained / f".checkpoint.npz.{dead}-0123abcd.tmp",   # kill -9 during a checkpoint
             trained / ".checkpoint.npz.k2j4_x9q.tmp",           # the same, named by mkstemp
             trained / "samples" / f".fakes000002.png.{dead}-0123abcd.tmp",
             trained / "losses.tmp.png"]
    mine = trained / "notes.tmp"
    for p in stale + [mine]:
        p.write_bytes(b"x" * 100)
    rc, err = _main(capsys, "--out", trained, "--steps", 2)     # the same command again
    assert rc == 0, err
    assert [p for p in stale if p.exists()] == []
    assert mine.read_bytes() == b"x" * 100


@pytest.mark.slow
def test_a_full_disk_says_where_and_from_which_step_the_same_command_resumes(
        photos, tmp_path, capsys, monkeypatch):
    """The checkpoint write that finds the disk full leaves the previous checkpoint whole."""
    import gan.training.checkpoint as checkpoint
    from gan.io import atomic_file
    from gan.training.checkpoint import load_checkpoint
    from gan.training.gan_model import DCGAN

    real_write, calls = checkpoint.atomic_write_bytes, []

    def fills_the_disk(path, data):
        calls.append(path)
        if len(calls) == 1:
            return real_write(path, data)
        with atomic_file(path) as f:
            f.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", fills_the_disk)
    run = tmp_path / "run"
    rc, err = _main(capsys, "--data", photos, "--out", run, "--steps", 6, *TINY,
                    "--checkpoint-every", 2)
    line = _error_line(err)
    assert rc == 2 and len(calls) == 2
    assert f"no space left on the disk holding {run}" in line
    assert "the checkpoint of step 2" in line and "resumes from step 2" in line, line
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    cfg = tiny_config(**json.loads((run / "config.json").read_text()))
    meta = load_checkpoint(run / "checkpoint.npz", DCGAN(cfg, n_labels=0).state_variables())
    assert meta["step"] == 2
    steps = [json.loads(l)["step"] for l in (run / "log.jsonl").read_text().splitlines()]
    assert np.all(np.diff(steps) == 1)


def _junk_photos(path: Path) -> Path:
    """Files named like photos that do not decode: refused only once they are read."""
    path.mkdir()
    for i in range(10):
        (path / f"{i}.jpg").write_bytes(b"not a photo")
    return path


def _note_in(folder: Path) -> list:
    (folder / "my_notes.txt").write_text("mine")
    return []


# a mistake --new can only meet once the old run would have gone: (options, what the error says,
# whether the failed start rewrites the data report)
NEW_MISTAKES = {
    "a mistyped --data": (lambda run, photos: ["--data", run.parent / "phtoos"],
                          "no such file or folder", False),
    "a missing --init-from": (lambda run, photos: ["--data", photos, "--init-from",
                                                   run.parent / "no bundle"], "--init-from", False),
    "fewer photos than one batch": (lambda run, photos: ["--data", photos, "--batch-size", 32],
                                    "fewer than one batch of 32", False),
    "labels the photos lack": (lambda run, photos: ["--data", photos, "--labels", "male"],
                               "label 'male' not in", False),
    "a file of the user's in RUNDIR/bundle": (
        lambda run, photos: _note_in(run / "bundle") + ["--data", photos], "my_notes.txt", False),
    "photos that do not decode": (lambda run, photos: ["--data", _junk_photos(run.parent / "junk")],
                                  "no usable photos", True),
}


@pytest.mark.slow
@pytest.mark.parametrize("mistake", NEW_MISTAKES)
def test_new_with_a_mistake_keeps_the_old_run(trained, photos, tmp_path, capsys, mistake):
    """--new sets the old run's checkpoint, log and config aside only once the data, the
    --init-from bundle and the export folder pass their checks, and puts them back when the new
    run fails before it has started (photos that turn out unreadable)."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    make_args, says, reports = NEW_MISTAKES[mistake]
    args = make_args(run, photos)
    before = _files(run)
    rc, err = _main(capsys, "--out", run, "--new", *TINY, "--steps", 2, *args)
    line = _error_line(err)
    assert rc == 2 and says in line, line
    after = _files(run)
    if reports:         # the failed start's data report is the one its message points to
        assert "data_report.json" in line
        for name in ("data_report.json", "reals.png"):
            before.pop(name), after.pop(name, None)
    assert after == before
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []


@pytest.mark.slow
def test_new_starts_the_run_over(trained, photos, tmp_path, capsys):
    """With good options --new trains a new run (here of another architecture, which a resume
    refuses) and leaves nothing of the old one aside."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    old_log = (run / "log.jsonl").read_text()
    rc, err = _main(capsys, "--data", photos, "--out", run, "--new", *TINY, "--steps", 2,
                    "--latent-dim", 8)
    assert rc == 0, err
    assert json.loads((run / "config.json").read_text())["latent_dim"] == 8
    assert (run / "log.jsonl").read_text() != old_log
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("option, says", [
    (lambda tmp, photos: ["--data", tmp / "phtoos"], "no such file or folder"),
    (lambda tmp, photos: ["--data", photos, "--labels", "male"], "label 'male' not in"),
    (lambda tmp, photos: ["--data", photos, "--init-from", tmp / "no bundle"], "No model bundle"),
    (lambda tmp, photos: ["--data", photos, "--init-from", _other_bundle(tmp)],
     "architecture differs"),
    (lambda tmp, photos: ["--data", photos, "--batch-size", 32], "fewer than one batch of 32"),
])
def test_a_bad_data_labels_or_init_from_is_refused_before_the_run_folder_is_made(
        photos, tmp_path, capsys, option, says):
    run = tmp_path / "run"
    rc, err = _main(capsys, "--out", run, *TINY, "--steps", 2, *option(tmp_path, photos))
    assert rc == 2 and says in _error_line(err)
    assert not run.exists()


def _other_bundle(tmp: Path) -> Path:
    from tests.factories import make_tiny_bundle

    return make_tiny_bundle(tmp / "wide", g_channels=16)


@pytest.mark.parametrize("layout", ["same folder", "run inside the photos", "photos inside the run",
                                    "export inside the photos"])
def test_photos_and_the_run_folder_must_not_overlap(photos, tmp_path, capsys, layout):
    """A run inside its photos would train on its own reals.png, samples and bundle at the next
    start (and the photos inside a run on them too): refused before anything is written."""
    import shutil

    data = tmp_path / "photos"
    shutil.copytree(photos, data)
    run, export = {"same folder": (data, None),
                   "run inside the photos": (data / "run", None),
                   "photos inside the run": (tmp_path, None),
                   "export inside the photos": (tmp_path / "run", data / "models" / "mine")}[layout]
    before = _files(data)
    rc, err = _main(capsys, "--data", data, "--out", run, *TINY, "--steps", 2,
                    *(["--export", export] if export else []))
    line = _error_line(err)
    assert rc == 2 and "overlap" in line and ("--export" if export else "--out") in line, line
    assert _files(data) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


@pytest.mark.parametrize("made", [False, True])
def test_export_of_a_run_without_a_checkpoint_says_so(tmp_path, capsys, made):
    """`--out RUNDIR --export DIR` exports the run's checkpoint: when there is none (a mistyped
    run, or one stopped before its first), the message says that, not that --data is missing."""
    run = tmp_path / "run"
    if made:
        run.mkdir()
        (run / "config.json").write_text(json.dumps(tiny_config(data="photos").to_dict()))
    rc, err = _main(capsys, "--out", run, "--export", tmp_path / "models" / "mine")
    line = _error_line(err)
    assert rc == 2 and "no checkpoint to export" in line and str(run) in line, line
    assert not (tmp_path / "models").exists()


DAMAGE = {"truncated": lambda b: b[: len(b) // 3], "empty": lambda b: b"",
          "not a checkpoint": lambda b: b"hello\n"}


@pytest.mark.slow
@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("command", ["resume", "export"])
def test_a_damaged_checkpoint_is_one_line_and_left_as_it_is(
        trained, photos, tmp_path, capsys, damage, command):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    ckpt = run / "checkpoint.npz"
    ckpt.write_bytes(DAMAGE[damage](ckpt.read_bytes()))
    before = _files(run)
    argv = (["--data", photos, "--out", run, *TINY, "--steps", 4] if command == "resume" else
            ["--out", run, "--export", tmp_path / "exported"])
    rc, err = _main(capsys, *argv)
    line = _error_line(err)
    assert rc == 2 and f"{ckpt} is not a readable checkpoint" in line, line
    assert "--new" in line and "pickle" not in line
    assert _files(run) == before
    assert not (tmp_path / "exported").exists()
