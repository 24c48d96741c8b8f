"""The blind audit (`python -m gan.audit`) on a tiny conditional bundle whose card names a
folder of drawn photos: the sheet numbers 2N faces, N of each kind by the key and nothing on
the sheet or the labels template tells which; the same seeds give the same sheet; the
generated faces are the generate page's defaults; scoring counts hand-filled labels and
refuses malformed ones in one line; nothing but an unlabelled audit folder is replaced."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan.bundle import load_bundle, update_card
from gan.sampling import label_matrix
from gan.detector.calibrate import wilson
from gan.io import MANIFEST, ReplaceRefused
from gan.metrics import audit
from tests.factories import make_tiny_bundle, write_photo_folder

N = 6
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("audit")
    photos = write_photo_folder(root / "photos", n=30, size=64)
    (photos / "labels.csv").write_text("image,male,smiling\n" + "".join(
        f"img_{i:03d}.jpg,{i % 2},{i // 2 % 2}\n" for i in range(30)))
    rows = np.array([[i % 2, i // 2 % 2] for i in range(30)], np.float32)
    path = make_tiny_bundle(root / "b", label_names=["male", "smiling"], holdout_fraction=0.5,
                            label_rows=rows)
    update_card(path, data={"source": str(photos), "holdout": {"fraction": 0.5}})
    return path


@pytest.fixture(scope="module")
def sheet(bundle_path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sheets") / "a"
    audit.make_sheet(bundle_path, out, n=N, seed=0, real_seed=0)
    return out


def key_of(folder: Path) -> dict:
    return json.loads((folder / audit.KEY).read_text())


def run(argv, capsys) -> tuple[int, str, str]:
    from gan.audit import main

    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def fill(path: Path, rows: list[tuple]) -> Path:
    path.write_text("number,label\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def test_sheet_numbers_2n_faces_n_of_each_kind(sheet):
    key = key_of(sheet)
    assert sorted(int(k) for k in key["faces"]) == list(range(1, 2 * N + 1))
    kinds = [key["faces"][str(i)]["kind"] for i in range(1, 2 * N + 1)]
    assert kinds.count("generated") == N and kinds.count("real") == N
    indexes = [v["index"] for v in key["faces"].values() if v["kind"] == "generated"]
    assert sorted(indexes) == list(range(N))
    photos = [v["photo"] for v in key["faces"].values() if v["kind"] == "real"]
    assert len(set(photos)) == N
    assert kinds != sorted(kinds) and kinds != sorted(kinds, reverse=True)   # shuffled
    files = sorted(p.name for p in (sheet / audit.FACES).iterdir())
    assert files == [f"{i:03d}.png" for i in range(1, 2 * N + 1)]
    assert sorted(p.name for p in sheet.iterdir()) == sorted(
        [audit.FACES, audit.KEY, audit.LABELS, audit.SHEET, MANIFEST])
    drawn = key["generated"]["labels"]                 # each face's row, as the page draws it
    want = label_matrix(load_bundle(key["model"]["path"]), N, None, seed=0)
    assert drawn["names"] == ["male", "smiling"] and np.array_equal(drawn["rows"], want)
    assert {tuple(r) for r in drawn["rows"]} <= {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert key["generated"]["seed"] == 0 and key["generated"]["truncation"] == 1.0
    assert key["real"]["held_out_photos"] >= N and key["model"]["card_sha256"]


def test_sheet_shows_face_k_above_number_k(sheet):
    """Every face on the sheet is the file of its number (so the number under it is right)."""
    grid = np.asarray(Image.open(sheet / audit.SHEET).convert("RGB"))
    for i in range(2 * N):
        face = Image.open(sheet / audit.FACES / f"{i + 1:03d}.png")
        cell = audit.cell_size(face.width)
        big = np.asarray(face.convert("RGB").resize((cell, cell), Image.Resampling.NEAREST))
        left, top, right, bottom = audit.face_box(i, cell, audit.COLUMNS)
        assert np.array_equal(grid[top:bottom, left:right], big)
    assert cell >= 128                    # small faces are enlarged to be judged


def test_sheet_and_labels_carry_no_kind(sheet):
    labels = (sheet / audit.LABELS).read_text()
    assert labels == "number,label\n" + "".join(f"{i},\n" for i in range(1, 2 * N + 1))
    photos = {v["photo"] for v in key_of(sheet)["faces"].values() if v["kind"] == "real"}
    for png in [sheet / audit.SHEET, *(sheet / audit.FACES).iterdir()]:
        im = Image.open(png)
        assert not {k for k in im.info if k not in ("dpi", "gamma")}, im.info   # no text chunks
        raw = png.read_bytes().lower()
        for word in (b"generated", b"real", b"fake", b"seed", *(p.encode() for p in photos)):
            assert word not in raw


def test_same_seeds_same_sheet(sheet, bundle_path, tmp_path):
    audit.make_sheet(bundle_path, tmp_path / "again", n=N, seed=0, real_seed=0)
    again = tmp_path / "again"
    assert (again / audit.SHEET).read_bytes() == (sheet / audit.SHEET).read_bytes()
    for f in (sheet / audit.FACES).iterdir():
        assert (again / audit.FACES / f.name).read_bytes() == f.read_bytes()
    assert key_of(again)["faces"] == key_of(sheet)["faces"]
    audit.make_sheet(bundle_path, tmp_path / "other", n=N, seed=0, real_seed=1)
    assert key_of(tmp_path / "other")["faces"] != key_of(sheet)["faces"]


def test_generated_faces_are_the_generate_pages_defaults(bundle_path):
    """The page's face cache at its defaults (seed 0, variety 1, sliders in the middle:
    no labels, no z shift) gives the audit's faces, and the page still has those defaults."""
    from app_support.faces import FaceCache

    bundle = load_bundle(bundle_path)
    page = FaceCache().faces(bundle, "key", N, audit.PAGE_SEED, audit.PAGE_TRUNCATION, {}, None)
    assert np.array_equal(page.images, audit.page_default_faces(bundle, N))
    source = (REPO / "pages" / "generate.py").read_text()
    assert (f'("seed", {audit.PAGE_SEED}), ("truncation", {audit.PAGE_TRUNCATION})' in source)


