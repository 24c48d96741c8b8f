"""A conditional bundle's faces each get a label row as the training photos have them (the
card's label frequencies), not the neutral 0.5 no photo has: drawn per face from the seed's own
stream, so face i keeps its labels whatever the count, the shard or the start; named labels
hold on every face and the others are drawn as photos with those values have them; a slider
moves each face from its own labels. Cards without frequencies keep the neutral row."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gan import sampling
from gan.bundle import load_bundle
from gan.card import MAX_FREQUENCY_ROWS, frequencies_section, label_frequencies, make_card
from gan.card_schema import problems
from tests.factories import make_tiny_bundle, tiny_config

# male, smiling of 100 pretend training photos
ROWS = np.array([[0, 0]] * 50 + [[1, 0]] * 30 + [[1, 1]] * 15 + [[0, 1]] * 5, np.float32)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    path = make_tiny_bundle(tmp_path_factory.mktemp("drawn") / "b",
                            label_names=["male", "smiling"], label_rows=ROWS)
    return load_bundle(path)


def test_the_card_keeps_each_distinct_row_and_how_many_photos_had_it():
    card = make_card(tiny_config(), label_names=["male", "smiling"], label_rows=ROWS)
    freq = card["labels"]["frequencies"]
    assert freq["rows"] == [[0, 0], [0, 1], [1, 0], [1, 1]] and freq["counts"] == [50, 5, 30, 15]
    assert not [p for p in problems(card) if "labels" in p]
    rows, counts = label_frequencies(json.loads(json.dumps(card)))     # as read from disk
    assert rows.tolist() == freq["rows"] and counts.tolist() == [50, 5, 30, 15]
    damaged = json.loads(json.dumps(card))
    damaged["labels"]["frequencies"]["rows"][1] = [0]                 # a row of the wrong width
    assert label_frequencies(damaged) is None
    assert label_frequencies({"labels": {"names": ["male"]}}) is None  # cards from before
    many = np.random.default_rng(0).random((3 * MAX_FREQUENCY_ROWS, 1))   # numbers: no table
    assert frequencies_section(many, 1) is None
    assert "frequencies" not in make_card(tiny_config(), label_names=["age"],
                                          label_rows=many)["labels"]


def test_faces_get_photo_rows_as_often_as_photos_have_them(bundle):
    y = sampling.label_matrix(bundle, 4000, None, seed=3)
    rows, counts = np.unique(y, axis=0, return_counts=True)
    assert rows.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]           # never 0.5
    assert np.allclose(counts / 4000, [0.50, 0.05, 0.30, 0.15], atol=0.025)


def test_face_i_keeps_its_labels_whatever_the_count_or_start(bundle):
    whole = sampling.label_matrix(bundle, 40, None, seed=9)
    assert np.array_equal(sampling.label_matrix(bundle, 10, None, seed=9), whole[:10])
    assert np.array_equal(sampling.label_matrix(bundle, 15, None, seed=9, start=25), whole[25:])
    assert not np.array_equal(sampling.label_matrix(bundle, 40, None, seed=10), whole)


def test_named_labels_hold_and_the_rest_come_as_photos_with_them_have_them(bundle):
    y = sampling.label_matrix(bundle, 3000, {"male": 1.0}, seed=1)
    assert np.all(y[:, 0] == 1.0)
    assert abs(y[:, 1].mean() - 15 / 45) < 0.04                        # smiling among men: 1/3
    y = sampling.label_matrix(bundle, 3000, {"male": 0.7}, seed=1)     # no photo has 0.7
    assert np.all(y[:, 0] == np.float32(0.7)) and abs(y[:, 1].mean() - 0.20) < 0.03


def test_toward_moves_each_face_from_its_own_labels(bundle):
    own = sampling.label_matrix(bundle, 50, None, seed=2)
    y = sampling.label_matrix(bundle, 50, None, seed=2, toward={"smiling": (1.0, 0.25)})
    assert np.array_equal(y[:, 0], own[:, 0])
    assert np.allclose(y[:, 1], own[:, 1] + 0.25 * (1.0 - own[:, 1]))
    ends = sampling.label_matrix(bundle, 50, None, seed=2, toward={"smiling": (0.0, 1.0)})
    assert np.all(ends[:, 1] == 0.0)


def test_without_frequencies_or_seed_every_face_gets_the_neutral_row(bundle, tmp_path):
    old = load_bundle(make_tiny_bundle(tmp_path / "old", label_names=["male", "smiling"]))
    assert np.all(sampling.label_matrix(old, 5, None, seed=3) == 0.5)
    assert np.all(sampling.label_matrix(bundle, 5, None) == 0.5)
    assert np.array_equal(sampling.neutral_labels(bundle), [0.5, 0.5])
    with pytest.raises(ValueError, match="unknown labels"):
        sampling.label_matrix(bundle, 1, None, seed=1, toward={"young": (1.0, 1.0)})


def test_a_one_hot_group_is_drawn_whole_and_a_named_class_excludes_the_others(tmp_path):
    rows = np.eye(3, dtype=np.float32)[[0] * 6 + [1] * 3 + [2]]
    b = load_bundle(make_tiny_bundle(tmp_path / "g", label_names=["g=a", "g=b", "g=c"],
                                     label_rows=rows))
    y = sampling.label_matrix(b, 200, None, seed=0)
    assert np.all(y.sum(axis=1) == 1.0) and set(y.argmax(axis=1)) == {0, 1, 2}
    assert np.all(sampling.label_matrix(b, 20, {"g=c": 1.0}, seed=0) == [0, 0, 1])
    assert np.allclose(sampling.neutral_labels(b), [1 / 3] * 3)


def test_generate_and_the_morph_give_each_face_its_drawn_labels(bundle):
    d = bundle.latent_dim
    y = sampling.label_matrix(bundle, 6, None, seed=4)
    assert len(np.unique(y, axis=0)) > 1
    expected = sampling.generate_from_latents(bundle, sampling.latents(4, 6, d), y)
    assert np.array_equal(sampling.generate(bundle, 6, seed=4), expected)
    frames = sampling.interpolate(bundle, 4, 5, frames=3)
    ends = [sampling.generate_from_latents(bundle, sampling.latents(s, 1, d),
                                           sampling.label_matrix(bundle, 1, None, seed=s))[0]
            for s in (4, 5)]
    for frame, end in zip(frames[[0, -1]], ends):           # its ends are the two seeds' faces
        assert np.abs(frame.astype(int) - end.astype(int)).max() <= 1


def test_the_evaluation_measures_the_faces_the_app_shows(bundle, tmp_path):
    from gan.metrics.evaluate import evaluation_labels, generate_faces, labels_note

    assert np.array_equal(generate_faces(bundle, 6, seed=0), sampling.generate(bundle, 6, seed=0))
    assert labels_note(bundle).startswith("drawn per face")
    old = load_bundle(make_tiny_bundle(tmp_path / "old", label_names=["male", "smiling"]))
    assert labels_note(old) == "random 0/1 per attribute"      # old cards: figures comparable
    assert set(np.unique(evaluation_labels(old, 20, 0))) == {0, 1}


def test_a_balanced_run_draws_labels_as_its_training_drew_them(tmp_path):
    """--balance draws every group equally often in training; the card keeps those shares
    beside the photos' counts, and faces are drawn by them."""
    from gan.card import drawn_as
    from gan.data.balance import balance_weights

    rows = np.eye(2, dtype=np.float32)[[0] * 90 + [1] * 10]          # 90% a, 10% b
    weights = balance_weights([(rows.argmax(axis=1), ["a", "b"])])
    card = make_card(tiny_config(), label_names=["g=a", "g=b"], label_rows=rows,
                     label_weights=weights)
    freq = card["labels"]["frequencies"]
    assert freq["counts"] == [10, 90] and freq["draws"] == [0.5, 0.5]   # rows sorted: b, a
    assert not [p for p in problems(card) if "labels" in p]
    assert drawn_as(card).startswith("as the balanced training drew them")
    b = load_bundle(make_tiny_bundle(tmp_path / "bal", label_names=["g=a", "g=b"],
                                     label_rows=rows))
    assert drawn_as(b.card) == "as the training photos have them"
    from gan.bundle import update_card
    update_card(b.path, labels=card["labels"])
    y = sampling.label_matrix(load_bundle(b.path), 2000, None, seed=0)
    assert abs(y[:, 1].mean() - 0.5) < 0.04                            # not 0.1


def test_a_shard_far_into_a_seed_gets_the_rows_a_whole_run_would(bundle):
    """Faces 100,000 on of a seed: the labels' stream is skipped, not drawn and dropped."""
    whole = sampling.label_matrix(bundle, 100_010, None, seed=4)
    assert np.array_equal(sampling.label_matrix(bundle, 10, None, seed=4, start=100_000),
                          whole[100_000:])
