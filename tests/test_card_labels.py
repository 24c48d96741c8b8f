"""Label kinds in the card: a run records each label's kind, one helper reads it, and cards
from before kinds were recorded still read by the old name rule."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gan.card import label_groups, label_kinds, make_card
from gan.card_schema import problems
from tests.factories import tiny_config


def test_make_card_records_kinds_and_the_schema_accepts_them():
    names = ["male", "class=a", "class=b", "age"]
    card = make_card(tiny_config(), label_names=names,
                     label_kinds=["binary", "onehot", "onehot", "numeric"])
    assert card["labels"] == {"names": names, "kinds": ["binary", "onehot", "onehot", "numeric"],
                              "groups": {"class": ["a", "b"]}}
    assert label_kinds(card) == ["binary", "onehot", "onehot", "numeric"]
    assert label_groups(card) == {"class": [1, 2]}
    assert not [p for p in problems(card) if "labels" in p]
    bad = json.loads(json.dumps(card))
    bad["labels"]["kinds"][0] = "colour"
    assert any("labels" in p for p in problems(bad))
    with pytest.raises(ValueError):
        make_card(tiny_config(), label_names=names, label_kinds=["binary"])


def test_recorded_kinds_win_over_the_names():
    card = {"labels": {"names": ["size=big", "smiling"], "kinds": ["numeric", "binary"]}}
    assert label_kinds(card) == ["numeric", "binary"] and label_groups(card) == {}


def test_older_cards_fall_back_to_the_name_rule():
    older = {"labels": {"names": ["male", "smiling"]}}   # models/default's card until 2026-12-06
    assert label_kinds(older) == ["binary", "binary"]
    old = {"labels": {"names": ["male", "hair=dark", "hair=fair"]}}
    assert label_kinds(old) == ["binary", "onehot", "onehot"]
    assert label_groups(old) == {"hair": [1, 2]}
    assert label_kinds({}) == [] and label_groups({}) == {}


def test_evaluation_labels_follow_the_recorded_kinds():
    from types import SimpleNamespace

    from gan.metrics.evaluate import random_labels

    card = {"labels": {"names": ["hair=dark", "hair=fair", "smiling"],
                       "kinds": ["onehot", "onehot", "binary"]}}
    bundle = SimpleNamespace(card=card, label_names=card["labels"]["names"])
    y = random_labels(bundle, 50, seed=0)
    assert np.all(y[:, :2].sum(axis=1) == 1) and set(np.unique(y[:, 2])) <= {0.0, 1.0}
