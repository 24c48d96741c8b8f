"""Balanced sampling (`train.py --balance`): on a skewed tiny data set the training pipeline
draws each group equally often, for one label exactly and for several at once; without it the
skew stays; a resumed run sees the same batches; labels that cannot be balanced are refused."""
from __future__ import annotations

import numpy as np
import pytest

from gan.data import load_faces
from gan.data.balance import (BalanceError, balance_names, balance_report, balance_weights,
                              codes_of, sampling_index)
from tests.factories import write_photo_folder


@pytest.fixture(scope="module")
def skewed(tmp_path_factory):
    """36 photos of class "many", 4 of class "few" (subfolders: `--labels auto`)."""
    root = tmp_path_factory.mktemp("skewed")
    write_photo_folder(root / "many", n=36, seed=1)
    write_photo_folder(root / "few", n=4, seed=2)
    return load_faces(root, size=16, crop="center", labels="auto", n_jobs=1, cache_dir=False,
                      progress=False)


def _drawn_labels(data, steps=60, batch=8, index=None):
    from gan.data.pipeline import make_dataset

    ds = make_dataset(data.images, data.labels, batch, seed=3, index=index)
    return np.concatenate([y.numpy() for _, y in ds.take(steps)])


def test_the_pipeline_draws_a_skewed_set_evenly(skewed):
    assert skewed.label_names == ["class=few", "class=many"]
    plain = _drawn_labels(skewed)
    assert plain[:, 0].mean() == pytest.approx(0.1, abs=0.01)    # 4 of 40, as they come

    codes = codes_of(skewed, balance_names("class"))
    index = sampling_index(balance_weights(codes), seed=0)
    assert len(index) == 40 and np.bincount(codes[0][0][index]).tolist() == [20, 20]
    balanced = _drawn_labels(skewed, index=index)
    assert balanced[:, 0].mean() == pytest.approx(0.5, abs=0.01)  # whole epochs: exactly even
    report = balance_report(codes, ["class"], index)
    assert report["groups"]["class"]["few"] == {"photos": 4, "share_of_photos": 0.1,
                                                "share_of_draws": 0.5}
    assert report["max_draws_per_photo_vs_uniform"] == 5.0      # each "few" photo 5 times

    from gan.data.pipeline import batch_indices, make_dataset
    resumed = make_dataset(skewed.images, skewed.labels, 8, seed=3, start_step=7, index=index)
    x7 = next(iter(resumed))[0].numpy()
    idx7 = batch_indices(40, 8, 3, 7, index=index)
    assert np.array_equal(skewed.labels[idx7], next(iter(resumed))[1].numpy())
    full = make_dataset(skewed.images, skewed.labels, 8, seed=3, index=index)
    assert np.array_equal(list(full.skip(7).take(1))[0][0].numpy(), x7)


def test_several_labels_are_balanced_together():
    rng = np.random.default_rng(0)
    n = 2000
    a = (rng.random(n) < 0.08).astype(int)                          # 8% / 92%
    b = np.where(a == 1, rng.random(n) < 0.7, rng.random(n) < 0.2).astype(int)   # tied to a
    c = np.minimum(rng.geometric(0.6, n) - 1, 3)                     # 4 groups, 60/24/10/6%
    codes = [(a, ["x", "y"]), (b, ["p", "q"]), (c, ["0", "1", "2", "3"])]
    index = sampling_index(balance_weights(codes), seed=1, length=8000)
    for (code, groups) in codes:
        shares = np.bincount(code[index], minlength=len(groups)) / len(index)
        assert np.allclose(shares, 1 / len(groups), atol=0.002), shares


def test_what_cannot_be_balanced_is_refused(skewed):
    with pytest.raises(BalanceError, match="not conditioned on it.*class"):
        codes_of(skewed, ["ethnicity"])
    numeric = type(skewed)(**{**skewed.__dict__, "label_info": {
        "class": {"kind": "numeric", "columns": ["class=few"]}}})
    with pytest.raises(BalanceError, match="a number"):
        codes_of(numeric, ["class"])
    unlabelled = type(skewed)(**{**skewed.__dict__, "labels": None})
    with pytest.raises(BalanceError, match="--labels"):
        codes_of(unlabelled, ["class"])
