"""The README's "Your own groups", end to end on a tiny self-made data set: labelled folders of
skewed size are trained on with `--labels auto --balance class`, exported, fine-tuned from that
bundle on a few photos labelled in a labels.csv (other labels: the label layers start fresh),
measured per group by `python -m gan.evaluate`, and the app shows one choice per label with the
group names and the per-group table. Tiny on purpose (32 px, a few steps): seconds, not minutes.
"""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from tests.app_fixtures import new_app, no_exceptions
from tests.factories import write_photo_folder

TINY = ["--resolution", "32", "--latent-dim", "16", "--g-channels", "8", "--g-max-channels", "32",
        "--d-channels", "8", "--d-max-channels", "32", "--batch-size", "8", "--precision",
        "float32", "--crop", "center", "--n-jobs", "1", "--no-progress", "--sample-every", "50",
        "--checkpoint-every", "50", "--no-broken-figure"]


@pytest.fixture(scope="module")
def groups_run(tmp_path_factory):
    """models/ holding `mygroups` (trained on 3 skewed folders, balanced) and `tuned` (started
    from it on 16 photos labelled by a labels.csv), both evaluated per group."""
    from gan.evaluate import main as evaluate
    from train import main as train

    tmp = tmp_path_factory.mktemp("groups")
    data = tmp / "mine"
    for i, (name, n) in enumerate((("gulf", 30), ("levant", 12), ("maghreb", 10))):
        write_photo_folder(data / name, n=n, seed=i)
    models = tmp / "models"
    assert train(["--data", str(data), "--labels", "auto", "--balance", "class", "--holdout",
                  "0.4", "--steps", "3", "--out", str(tmp / "run"), "--export",
                  str(models / "mygroups"), *TINY]) == 0

    few = tmp / "few"
    write_photo_folder(few, n=16, seed=9)
    with open(few / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "age_group"])
        w.writerows([f"img_{i:03d}.jpg", ("child", "adult")[i % 2]] for i in range(16))
    assert train(["--data", str(few), "--labels", "age_group", "--holdout", "0.5", "--steps",
                  "2", "--init-from", str(models / "mygroups"), "--out", str(tmp / "tune"),
                  "--export", str(models / "tuned"), *TINY]) == 0

    small = ["--n", "8", "--memorisation-n", "4", "--pairs", "4", "--per-group", "8",
             "--group-pairs", "4", "--min-group-photos", "3", "--quiet"]
    assert evaluate(["--model", str(models / "mygroups"), *small]) == 0
    assert evaluate(["--model", str(models / "tuned"), *small]) == 0
    return models, json.loads((tmp / "run" / "data_report.json").read_text())


@pytest.mark.slow
def test_balanced_training_is_recorded_and_groups_named(groups_run):
    from gan.bundle import load_bundle

    models, report = groups_run
    card = load_bundle(models / "mygroups").card
    assert card["config"]["balance"] == "class"
    assert card["labels"]["groups"] == {"class": ["gulf", "levant", "maghreb"]}
    shares = {g: v["share_of_draws"] for g, v in card["data"]["balance"]["groups"]["class"].items()}
    assert shares == pytest.approx({"gulf": 1 / 3, "levant": 1 / 3, "maghreb": 1 / 3}, abs=0.04)
    assert report["balance"] == card["data"]["balance"]
    photos = {g: v["share_of_photos"] for g, v in report["balance"]["groups"]["class"].items()}
    assert photos["gulf"] > 0.5                                  # skewed as they come
    freq = card["labels"]["frequencies"]                         # the training photos' rows
    assert freq["rows"] == [[0, 0, 1], [0, 1, 0], [1, 0, 0]]
    assert sum(freq["counts"]) == card["data"]["train_images"]
    assert freq["counts"][2] / sum(freq["counts"]) == pytest.approx(photos["gulf"], abs=0.1)
    assert freq["draws"] == pytest.approx([1 / 3] * 3, abs=1e-3)  # faces: as training drew them

    tuned = load_bundle(models / "tuned")
    start = tuned.card["training"]["init_from"]
    assert start["labels"] == ["class=gulf", "class=levant", "class=maghreb"]
    assert sorted(start["started_fresh"]) == ["label_embed", "label_projection"]
    base = load_bundle(models / "mygroups")                       # 2 steps from the bundle:
    near = [np.abs(a - b).max() for a, b in zip(tuned.generator.get_layer("up8").get_weights(),
                                                 base.generator.get_layer("up8").get_weights())]
    assert max(near) < 0.05                                       # kept, barely moved


