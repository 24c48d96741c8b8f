"""Bundles: round trip, and refusal of damaged or mismatched ones with a clear message."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gan.bundle import BundleError, load_bundle, update_card
from gan.sampling import generate, interpolate
from tests.factories import make_tiny_bundle


def test_round_trip_same_faces(tmp_path):
    path = make_tiny_bundle(tmp_path / "b")
    a, b = load_bundle(path), load_bundle(path)
    fa, fb = generate(a, 6, seed=3), generate(b, 6, seed=3)
    assert fa.shape == (6, 32, 32, 3) and fa.dtype == np.uint8
    assert np.array_equal(fa, fb)
    assert np.array_equal(generate(a, 2, seed=3), fa[:2])       # prefix-stable
    assert not np.array_equal(generate(a, 6, seed=4), fa)
    assert interpolate(a, 1, 2, frames=5).shape == (5, 32, 32, 3)


def test_truncated_model_file_is_refused(tmp_path):
    path = make_tiny_bundle(tmp_path / "b")
    f = path / "generator.keras"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(BundleError, match="truncated"):
        load_bundle(path)


def test_replaced_model_file_is_refused(tmp_path):
    path = make_tiny_bundle(tmp_path / "b")
    other = make_tiny_bundle(tmp_path / "c", seed=1)
    (path / "discriminator.keras").write_bytes((other / "discriminator.keras").read_bytes())
    with pytest.raises(BundleError, match="SHA-256|bytes"):
        load_bundle(path)


def test_missing_and_bad_cards(tmp_path):
    with pytest.raises(BundleError, match="No model bundle"):
        load_bundle(tmp_path / "none")
    path = make_tiny_bundle(tmp_path / "b")
    (path / "model.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(path)


def test_card_that_does_not_match_models_is_refused(tmp_path):
    path = make_tiny_bundle(tmp_path / "b")
    card = json.loads((path / "model.json").read_text())
    card["preprocessing"]["size"] = 128
    (path / "model.json").write_text(json.dumps(card))
    with pytest.raises(BundleError, match="card says 128"):
        load_bundle(path)


def test_update_card_keeps_bundle_loadable(tmp_path):
    path = make_tiny_bundle(tmp_path / "b")
    update_card(path, metrics={"swd": 12.5})
    assert load_bundle(path).card["metrics"]["swd"] == 12.5


def test_conditional_bundle_takes_labels(tmp_path):
    b = load_bundle(make_tiny_bundle(tmp_path / "b", label_names=["male", "smiling"]))
    smiling = generate(b, 2, seed=0, labels={"smiling": 1.0})
    frowning = generate(b, 2, seed=0, labels={"smiling": 0.0})
    assert smiling.shape == (2, 32, 32, 3) and not np.array_equal(smiling, frowning)
    with pytest.raises(ValueError, match="unknown labels"):
        generate(b, 1, labels={"age": 3})


def test_card_schema_is_valid_and_agrees_with_the_code():
    import jsonschema

    from gan import card_schema
    from gan.data.preprocess import CROP_MODES

    jsonschema.Draft202012Validator.check_schema(card_schema.SCHEMA)
    assert sorted(card_schema.CROP_MODES) == sorted(CROP_MODES)


def test_every_card_section_the_code_reads_is_declared_in_the_schema():
    # The schema is only a guard if it covers what the code reads: a read of a section it does
    # not declare would fail on a malformed card with a KeyError again.
    import re
    from pathlib import Path

    from gan import card_schema

    repo = Path(__file__).resolve().parent.parent
    sources = [*repo.glob("gan/**/*.py"), *repo.glob("app_support/*.py"), *repo.glob("pages/*.py"),
               repo / "app.py"]
    read = re.compile(r"""card(?:\.get\(|\[)\s*["'](\w+)["']""")
    sections = {m for f in sources for m in read.findall(f.read_text())}
    assert {"config", "preprocessing", "files", "detector"} <= sections     # the scan works
    assert sections <= set(card_schema.SCHEMA["properties"]), \
        sections - set(card_schema.SCHEMA["properties"])


def test_a_card_with_many_problems_names_the_first_three_and_counts_the_rest(tmp_path):
    path = make_tiny_bundle(tmp_path / "b")
    card = json.loads((path / "model.json").read_text())
    card.update(config=[], files=[], labels=3, preprocessing={})
    (path / "model.json").write_text(json.dumps(card))
    with pytest.raises(BundleError) as e:
        load_bundle(path)
    assert ("model.json: config must be an object ({...}), not a list ([...]); files must be an "
            "object ({...}), not a list ([...]); labels must be an object ({...}), not a whole "
            "number (3) (and 1 more).") in str(e.value)


def test_model_files_hold_half_precision_weights_and_load_as_float32(tmp_path):
    """Bundles store float16 weights (half the bytes: models/ has a 60 MB limit) and load as
    float32 models whose faces and logits are those of the model that was saved, to about one
    level in 255."""
    import zipfile

    import keras

    from gan.bundle import save_bundle
    from gan.card import make_card
    from gan.data.preprocess import to_uint8
    from gan.models import build_discriminator, build_generator
    from tests.factories import tiny_config

    keras.utils.set_random_seed(1)
    cfg = tiny_config(labels="a")
    g, d = build_generator(cfg, 1, dtype="float32"), build_discriminator(cfg, 1, dtype="float32")
    path = save_bundle(tmp_path / "b", g, d, make_card(cfg, label_names=["a"], step=0,
                                                       data={"source": "none (test)"}))
    with zipfile.ZipFile(path / "generator.keras") as zf:
        assert "float16" in zf.read("config.json").decode()
    raw = keras.models.load_model(path / "generator.keras", safe_mode=True, compile=False)
    assert {w.dtype for w in raw.weights} == {"float16"}
    f32 = tmp_path / "g32.keras"
    g.save(f32)
    assert (path / "generator.keras").stat().st_size < 0.7 * f32.stat().st_size

    b = load_bundle(path)
    assert {w.dtype for w in b.generator.weights + b.discriminator.weights} == {"float32"}
    z = np.random.default_rng(0).standard_normal((8, cfg.latent_dim)).astype("float32")
    y = np.full((8, 1), 0.5, "float32")
    saved = to_uint8(np.asarray(g([z, y], training=False))).astype(int)
    loaded = to_uint8(np.asarray(b.generator([z, y], training=False))).astype(int)
    assert np.abs(saved - loaded).max() <= 2 and np.abs(saved - loaded).mean() < 0.5
    x = np.random.default_rng(1).uniform(-1, 1, (8, cfg.resolution, cfg.resolution, 3)).astype("float32")
    logit_saved = np.asarray(d([x, y], training=False))
    logit_loaded = np.asarray(b.discriminator([x, y], training=False))
    assert np.abs(logit_saved - logit_loaded).max() < 0.01
    assert not np.array_equal(logit_saved, logit_loaded)    # it was rounded, not kept float32
