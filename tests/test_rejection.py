"""Discriminator rejection sampling: faces kept in proportion to the discriminator's logit,
the same faces for a seed whatever the count, and a clear refusal when too few are kept."""
from __future__ import annotations

import numpy as np
import pytest

from gan import rejection
from gan.bundle import load_bundle
from gan.sampling import generate, label_matrix
from tests.factories import make_tiny_bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A tiny bundle whose discriminator's logits spread over a few units, as a trained one's
    do (an untrained one's differ by thousandths: rejection would keep faces at random)."""
    b = load_bundle(make_tiny_bundle(tmp_path_factory.mktemp("b") / "b", label_names=["a"]))
    layer = b.discriminator.get_layer("logit")
    layer.set_weights([w * 1000 for w in layer.get_weights()])
    return b


def test_probability_rises_with_the_logit_and_the_percentile_sets_how_many_are_kept(bundle):
    r = rejection.calibrate(bundle, percentile=95, burn_in=256)
    d = np.linspace(r.max_logit - 3, r.max_logit + 1, 50)
    p = rejection.accept_probability(d, r)
    assert np.all(np.diff(p) >= 0) and 0 <= p.min() and p.max() <= 1
    assert p[-1] > 0.99                     # above the burn-in's highest: kept
    looser = rejection.calibrate(bundle, percentile=50, burn_in=256)
    assert looser.max_logit == r.max_logit  # the same burn-in faces
    assert looser.acceptance > r.acceptance
    with pytest.raises(rejection.RejectionError, match="percentile"):
        rejection.calibrate(bundle, percentile=100)


def test_kept_faces_are_their_rows_faces_the_same_for_any_count_and_more_real(bundle):
    r = rejection.calibrate(bundle, labels={"a": 1.0}, burn_in=256)
    faces, rows, drawn = rejection.sample(bundle, 12, seed=5, labels={"a": 1.0}, rejection=r)
    assert faces.shape[0] == 12 and faces.dtype == np.uint8
    assert np.all(np.diff(rows) > 0) and drawn >= rows[-1] + 1
    plain = generate(bundle, drawn, seed=5, labels={"a": 1.0})
    assert np.array_equal(faces, plain[rows])               # row r's face, untouched
    fewer, fewer_rows, _ = rejection.sample(bundle, 5, seed=5, labels={"a": 1.0}, rejection=r)
    assert np.array_equal(fewer, faces[:5]) and np.array_equal(fewer_rows, rows[:5])
    m = rows[-1] + 1                                        # the candidates looked at
    d = rejection.logits(bundle, plain[:m], label_matrix(bundle, m, {"a": 1.0}))
    kept = np.isin(np.arange(m), rows)
    assert d.std() > 0.5
    assert d[kept].mean() - d[~kept].mean() > 0.5 * d.std()   # kept: the more real ones


def test_too_few_kept_is_refused_with_a_message(bundle):
    r = rejection.calibrate(bundle, burn_in=256)
    with pytest.raises(rejection.RejectionError, match="fewer than the 500 asked for"):
        rejection.sample(bundle, 500, seed=0, rejection=r, max_candidates=128)