@pytest.mark.slow
def test_a_run_of_other_labels_starts_with_the_bundles_faces(groups_run):
    """Started from a bundle of other labels, the new generator first draws the bundle's faces
    for all-zero labels, whatever its own labels say; its discriminator, the bundle's
    without the label term."""
    from gan.bundle import load_bundle
    from gan.config import TrainConfig
    from gan.training.gan_model import DCGAN
    from gan.training.loop import init_from_bundle

    models, _ = groups_run
    base = load_bundle(models / "mygroups")
    cfg = TrainConfig.from_dict({**base.card["config"], "labels": "age_group"})
    model = DCGAN(cfg, n_labels=2)
    info = init_from_bundle(model, cfg, models / "mygroups", ["age_group=adult", "age_group=child"])
    assert sorted(info["started_fresh"]) == ["label_embed", "label_projection"]
    z = np.random.default_rng(0).standard_normal((4, 16)).astype("float32")
    want = np.asarray(base.generator([z, np.zeros((4, 3), "float32")], training=False))
    for y in ([1, 0], [0, 1]):
        got = np.asarray(model.ema_generator([z, np.tile(np.float32(y), (4, 1))], training=False))
        np.testing.assert_allclose(got, want, atol=1e-5)
    x = np.asarray(want * 0 + 0.1, "float32")
    np.testing.assert_allclose(
        np.asarray(model.discriminator([x, np.ones((4, 2), "float32")], training=False)),
        np.asarray(base.discriminator([x, np.zeros((4, 3), "float32")], training=False)), atol=1e-4)


@pytest.mark.slow
def test_evaluation_gives_every_group_and_the_weakest_beside_the_best(groups_run):
    models, _ = groups_run
    report = json.loads((models / "mygroups" / "evaluation" / "report.json").read_text())
    g = report["groups"]
    assert [(r["label"], r["group"]) for r in g["rows"]] == [
        ("class", "gulf"), ("class", "levant"), ("class", "maghreb")]
    measured = [r for r in g["rows"] if "skipped" not in r]
    assert measured and all(0 <= r["agreement"] <= 1 and r["swd"] > 0 for r in measured)
    assert g["summary"]["swd"]["weakest"] != g["summary"]["swd"]["best"] or len(measured) == 1
    assert 0 <= g["judge"]["labels"]["class"]["accuracy"] <= 1
    assert {"groups.png", "groups_faces.jpg"} <= set(report["figures"].values())
    card = json.loads((models / "mygroups" / "model.json").read_text())
    assert card["metrics"]["groups"]["swd"]["ratio"] >= 1


@pytest.mark.slow
def test_the_app_shows_a_choice_per_label_and_the_group_table(groups_run, monkeypatch):
    models, _ = groups_run
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(models))
    at = new_app()
    at.sidebar.selectbox(key="model").set_value("mygroups").run()
    at.switch_page("pages/generate.py").run()
    no_exceptions(at)
    choice = at.selectbox(key="label_class")
    assert choice.label == "Class" and choice.options == ["any", "gulf", "levant", "maghreb"]
    assert not [s for s in at.slider if s.key.startswith("attr_")]     # no 0-1 slider for a group
    choice.set_value("levant").run()
    no_exceptions(at)

    at.switch_page("pages/evaluate.py").run()
    no_exceptions(at)
    text = "\n".join(m.value for m in at.markdown)
    assert "Every group" in text
    cells = [str(v) for t in at.table for v in t.value.to_numpy().ravel()]
    assert any("class = " in c for c in cells)


@pytest.mark.slow
def test_the_blind_audit_takes_one_group(groups_run, tmp_path, capsys):
    from gan.audit import main as audit

    models, _ = groups_run
    out = tmp_path / "audit"
    assert audit(["sheet", "--model", str(models / "mygroups"), "--out", str(out), "--n", "3",
                  "--group", "class=gulf", "--quiet"]) == 0
    key = json.loads((out / "key.json").read_text())
    assert key["group"] == "class=gulf" and "--group class=gulf" in key["command"]
    real = [f["photo"] for f in key["faces"].values() if f["kind"] == "real"]
    assert len(real) == 3 and all(k.startswith("gulf/") for k in real)
    (out / "labels.csv").write_text("number,label\n" + "".join(
        f"{i},{'broken' if i % 2 else 'intact'}\n" for i in range(1, 7)))
    assert audit(["score", "--dir", str(out)]) == 0
    assert json.loads((out / "result.json").read_text())["group"] == "class=gulf"
    capsys.readouterr()
    assert audit(["sheet", "--model", str(models / "mygroups"), "--out", str(tmp_path / "x"),
                  "--group", "class=sahel", "--quiet"]) == 2
    assert "class has the groups gulf, levant, maghreb" in capsys.readouterr().err