def test_truncation_draws_the_pages_faces_at_that_variety(bundle_path, tmp_path):
    """--truncation audits the faces the page shows with its variety slider there, and the key
    says so (so a sheet at 0.7 is never mistaken for the page's default faces)."""
    from app_support.faces import FaceCache

    key = audit.make_sheet(bundle_path, tmp_path / "t07", n=N, truncation=0.7)
    assert key["generated"]["truncation"] == 0.7 and "0.7" in key["generated"]["as"]
    assert "--truncation 0.7" in key["command"]
    bundle = load_bundle(bundle_path)
    page = FaceCache().faces(bundle, "key", N, audit.PAGE_SEED, 0.7, {}, None)
    gen = sorted((int(n), f) for n, f in key["faces"].items() if f["kind"] == "generated")
    width = audit.number_width(2 * N)
    for number, f in gen:
        face = np.asarray(Image.open(tmp_path / "t07" / audit.FACES / f"{number:0{width}d}.png"))
        assert np.array_equal(face, page.images[f["index"]])
    assert not np.array_equal(page.images, audit.page_default_faces(bundle, N))


@pytest.mark.parametrize("bad", ["0", "-1", "2.5"])
def test_a_truncation_out_of_range_is_refused(bundle_path, tmp_path, capsys, bad):
    code, _, err = run(["sheet", "--model", str(bundle_path), "--out", str(tmp_path / "x"),
                        "--n", "2", "--truncation", bad], capsys)
    assert code == 2 and "--truncation must be" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_score_counts_hand_filled_labels(sheet, capsys, tmp_path):
    key = key_of(sheet)
    gen = [int(k) for k, v in key["faces"].items() if v["kind"] == "generated"]
    real = [int(k) for k, v in key["faces"].items() if v["kind"] == "real"]
    # generated: 4 broken, 1 intact, 1 blank; real: 1 broken, 5 intact; words in every spelling
    rows = [(gen[0], "broken"), (gen[1], "B"), (gen[2], " bad "), (gen[3], "Broken"),
            (gen[4], "ok"), (gen[5], ""), (real[0], "b"), (real[1], "intact"), (real[2], "I"),
            (real[3], "OK"), (real[4], "Intact"), (real[5], "i")]
    labels = fill(tmp_path / "mine.csv", rows[::-1])
    code, out, err = run(["score", "--dir", str(sheet), "--labels", str(labels)], capsys)
    assert code == 0, err
    result = json.loads((sheet / audit.RESULT).read_text())
    (sheet / audit.RESULT).unlink()                 # the module's sheet stays unlabelled
    assert result["generated"]["broken"] == 4 and result["generated"]["labelled"] == 5
    assert result["generated"]["broken_share"] == pytest.approx(0.8)
    assert result["generated"]["ci95"] == pytest.approx(list(wilson(4, 5)))
    assert result["real"]["broken"] == 1 and result["real"]["labelled"] == 6
    assert result["real"]["ci95"] == pytest.approx(list(wilson(1, 6)))
    assert result["unlabelled"] == 1 and result["generated"]["unlabelled"] == 1
    assert "generated: 4 of 5 broken (80%" in out and "real: 1 of 6 broken (17%" in out
    assert "unlabelled: 1" in out


