"""`python -m gan.generate --shard I/N`: N shards write disjoint slices whose files together are,
name for name and byte for byte, those of one unsharded run (labels.csv included: every shard
writes it whole); face i keeps its bytes whatever --n or an interruption; a bad I/N is one
usage line. Tiny untrained bundles from tests.factories, as the other gan.generate tests."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gan.generate import main, shard_batches
from gan.sampling import latent_rows, latents
from tests.factories import make_tiny_bundle

ROOT = Path(__file__).resolve().parents[1]
RUN = ["--seed", "7", "--batch-size", "3", "--truncation", "0.8", "--labels", "smiling=1"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    # pretend training photos, so each face's male label is drawn (smiling=1 is named)
    rows = np.array([[0, 0], [1, 0], [1, 1], [0, 1]] * 3, np.float32)
    return make_tiny_bundle(tmp_path_factory.mktemp("bundle") / "b", label_names=["male", "smiling"],
                            label_rows=rows)


@pytest.fixture(scope="module")
def whole(bundle, tmp_path_factory):
    """The files of one unsharded run of 10 faces, to compare the shards with."""
    out = tmp_path_factory.mktemp("whole")
    assert main(["--model", str(bundle), "--n", "10", "--out", str(out), *RUN]) == 0
    return files(out)


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}


def generate(bundle, out, *extra, n=10):
    assert main(["--model", str(bundle), "--n", str(n), "--out", str(out), *RUN, *extra]) == 0
    return files(out)


def test_latent_rows_are_the_rows_of_latents():
    z = latents(3, 200, 16, 0.7)
    for start in (0, 5, 64, 130):
        rows = latent_rows(3, start, 16, 0.7, chunk=7)
        got = np.concatenate([next(rows) for _ in range(6)])
        assert np.array_equal(got, latents(3, start + 42, 16, 0.7)[start:]) and np.array_equal(got[:1], z[start:start + 1])


def test_shard_batches_split_whole_batches_without_gap_or_overlap():
    for n, batch, count in [(10, 3, 2), (10, 3, 3), (1000, 64, 7), (5, 64, 3), (128, 64, 2)]:
        parts = [shard_batches(n, batch, i, count) for i in range(count)]
        assert [b for p in parts for b in p] == list(range(-(-n // batch)))


@pytest.mark.parametrize("count", [2, 3])
def test_shards_together_equal_one_unsharded_run(bundle, whole, tmp_path, count):
    assert len(whole) == 12 and "labels.csv" in whole and "faces.json" in whole
    union: dict[str, bytes] = {}
    for i in range(count):
        got = generate(bundle, tmp_path / f"shard{i}", "--shard", f"{i}/{count}")
        for whole_file in ("labels.csv", "faces.json"):            # each shard: the whole file
            assert got.pop(whole_file) == whole[whole_file]
        assert got and not set(got) & set(union)                   # disjoint, none empty here
        union.update(got)
    union["labels.csv"], union["faces.json"] = whole["labels.csv"], whole["faces.json"]
    assert union == whole


def test_face_bytes_do_not_depend_on_n_or_on_resuming(bundle, whole, tmp_path):
    fewer = generate(bundle, tmp_path / "fewer", n=4)                  # a batch cut short by --n
    assert {k: v for k, v in fewer.items() if k.endswith(".png")} == {
        k: whole[k] for k in fewer if k.endswith(".png")}
    out = tmp_path / "resumed"
    generate(bundle, out)
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    for name in ("seed000007_000004.png", "seed000007_000009.png"):   # mid-batch and last
        (out / name).unlink()
        del kept[name]
    time.sleep(0.01)
    assert generate(bundle, out) == whole
    assert all((out / k).stat().st_mtime_ns == v for k, v in kept.items())   # not rewritten


def test_a_shard_with_no_batches_writes_no_faces(bundle, tmp_path, capsys):
    out = tmp_path / "empty"
    assert main(["--model", str(bundle), "--n", "4", "--out", str(out), *RUN, "--shard", "0/3"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["faces.json", "labels.csv"]
    assert "no faces" in capsys.readouterr().err


@pytest.mark.parametrize("value, says", [
    ("2/2", "counted from 0, so the shards of 2 are 0/2 to 1/2"),
    ("1/0", "must be at least 1"),
    ("half", "is not I/N"),
    ("1/2/3", "is not I/N"),
    ("-1/2", "is not I/N"),
])
def test_bad_shard_is_one_usage_line(bundle, tmp_path, capsys, value, says):
    with pytest.raises(SystemExit) as e:
        main(["--model", str(bundle), "--n", "4", "--out", str(tmp_path / "x"), f"--shard={value}"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_shard_refuses_a_morph(bundle, tmp_path, capsys):
    assert main(["--model", str(bundle), "--interpolate", "1", "2", "--out", str(tmp_path / "m.gif"),
                 "--shard", "0/2"]) == 2
    assert "--shard" in capsys.readouterr().err and not (tmp_path / "m.gif").exists()


ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def test_bad_shard_from_the_command_line_is_one_line_without_traceback(tmp_path):
    bad = subprocess.run([sys.executable, "-m", "gan.generate", "--n", "4", "--out", str(tmp_path / "y"),
                          "--shard", "4/4"], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "error: argument --shard: '4/4': shards are counted from 0" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "y").exists()


@pytest.mark.slow
def test_two_shard_processes_at_once_into_one_folder(bundle, whole, tmp_path):
    """As N machines sharing one output folder would: real processes, at the same time."""
    out = tmp_path / "shared"
    procs = [subprocess.Popen([sys.executable, "-m", "gan.generate", "--model", str(bundle), "--n", "10",
                               "--out", str(out), *RUN, "--shard", f"{i}/2"], cwd=ROOT, env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    assert "shard 0/2: 6 faces (0 to 5) of 10" in errs[0] and "shard 1/2: 4 faces (6 to 9)" in errs[1]
    assert files(out) == whole


def test_labels_csv_holds_each_faces_drawn_row(bundle, whole):
    from gan.bundle import load_bundle
    from gan.sampling import label_matrix

    lines = whole["labels.csv"].decode().splitlines()
    assert lines[0] == "image,male,smiling"
    got = np.array([[float(v) for v in line.split(",")[1:]] for line in lines[1:]])
    want = label_matrix(load_bundle(bundle), 10, {"smiling": 1.0}, seed=7)
    assert np.array_equal(got, want) and np.all(got[:, 1] == 1.0)
    assert set(got[:, 0]) == {0.0, 1.0}                   # male drawn per face, not 0.5


def test_toward_moves_each_faces_label_and_a_bad_value_is_one_line(bundle, tmp_path, capsys):
    from gan.bundle import load_bundle
    from gan.sampling import label_matrix

    out = tmp_path / "toward"
    assert main(["--model", str(bundle), "--n", "6", "--out", str(out), "--seed", "3",
                 "--toward", "male=1:0.5"]) == 0
    lines = (out / "labels.csv").read_text().splitlines()[1:]
    got = np.array([[float(v) for v in line.split(",")[1:]] for line in lines])
    own = label_matrix(load_bundle(bundle), 6, None, seed=3)
    assert np.allclose(got[:, 0], own[:, 0] + 0.5 * (1 - own[:, 0])) and np.array_equal(got[:, 1], own[:, 1])
    capsys.readouterr()
    assert main(["--model", str(bundle), "--n", "2", "--out", str(tmp_path / "bad"),
                 "--toward", "male=1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "name=END:T" in err and "Traceback" not in err