def audited_per_group(models, tmp_path, broken: dict[str, int]):
    """A copy of models/mygroups with a 4 + 4 blind audit of each group in `broken` drawn,
    labelled (that many of its generated faces broken, the rest and every real photo intact),
    scored and recorded through the CLI; returns the copy's models folder."""
    import shutil

    from gan.audit import main as audit

    mine = tmp_path / "models"
    shutil.copytree(models / "mygroups", mine / "mygroups")
    for group, n_broken in broken.items():
        out = tmp_path / group
        assert audit(["sheet", "--model", str(mine / "mygroups"), "--out", str(out), "--n", "4",
                      "--group", group, "--quiet"]) == 0
        key = json.loads((out / "key.json").read_text())
        gen = sorted(int(k) for k, f in key["faces"].items() if f["kind"] == "generated")
        (out / "labels.csv").write_text("number,label\n" + "".join(
            f"{i},{'broken' if i in gen[:n_broken] else 'intact'}\n" for i in range(1, 9)))
        assert audit(["score", "--dir", str(out)]) == 0
        assert audit(["record", "--dir", str(out), "--model", str(mine / "mygroups")]) == 0
    return mine


@pytest.mark.slow
def test_each_groups_audit_is_kept_and_shown_beside_its_figures(groups_run, tmp_path, capsys,
                                                              monkeypatch):
    """Audits of two groups recorded with the bundle: each group's broken share in its row,
    the worse beside the better against the 1.5x target, the model's own audit untouched."""
    from gan.metrics import groups as per_group

    models, _ = groups_run
    broken = {"class=gulf": 1, "class=levant": 3}
    mine = audited_per_group(models, tmp_path, broken)
    for group in broken:
        assert (mine / "mygroups" / "audit-groups" / group / "sheet.jpg").is_file()
    capsys.readouterr()
    card = json.loads((mine / "mygroups" / "model.json").read_text())
    assert "audit" not in card or card["audit"] is None
    assert {k: v["generated"]["broken"] for k, v in card["audit_groups"].items()} == broken
    report = json.loads((mine / "mygroups" / "evaluation" / "report.json").read_text())
    rows = {r["group"]: r["broken (blind audit)"] for r in per_group.table(report["groups"], card)}
    assert rows == {"class = gulf": "1 of 4 (25%)", "class = levant": "3 of 4 (75%)",
                    "class = maghreb": "not audited"}
    (row,) = [r for r in per_group.weakest_and_best(report["groups"], card) if "blind audit" in r["figure"]]
    assert row["weakest"] == "class = levant: 75%" and row["best"] == "class = gulf: 25%"
    assert row["target"] == "weakest / best 3.00, target at most 1.5 (not met)"

    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(mine))
    at = new_app()
    at.sidebar.selectbox(key="model").set_value("mygroups").run()
    at.switch_page("pages/evaluate.py").run()
    no_exceptions(at)
    cells = [str(v) for t in at.table for v in t.value.to_numpy().ravel()]
    assert "3 of 4 (75%)" in cells and "class = levant: 75%" in cells


@pytest.mark.slow
def test_a_model_audited_only_per_group_answers_by_eye_from_those_audits(groups_run, tmp_path,
                                                                       monkeypatch):
    """No audit of the model as a whole, audits of its groups: the home table, the generate
    page and Model quality answer "by eye" from the groups' range, not silence."""
    from gan.metrics import explain

    models, _ = groups_run
    mine = audited_per_group(models, tmp_path, {"class=gulf": 4, "class=levant": 2})
    card = json.loads((mine / "mygroups" / "model.json").read_text())
    short, sentence = explain.by_eye(card)
    assert short == "Often not (50%-100% broken, per group)"
    assert "50% (class = levant) to 100% (class = gulf)" in sentence

    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(mine))
    at = new_app()
    at.sidebar.selectbox(key="model").set_value("mygroups").run()
    no_exceptions(at)
    cells = [str(v) for t in at.table for v in t.value.to_numpy().ravel()]
    assert short in cells
    at.switch_page("pages/generate.py").run()
    no_exceptions(at)
    assert any(short in str(c.value) for c in at.caption)
    at.switch_page("pages/evaluate.py").run()
    no_exceptions(at)
    assert any(short in m.value for m in at.markdown)