@pytest.mark.parametrize("body, says", [
    (None, "does not exist"),
    ("number,label\n1,maybe\n", "'maybe' is not a label"),
    ("number,label\n99,broken\n", "99 is not a number on the sheet"),
    ("number,label\n1,broken\n2,intact\n1,intact\n", "face 1 is labelled twice (also on line 2)"),
    ("number,label\nfirst,broken\n", "'first' is not a face number"),
    ("number,label\n1,\n2,\n", "labels no face yet"),
])
def test_malformed_labels_are_refused_in_one_line(sheet, tmp_path, capsys, body, says):
    labels = tmp_path / "labels.csv"
    if body is not None:
        labels.write_text(body)
    code, out, err = run(["score", "--dir", str(sheet), "--labels", str(labels)], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and says in err, err
    assert "Traceback" not in err and not (sheet / audit.RESULT).exists()


def test_score_without_a_key_says_so(tmp_path, capsys):
    fill(tmp_path / audit.LABELS, [(1, "broken")])
    code, _, err = run(["score", "--dir", str(tmp_path)], capsys)
    assert code == 2 and "key.json does not exist" in err and err.count("\n") == 1


def test_a_folder_that_is_not_an_unlabelled_audit_is_not_replaced(bundle_path, sheet, tmp_path,
                                                                 capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    code, _, err = run(["sheet", "--model", str(bundle_path), "--out", str(mine), "--n", "2",
                        "--quiet"], capsys)
    assert code == 2 and "nothing was written" in err and err.count("\n") == 1
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no staging left

    labelled = tmp_path / "labelled"                 # an audit someone has started labelling
    audit.make_sheet(bundle_path, labelled, n=2)
    fill(labelled / audit.LABELS, [(1, "broken")])
    with pytest.raises(ReplaceRefused, match="still blank"):
        audit.make_sheet(bundle_path, labelled, n=2)
    assert (labelled / audit.LABELS).read_text().startswith("number,label\n1,broken")

    blank = tmp_path / "blank"                       # an unlabelled one is simply made again
    audit.make_sheet(bundle_path, blank, n=2)
    audit.make_sheet(bundle_path, blank, n=3)
    assert len(key_of(blank)["faces"]) == 6


def test_sheet_explains_a_bundle_without_held_out_photos(tmp_path, capsys):
    path = make_tiny_bundle(tmp_path / "b")
    code, _, err = run(["sheet", "--model", str(path), "--out", str(tmp_path / "out"),
                        "--quiet"], capsys)
    assert code == 2 and "no held-out real photos" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_labels_from_a_spreadsheet_are_read(sheet, tmp_path):
    """A BOM and ';' separators (what some spreadsheets save) read the same as plain CSV."""
    text = "\ufeffNumber;Label\r\n1;Broken\r\n2;ok\r\n"
    (tmp_path / "x.csv").write_bytes(text.encode("utf-8"))
    got = audit.read_labels(tmp_path / "x.csv", set(range(1, 2 * N + 1)))
    assert got == {1: "broken", 2: "intact"}
    rows = list(csv.reader(io.StringIO((sheet / audit.LABELS).read_text())))
    assert rows[0] == ["number", "label"] and all(re.fullmatch(r"\d+", r[0]) for r in rows[1:])


def test_an_interrupted_sheet_leaves_nothing_half_written(bundle_path, tmp_path, monkeypatch):
    out = tmp_path / "out"
    audit.make_sheet(bundle_path, out, n=2)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def killed(path, text):
        raise KeyboardInterrupt

    monkeypatch.setattr(audit, "atomic_write_text", killed)
    with pytest.raises(KeyboardInterrupt):
        audit.make_sheet(bundle_path, out, n=3, real_seed=5)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]          # no staging folder left


def scored_audit(bundle_path: Path, out: Path, broken_gen: int) -> Path:
    """A labelled, scored audit of `bundle_path`: `broken_gen` generated faces broken, the
    rest and every real photo intact."""
    audit.make_sheet(bundle_path, out, n=N)
    gen = sorted(int(k) for k, v in key_of(out)["faces"].items() if v["kind"] == "generated")
    rows = [(k, "broken" if k in gen[:broken_gen] else "intact") for k in range(1, 2 * N + 1)]
    fill(out / audit.LABELS, rows)
    audit.score(out)
    return out


def test_record_keeps_the_audit_with_the_bundle_and_its_card(bundle_path, tmp_path, capsys):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(bundle_path, model)
    done = scored_audit(model, tmp_path / "audit", broken_gen=5)
    code, out, err = run(["record", "--dir", str(done), "--model", str(model)], capsys)
    assert code == 0, err
    assert f"5 of {N} generated faces broken" in out
    card = json.loads((model / "model.json").read_text())
    kept = card["audit"]
    assert kept["generated"]["broken"] == 5 and kept["generated"]["labelled"] == N
    assert kept["real"]["broken"] == 0 and kept["truncation"] == 1.0
    assert kept["generator_sha256"] == card["files"]["generator.keras"]["sha256"]
    assert Image.open(model / kept["sheet"]).size == Image.open(done / audit.SHEET).size
    assert (model / "audit" / audit.LABELS).read_bytes() == (done / audit.LABELS).read_bytes()
    load_bundle(model)                                       # the card still validates
    again = scored_audit(model, tmp_path / "again", broken_gen=2)
    audit.record(again, model)                               # a newer audit replaces it
    assert json.loads((model / "model.json").read_text())["audit"]["generated"]["broken"] == 2
    assert sorted(p.name for p in (model / "audit").iterdir()) == sorted(
        ["sheet.jpg", audit.LABELS, audit.KEY, audit.RESULT, MANIFEST])


def test_record_refuses_an_unscored_a_changed_or_another_generators_audit(bundle_path, tmp_path,
                                                                          capsys):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(bundle_path, model)
    before = (model / "model.json").read_bytes()
    blank = tmp_path / "blank"
    audit.make_sheet(model, blank, n=N)
    code, _, err = run(["record", "--dir", str(blank), "--model", str(model)], capsys)
    assert code == 2 and "has not been scored" in err
    done = scored_audit(model, tmp_path / "done", broken_gen=3)
    with (done / audit.LABELS).open("a") as f:
        f.write("\n")
    code, _, err = run(["record", "--dir", str(done), "--model", str(model)], capsys)
    assert code == 2 and "changed after it was scored" in err
    other = make_tiny_bundle(tmp_path / "other", label_names=["male", "smiling"], seed=7,
                             holdout_fraction=0.5)
    audit.score(done)
    code, _, err = run(["record", "--dir", str(done), "--model", str(other)], capsys)
    assert code == 2 and "another generator" in err and "Traceback" not in err
    assert (model / "model.json").read_bytes() == before and not (model / "audit").exists()
    assert not (other / "audit").exists()


def test_drs_sheet_holds_the_faces_rejection_keeps_and_is_not_recorded(bundle_path, tmp_path,
                                                                        capsys):
    """--drs audits the faces discriminator rejection sampling keeps (each face the row the key
    names), says so in the key, and such an audit is not kept as the model's figure: the app
    does not draw that way."""
    from gan import rejection

    code, _, err = run(["sheet", "--model", str(bundle_path), "--out", str(tmp_path / "drs"),
                        "--n", str(N), "--drs", "50", "--quiet"], capsys)
    assert code == 0, err
    key = key_of(tmp_path / "drs")
    r = key["generated"]["rejection"]
    assert r["percentile"] == 50 and len(r["rows"]) == N and "--drs 50" in key["command"]
    bundle = load_bundle(bundle_path)
    kept, rows, _ = rejection.sample(bundle, N, audit.PAGE_SEED, audit.PAGE_TRUNCATION, None,
                                     rejection.calibrate(bundle, percentile=50))
    assert r["rows"] == [int(x) for x in rows]
    width = audit.number_width(2 * N)
    for number, f in key["faces"].items():
        if f["kind"] == "generated":
            face = np.asarray(Image.open(tmp_path / "drs" / audit.FACES / f"{int(number):0{width}d}.png"))
            assert np.array_equal(face, kept[f["index"]])
    fill(tmp_path / "drs" / audit.LABELS, [(k, "broken") for k in range(1, 2 * N + 1)])
    audit.score(tmp_path / "drs")
    code, _, err = run(["record", "--dir", str(tmp_path / "drs"), "--model", str(bundle_path)],
                       capsys)
    assert code == 2 and "rejection sampling" in err and "Traceback" not in err
    code, _, err = run(["sheet", "--model", str(bundle_path), "--out", str(tmp_path / "bad"),
                        "--n", "2", "--drs", "100"], capsys)
    assert code == 2 and "--drs is a percentile" in err and not (tmp_path / "bad").exists()


def test_label_rows_sheet_draws_those_labels_and_is_not_recorded(bundle_path, tmp_path, capsys):
    """A sheet with label rows (bench/audit_label_arms.py's experiment) holds the page's z with
    those labels, keeps the rows in its key, refuses rows of the wrong shape, and is not kept
    as the model's figure: the app does not draw those labels."""
    from gan.sampling import generate_from_latents, latents

    bundle = load_bundle(bundle_path)
    rows = np.array([[i % 2, 1 - i % 2] for i in range(N)], np.float32)
    key = audit.make_sheet(bundle_path, tmp_path / "rows", n=N, label_rows=rows, label_note="test")
    assert key["generated"]["label_rows"]["rows"] == rows.tolist()
    want = generate_from_latents(bundle, latents(audit.PAGE_SEED, N, bundle.latent_dim), rows)
    assert not np.array_equal(want, audit.page_default_faces(bundle, N))   # labels matter here
    width = audit.number_width(2 * N)
    for number, f in key["faces"].items():
        if f["kind"] == "generated":
            face = np.asarray(Image.open(tmp_path / "rows" / audit.FACES / f"{int(number):0{width}d}.png"))
            assert np.array_equal(face, want[f["index"]])
    with pytest.raises(audit.AuditError, match="label rows must be"):
        audit.make_sheet(bundle_path, tmp_path / "bad", n=N, label_rows=rows[:2])
    assert not (tmp_path / "bad").exists()
    fill(tmp_path / "rows" / audit.LABELS, [(k, "intact") for k in range(1, 2 * N + 1)])
    audit.score(tmp_path / "rows")
    code, _, err = run(["record", "--dir", str(tmp_path / "rows"), "--model", str(bundle_path)],
                       capsys)
    assert code == 2 and "label rows" in err and "Traceback" not in err


def test_a_sheet_at_neutral_labels_says_it_is_not_comparable(bundle_path, tmp_path, capsys):
    """A bundle exported before cards carried label frequencies draws every face at 0.5; its
    sheet must not be set beside a sheet of faces drawn at photo-like labels unremarked (a
    confound that once made one checkpoint look 21 faces better than another)."""
    import shutil

    code, _, err = run(["sheet", "--model", str(bundle_path), "--out", str(tmp_path / "drawn"),
                        "--n", "2", "--quiet"], capsys)
    assert code == 0 and "not comparable" not in err
    old = tmp_path / "old"
    shutil.copytree(bundle_path, old)
    card = json.loads((old / "model.json").read_text())
    card["labels"].pop("frequencies")
    (old / "model.json").write_text(json.dumps(card))
    code, _, err = run(["sheet", "--model", str(old), "--out", str(tmp_path / "neutral"),
                        "--n", "2", "--quiet"], capsys)
    assert code == 0 and "no label frequencies" in err and "not comparable" in err
    assert "'male': 0.5" in err and "--export" in err


def test_pair_draws_one_sheet_of_each_bundle_and_hides_which_is_which(bundle_path, tmp_path,
                                                                      capsys):
    """`pair`: two sheets, X and Y, one of each bundle; which is which only in pair.json (the
    coin's side), Y drawn on the next seeds so no face or photo shows on both; `score` on the
    pair folder scores both and names each bundle; a started labelling is never replaced."""
    import shutil

    other = tmp_path / "other"
    shutil.copytree(bundle_path, other)
    for coin, x in ((0, bundle_path), (1, other)):
        out = tmp_path / f"pair{coin}"
        pair = audit.make_pair((bundle_path, other), out, n=N, seed=3, real_seed=2, coin=coin)
        assert sorted(p.name for p in out.iterdir()) == sorted([*audit.SIDES, audit.PAIR, MANIFEST])
        assert pair == json.loads((out / audit.PAIR).read_text())
        assert pair["sides"]["X"]["model"] == str(x)
        for side, seed, real_seed in (("X", 3, 2), ("Y", 4, 3)):
            key = key_of(out / side)
            assert key["model"]["path"] == pair["sides"][side]["model"]
            assert (key["generated"]["seed"], key["real"]["real_seed"]) == (seed, real_seed)
            assert f"--out {out / side} " in key["command"]            # not the staging folder
            assert "--out" not in (out / side / audit.LABELS).read_text()
    assert {pair["sides"][s]["model"] for s in audit.SIDES} == {str(bundle_path), str(other)}
    real = [{v["photo"] for v in key_of(tmp_path / "pair0" / s)["faces"].values()
             if v["kind"] == "real"} for s in audit.SIDES]
    assert real[0] != real[1]

    out = tmp_path / "pair0"
    for side, broken in (("X", 2), ("Y", 5)):
        gen = sorted(int(k) for k, v in key_of(out / side)["faces"].items()
                     if v["kind"] == "generated")
        fill(out / side / audit.LABELS,
             [(k, "broken" if k in gen[:broken] else "intact") for k in range(1, 2 * N + 1)])
    with pytest.raises(ReplaceRefused, match="still blank"):
        audit.make_pair((bundle_path, other), out, n=N)
    code, text, err = run(["score", "--dir", str(out)], capsys)
    assert code == 0, err
    assert text.splitlines()[0] == f"X: {bundle_path}" and f"Y: {other}" in text
    assert f"generated: 2 of {N} broken" in text and f"generated: 5 of {N} broken" in text
    assert json.loads((out / "Y" / audit.RESULT).read_text())["generated"]["broken"] == 5
    code, _, err = run(["score", "--dir", str(out), "--labels", str(out / "X" / audit.LABELS)],
                       capsys)
    assert code == 2 and "is a pair" in err and err.count("\n") == 1
    (out / audit.PAIR).write_text("{not json")                 # a damaged pair file
    code, _, err = run(["score", "--dir", str(out)], capsys)
    assert code == 2 and "is not a pair of audits" in err and err.count("\n") == 1


def test_pair_refuses_one_bundle_twice_and_leaves_nothing_when_stopped(bundle_path, tmp_path,
                                                                      capsys, monkeypatch):
    code, _, err = run(["pair", "--model", str(bundle_path), "--model", str(bundle_path),
                        "--out", str(tmp_path / "same"), "--quiet"], capsys)
    assert code == 2 and "given twice" in err and not (tmp_path / "same").exists()
    code, _, err = run(["pair", "--model", str(bundle_path), "--out", str(tmp_path / "one"),
                        "--quiet"], capsys)
    assert code == 2 and "exactly twice" in err and err.count("\n") == 1
    made = []

    def second_sheet_stopped(*args, **kwargs):
        if made:
            raise KeyboardInterrupt
        made.append(args[1])
        return real_make_sheet(*args, **kwargs)

    real_make_sheet = audit.make_sheet
    monkeypatch.setattr(audit, "make_sheet", second_sheet_stopped)
    import shutil

    shutil.copytree(bundle_path, tmp_path / "other")
    with pytest.raises(KeyboardInterrupt):
        audit.make_pair((bundle_path, tmp_path / "other"), tmp_path / "stopped", n=2)
    assert made and sorted(p.name for p in tmp_path.iterdir()) == ["other"]   # no half pair


@pytest.mark.parametrize("damage, says", [
    (lambda t: t[: len(t) // 2], "not readable JSON"),          # cut short
    (lambda t: "[1, 2]", "not a facegan-audit-result/1 object"),
    (lambda t: json.dumps({**json.loads(t), "generated": {**json.loads(t)["generated"],
                                                           "broken": "five"}}),
     "its generated figures are missing or not numbers"),
    (lambda t: json.dumps({k: v for k, v in json.loads(t).items() if k != "real"}),
     "its real figures are missing"),
])
def test_record_refuses_a_damaged_result_in_one_line(bundle_path, tmp_path, capsys, damage, says):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(bundle_path, model)
    before = (model / "model.json").read_bytes()
    done = scored_audit(model, tmp_path / "done", broken_gen=1)
    result = done / audit.RESULT
    result.write_text(damage(result.read_text()))
    code, out, err = run(["record", "--dir", str(done), "--model", str(model)], capsys)
    assert code == 2 and out == "" and err.startswith("error: ") and "Traceback" not in err
    assert "is damaged or was not written by gan.audit score" in err and says in err
    assert f"python -m gan.audit score --dir {done}" in err
    assert (model / "model.json").read_bytes() == before and not (model / "audit").exists()
