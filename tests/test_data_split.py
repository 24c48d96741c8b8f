"""The one train / held-out split: rebuilt from a card it gives the run's own parts, the
card's fraction (0 when absent) is the only default, and a missing source says so."""
from __future__ import annotations

from pathlib import Path

import pytest

from gan.data import load_faces
from gan.data.split import Split, resolve_source
from tests.factories import tiny_config, write_photo_folder


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return write_photo_folder(tmp_path_factory.mktemp("split") / "photos", n=24)


def _card(source, **config) -> dict:
    return {"config": config, "data": {"source": str(source)},
            "preprocessing": {"size": 32, "crop": "center"}}


def test_card_split_rebuilds_the_runs_parts(photos):
    cfg = tiny_config(data=str(photos), holdout_fraction=0.4, seed=3)
    run = Split.from_config(cfg).load()
    card = Split.from_card(_card(photos, holdout_fraction=0.4, seed=3)).load()
    assert run.train.keys == card.train.keys and run.heldout.keys == card.heldout.keys
    assert len(card.train) + len(card.heldout) == 24 and len(card.heldout) >= 2
    direct = load_faces(photos, size=32, crop="center", progress=False).split(0.4, 3)
    assert [d.keys for d in direct] == [card.train.keys, card.heldout.keys]


def test_the_cards_fraction_is_the_only_default(photos):
    split = Split.from_card(_card(photos))
    assert split.holdout_fraction == 0 and "holdout 0" in split.why_no_heldout()
    parts = split.load()
    assert parts.heldout is None and len(parts.train) == 24


def test_a_missing_source_is_named(tmp_path):
    assert resolve_source(None) is None and resolve_source(str(tmp_path / "nope")) is None
    split = Split.from_card(_card(tmp_path / "nope", holdout_fraction=0.2))
    assert split.path is None and "no training data" in split.why_no_heldout()
    with pytest.raises(FileNotFoundError):
        split.load()
