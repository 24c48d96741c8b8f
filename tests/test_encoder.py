"""The projection's encoder (`gan.encoder`, `gan.encoder_fit`, `python -m gan.project fit`) on
tiny bundles: fitted and stored like every bundle file (listed in the card with size and
SHA-256, the card still valid), used as the projection's start when present, ignored with a
reason when turned off, damaged or fitted to another generator."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from gan import project as cli
from gan.bundle import load_bundle, read_card, update_card, verify_files
from gan.card_schema import problems
from gan.encoder import FILE, load_encoder
from gan.encoder_fit import fit_encoder
from gan.projection import Projector
from gan.sampling import generate_from_latents, latents
from tests.factories import draw_face, make_tiny_bundle
from tests.test_projection import _calibrate

FIT = ["--faces", "256", "--epochs", "2"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A conditional tiny bundle with an encoder fitted by the command line."""
    path = make_tiny_bundle(tmp_path_factory.mktemp("enc") / "cond", label_names=["male", "smiling"],
                            crop="center", seed=2)
    assert cli.main(["fit", "--model", str(path), *FIT]) == 0
    return path


def test_fit_stores_the_encoder_as_a_listed_bundle_file(fitted, capsys):
    card = read_card(fitted)                      # the card still fits its schema
    assert problems(card) == []
    entry = card["files"][FILE]
    assert entry["bytes"] == (fitted / FILE).stat().st_size and len(entry["sha256"]) == 64
    verify_files(fitted, card)                    # every listed file, the encoder included
    section = card["projection"]["encoder"]
    assert section["file"] == FILE and section["faces"] == 256 and section["epochs"] == 2
    assert section["generator_sha256"] == card["files"]["generator.keras"]["sha256"]
    assert 0 <= section["label_accuracy"] <= 1 and section["seconds"] > 0
    assert -10 < section["z_r2"] <= 1
    enc, note = load_encoder(load_bundle(fitted))
    assert note is None
    z, logits = enc.guess(np.zeros((3, 32, 32, 3), np.float32))
    assert z.shape == (3, 16) and logits.shape == (3, 2)


def test_projection_starts_from_the_encoder_unless_told_not_to(fitted, tmp_path, capsys):
    bundle = load_bundle(fitted)
    face = np.asarray(draw_face(32, 32, seed=3))
    r = Projector(bundle).project(face, steps=4)
    assert r.start == "encoder" and r.start_note is None
    off = Projector(bundle, use_encoder=False).project(face, steps=4)
    assert off.start == "mean" and "turned off" in off.start_note
    photo = tmp_path / "me.jpg"
    draw_face(96, 96, seed=1).save(photo)
    assert cli.main(["--model", str(fitted), str(photo), "--out", str(tmp_path / "a"),
                     "--steps", "3"]) == 0
    assert "encoder's guess" in capsys.readouterr().err
    assert json.loads((tmp_path / "a" / "projections.json").read_text())["start"] == "encoder"
    assert cli.main(["--model", str(fitted), str(photo), "--out", str(tmp_path / "b"),
                     "--steps", "3", "--no-encoder"]) == 0
    doc = json.loads((tmp_path / "b" / "projections.json").read_text())
    assert doc["start"] == "mean latent" and "turned off" in doc["start_note"]


def test_the_encoder_guesses_the_generators_own_faces_better_than_the_mean(tmp_path):
    """Fitted a little longer on a tiny unconditional bundle (its BatchNorm statistics set as
    training would, or every z gives the same flat face): its first guess of faces it never
    saw is closer than the mean latent's face, for most of them."""
    bundle = load_bundle(make_tiny_bundle(tmp_path / "tiny", crop="center", seed=4))
    _calibrate(bundle.generator, bundle.latent_dim)
    fit_encoder(bundle, faces=1024, epochs=6)
    bundle.card = read_card(bundle.path)
    faces = generate_from_latents(bundle, latents(777, 16, bundle.latent_dim))
    with_enc, without = Projector(bundle), Projector(bundle, use_encoder=False)
    assert with_enc.encoder is not None
    closer = sum(with_enc.project(f, steps=1).history[0]["total"]
                 < without.project(f, steps=1).history[0]["total"] for f in faces)
    assert closer >= 12, closer


def test_a_model_without_an_encoder_says_how_to_fit_one(tmp_path, capsys):
    path = make_tiny_bundle(tmp_path / "plain", crop="center")
    p = Projector(load_bundle(path))
    assert p.encoder is None and "no encoder" in p.start_note and "gan.project fit" in p.start_note
    photo = tmp_path / "me.jpg"
    draw_face(96, 96).save(photo)
    assert cli.main(["--model", str(path), str(photo), "--out", str(tmp_path / "o"),
                     "--steps", "2"]) == 0
    assert "mean latent: this model has no encoder" in capsys.readouterr().err


def test_a_damaged_or_stale_encoder_is_not_used_and_says_why(fitted, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(fitted, damaged)
    (damaged / FILE).write_bytes((damaged / FILE).read_bytes()[:1000])
    enc, note = load_encoder(load_bundle(damaged))     # the model files still load
    assert enc is None and "encoder cannot be used" in note and "bytes" in note
    r = Projector(load_bundle(damaged)).project(np.zeros((32, 32, 3), np.uint8), steps=2)
    assert r.start == "mean" and r.start_note == note

    stale = tmp_path / "stale"
    shutil.copytree(fitted, stale)
    card = read_card(stale)
    update_card(stale, projection={"encoder": {**card["projection"]["encoder"],
                                               "generator_sha256": "0" * 64}})
    enc, note = load_encoder(load_bundle(stale))
    assert enc is None and "another generator" in note


def test_fit_usage_errors_exit_2(tmp_path, capsys):
    assert cli.main(["fit", "--model", str(tmp_path / "nope")]) == 2
    assert "error:" in capsys.readouterr().err
    path = make_tiny_bundle(tmp_path / "tiny", crop="center")
    for bad in (["--faces", "10"], ["--epochs", "0"]):
        with pytest.raises(SystemExit) as e:
            cli.main(["fit", "--model", str(path), *bad])
        assert e.value.code == 2
    assert FILE not in read_card(path)["files"]
