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
