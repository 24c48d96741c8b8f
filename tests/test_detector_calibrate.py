"""gan.detector.calibrate: Platt scaling, thresholds for a stated false-positive rate, AUC and
reliability, checked against known answers."""
from __future__ import annotations

import numpy as np
import pytest

from gan.detector import calibrate


def test_platt_recovers_known_parameters_and_maps_monotonically_into_0_1():
    rng = np.random.default_rng(0)
    s = rng.normal(0, 2, 20_000)
    y = (rng.random(len(s)) < 1 / (1 + np.exp(-(1.5 * s - 0.5)))).astype(int)
    # Weighted to balance the classes, the intercept moves by log(n_neg / n_pos).
    a, b = calibrate.platt_fit(s, y)
    shift = np.log((y == 0).sum() / (y == 1).sum())
    assert a == pytest.approx(1.5, abs=0.1) and b == pytest.approx(-0.5 + shift, abs=0.1)
    grid = np.linspace(-50, 50, 1001)
    p = calibrate.platt(grid, a, b)
    assert np.all((p >= 0) & (p <= 1)) and np.all(np.diff(p) >= 0) and p[0] < 0.01 < 0.99 < p[-1]


def test_platt_stays_finite_on_separable_scores():
    s = np.r_[np.linspace(-3, -1, 50), np.linspace(1, 3, 50)]
    y = np.r_[np.zeros(50), np.ones(50)]
    a, b = calibrate.platt_fit(s, y)
    assert np.isfinite(a) and np.isfinite(b) and a > 0
    assert calibrate.platt(np.array([3.0]), a, b)[0] < 1.0


@pytest.mark.parametrize("fpr", [0.0, 0.01, 0.05, 0.2])
def test_threshold_flags_at_most_the_stated_share_of_real_photos(fpr):
    rng = np.random.default_rng(1)
    real = rng.normal(size=1000)
    t = calibrate.threshold_for_fpr(real, fpr)
    assert (real >= t).sum() == int(np.floor(fpr * 1000))


def test_threshold_with_tied_scores_never_exceeds_the_rate():
    real = np.r_[np.zeros(90), np.ones(10)]          # 10% tied at the top
    t = calibrate.threshold_for_fpr(real, 0.05)
    assert (real >= t).mean() <= 0.05


def test_roc_auc_matches_scikit_learn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.normal(size=500) + y, 1)       # many ties
    assert calibrate.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    fpr, tpr = calibrate.roc_curve(y, s)
    assert fpr[0] == 0 and tpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == 1
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc_score(y, s), abs=1e-9)


def test_reliability_tells_calibrated_from_overconfident():
    rng = np.random.default_rng(3)
    p = rng.random(20_000)
    y = (rng.random(len(p)) < p).astype(int)
    good = calibrate.reliability(p, y)
    bad = calibrate.reliability(np.clip((p - 0.5) * 3 + 0.5, 0, 1), y)
    assert good["ece"] < 0.03 < 0.1 < bad["ece"]
    assert sum(b["n"] for b in good["bins"]) == len(p)


def test_confidence_bound_threshold_keeps_its_promise_on_new_photos():
    """The stated false-positive rate is a promise about *new* photos: with the observed-rate
    rule a threshold set on 125 real photos lets more than 5% of new ones through about half
    the time; with the 95% exact upper bound only about 1 time in 20."""
    from scipy.stats import norm

    assert calibrate.allowed_false_alarms(125, 0.05, 0.95) == 2      # bound 4.95% at k=2
    assert calibrate.allowed_false_alarms(254, 0.05, 0.95) == 6
    assert calibrate.allowed_false_alarms(40, 0.05, 0.95) == 0       # too few photos to allow any
    rng = np.random.default_rng(7)
    over = {None: 0, 0.95: 0}
    trials = 400
    for _ in range(trials):
        real = rng.normal(size=125)                   # scores of real photos: N(0, 1)
        for conf in over:
            t = calibrate.threshold_for_fpr(real, 0.05, conf)
            assert (real >= t).sum() <= calibrate.allowed_false_alarms(125, 0.05, conf)
            over[conf] += norm.sf(t) > 0.05           # true rate on new photos above 5%?
    assert over[None] / trials > 0.3
    assert over[0.95] / trials < 0.1


def test_a_cards_calibration_is_read_on_the_raw_score_and_older_logit_cards_agree():
    score = np.linspace(-5, 5, 41)
    cal = {"method": "platt", "a": 1.7, "b": -0.3, "input": "score"}
    assert np.array_equal(calibrate.probability(score, cal), calibrate.platt(score, 1.7, -0.3))
    # Older cards stored the discriminator's line on its logit (= -score), slope sign flipped.
    older = {**cal, "a": -1.7, "input": "logit"}
    assert np.array_equal(calibrate.probability(score, older), calibrate.probability(score, cal))
    assert np.array_equal(calibrate.probability(score, None), calibrate.sigmoid(score))


def test_upper_bound_is_the_exact_one_sided_clopper_pearson_bound():
    from scipy.stats import binomtest

    for n in (1, 20, 59, 125, 600):
        # None seen in n: the bound solves (1 - u)^n = 5%.
        assert calibrate.upper_bound(0, n) == pytest.approx(1 - 0.05 ** (1 / n), rel=1e-9)
        for k in (0, 1, n // 3, n - 1):
            ci = binomtest(k, n).proportion_ci(confidence_level=0.90, method="exact")
            assert calibrate.upper_bound(k, n, 0.95) == pytest.approx(ci.high, rel=1e-9), (k, n)
    assert calibrate.upper_bound(0, 59) <= 0.05 < calibrate.upper_bound(0, 58)   # 59 photos to show 5%
    assert calibrate.upper_bound(5, 5) == 1.0 and calibrate.upper_bound(0, 0) == 1.0
    assert calibrate.upper_bound(1, 100, 0.99) > calibrate.upper_bound(1, 100, 0.95)


def test_upper_bound_grows_with_false_alarms_and_shrinks_with_photos():
    ks = [calibrate.upper_bound(k, 200) for k in range(0, 201, 10)]
    assert all(a < b for a, b in zip(ks, ks[1:])) and ks[-1] == 1.0
    ns = [calibrate.upper_bound(3, n) for n in (10, 50, 100, 500, 5000)]
    assert all(a > b for a, b in zip(ns, ns[1:])) and ns[-1] > 3 / 5000


@pytest.mark.parametrize("n", [60, 125, 254, 600])
def test_upper_bound_agrees_with_the_threshold_rule(n):
    """allowed_false_alarms (how many real photos a threshold may let through) is the largest
    count whose upper bound stays within the rate, so the two never tell a different story."""
    k = calibrate.allowed_false_alarms(n, 0.05, 0.95)
    assert calibrate.upper_bound(k, n) <= 0.05 < calibrate.upper_bound(k + 1, n)


@pytest.mark.parametrize("n, rate", [(24, 0.05), (100, 0.02), (300, 0.05), (1000, 0.1)])
def test_upper_bound_covers_the_true_rate_at_least_95_percent_of_the_time(n, rate):
    """The bound is below the true rate only when the source happened to show few false
    alarms: exactly computed over the binomial distribution, at most 5% of the time."""
    from scipy.stats import binom

    below = [k for k in range(n + 1) if calibrate.upper_bound(k, n) < rate]
    miss = binom.cdf(max(below), n, rate) if below else 0.0
    assert miss <= 0.05
