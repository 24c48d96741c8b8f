"""`train.py --init-from models/NAME`: a run started from a bundle takes the bundle's network
shape unless told otherwise, so fine-tuning the shipped model needs no architecture options."""
from __future__ import annotations

import json

from tests.factories import make_tiny_bundle, write_photo_folder

SHAPE = ("resolution", "latent_dim", "g_channels", "g_max_channels", "d_channels",
         "d_max_channels", "extra_convs", "extra_convs_max_res")


def test_a_run_from_a_bundle_takes_its_architecture_unless_told(tmp_path, capsys):
    from gan.config import TrainConfig
    from train import main

    base = make_tiny_bundle(tmp_path / "models" / "wide", g_channels=16, extra_convs=1,
                            extra_convs_max_res=8)
    theirs = json.loads((base / "model.json").read_text())["config"]
    defaults = TrainConfig()
    assert theirs["g_channels"] != defaults.g_channels and theirs["extra_convs"] != defaults.extra_convs
    photos = write_photo_folder(tmp_path / "photos", n=12)
    common = ["--data", str(photos), "--init-from", str(base), "--steps", "0", "--batch-size", "8",
              "--crop", "center", "--precision", "float32", "--n-jobs", "1", "--no-progress",
              "--no-broken-figure"]

    assert main([*common, "--out", str(tmp_path / "tuned")]) == 0, capsys.readouterr().err
    ran = json.loads((tmp_path / "tuned" / "config.json").read_text())
    assert {k: ran[k] for k in SHAPE} == {k: theirs[k] for k in SHAPE}
    assert (tmp_path / "tuned" / "bundle" / "model.json").is_file()

    # an option given on the command line, or in a --config file, is kept: then refused
    assert main([*common, "--extra-convs", "0", "--out", str(tmp_path / "told")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "extra_convs" in err and "Traceback" not in err
    conf = tmp_path / "narrow.json"
    conf.write_text(json.dumps({"g_channels": defaults.g_channels}))
    assert main([*common, "--config", str(conf), "--out", str(tmp_path / "file")]) == 2
    assert "g_channels" in capsys.readouterr().err
    assert not (tmp_path / "told" / "checkpoint.npz").exists()


def test_a_bundle_grows_an_attention_block_and_first_draws_its_own_faces(tmp_path, capsys):
    """`--attention-res` on a run from a bundle without the block: every layer the bundle has
    is copied, the block starts at zero, so the grown model's first faces are the bundle's; the
    grown bundle loads like any other and cannot start a run without the block again."""
    import numpy as np

    from gan.bundle import load_bundle
    from gan.sampling import generate
    from train import main

    base = make_tiny_bundle(tmp_path / "models" / "plain", seed=3)
    photos = write_photo_folder(tmp_path / "photos", n=12)
    common = ["--data", str(photos), "--steps", "0", "--batch-size", "8", "--crop", "center",
              "--precision", "float32", "--n-jobs", "1", "--no-progress", "--no-broken-figure"]
    out = tmp_path / "grown"
    assert main([*common, "--init-from", str(base), "--attention-res", "8", "--out", str(out)]) == 0
    assert "attn8" in capsys.readouterr().err

    grown, plain = load_bundle(out / "bundle"), load_bundle(base)
    g_layers = {layer.name for layer in grown.generator.layers}
    d_layers = {layer.name for layer in grown.discriminator.layers}
    assert {"attn8", "attn8_out"} <= g_layers and {"attn8", "attn8_out"} <= d_layers
    np.testing.assert_allclose(generate(grown, 6, seed=5), generate(plain, 6, seed=5), atol=1e-5)
    card = json.loads((out / "bundle" / "model.json").read_text())
    assert card["config"]["attention_res"] == 8
    assert sorted(card["training"]["init_from"]["started_fresh"]) == ["attn8", "attn8", "attn8_out", "attn8_out"]

    # the block cannot be dropped: a run without it from the grown bundle is refused
    assert main([*common, "--init-from", str(out / "bundle"), "--attention-res", "0",
                 "--out", str(tmp_path / "shrunk")]) == 2
    err = capsys.readouterr().err
    assert "attention_res 8 vs 0" in err and "Traceback" not in err


def test_attention_needs_a_resolution_inside_the_networks():
    import pytest

    from gan.config import ConfigError
    from tests.factories import tiny_config

    assert tiny_config(attention_res=16).attention_res == 16
    with pytest.raises(ConfigError, match="attention_res.*power of two"):
        tiny_config(attention_res=12)
    with pytest.raises(ConfigError, match="at most half the resolution"):
        tiny_config(attention_res=32)
