"""From a detector's raw score to a probability, a threshold and figures (NumPy only).

Scores here always point the same way: higher = more likely generated. (The discriminator's
logit points the other way; its score is `-logit`.)

- `platt_fit` / `platt`: Platt scaling, p = sigmoid(a * score + b), fitted by weighted logistic
  regression with both classes given equal total weight, so p is the probability of
  "generated" when half of the faces checked are generated. `a > 0` is enforced by the data
  (a detector worse than chance gets a < 0 and the report says so).
- `probability`: a stored detector's P(generated) from its raw scores and the card's
  calibration section (the only place a card's calibration is read);
- `threshold_for_fpr`: the score above which at most `fpr` of the given real photos lie.
- `roc_auc`, `roc_curve`, `reliability`, `wilson`: measurement.
"""
from __future__ import annotations

import math

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Clipped so that extreme scores give 0 or 1 instead of an overflow warning."""
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, np.float64), -60.0, 60.0)))


def balanced_weights(y: np.ndarray) -> np.ndarray:
    """Per-sample weights giving each class half of the total weight."""
    y = np.asarray(y).astype(int)
    w = np.zeros(len(y), np.float64)
    for c in (0, 1):
        n = int((y == c).sum())
        if n:
            w[y == c] = 0.5 / n
    return w * len(y)


def platt_fit(scores: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
              l2: float = 1e-6, iters: int = 100) -> tuple[float, float]:
    """(a, b) maximising the weighted log-likelihood of y under sigmoid(a * s + b) (Newton's
    method; the scores are standardised first so it converges in a few steps). Platt's target
    smoothing (y -> (n+ + 1) / (n+ + 2), 1 / (n- + 2)) keeps the fit finite on separable data."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(y).astype(int)
    if len(s) != len(y) or len(np.unique(y)) < 2:
        raise ValueError("Platt scaling needs scores of both real and generated faces")
    w = balanced_weights(y) if weights is None else np.asarray(weights, np.float64)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    t = np.where(y == 1, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    mu, sd = float(s.mean()), float(s.std()) or 1.0
    z = (s - mu) / sd
    X = np.stack([z, np.ones_like(z)], axis=1)
    theta = np.zeros(2)
    for _ in range(iters):
        p = sigmoid(X @ theta)
        g = X.T @ (w * (p - t)) + l2 * theta
        h = (X * (w * p * (1 - p))[:, None]).T @ X + l2 * np.eye(2)
        step = np.linalg.solve(h, g)
        theta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    a = theta[0] / sd
    b = theta[1] - theta[0] * mu / sd
    return float(a), float(b)


def platt(scores: np.ndarray, a: float, b: float) -> np.ndarray:
    return sigmoid(float(a) * np.asarray(scores, np.float64) + float(b))


def probability(scores: np.ndarray, calibration: dict | None) -> np.ndarray:
    """P(generated) of raw scores under a card's calibration section ({"method": "platt", "a",
    "b", "input": "score"}); without one, sigmoid(score), which ranks the same but is not a
    calibrated probability. Cards fitted before the convention was unified stored the
    discriminator's line on its logit (`"input": "logit"`, the logit being -score): the same
    line with the slope's sign flipped, read here so those bundles keep their scores."""
    cal = calibration or {}
    if cal.get("method") == "identity":         # already a P-like score in [0, 1] (the panel)
        return np.clip(np.asarray(scores, np.float64), 0.0, 1.0)
    if cal.get("method") != "platt":
        return sigmoid(scores)
    a = float(cal["a"]) if cal.get("input", "score") == "score" else -float(cal["a"])
    return platt(scores, a, cal["b"])


def allowed_false_alarms(n: int, fpr: float, confidence: float | None = None) -> int:
    """How many of n real calibration photos may score at or above the threshold. Without
    `confidence`: floor(fpr * n), so the *observed* rate is at most `fpr`. With it: the largest
    k whose one-sided exact (Clopper-Pearson) upper bound at that confidence is at most `fpr`,
    so the stated rate holds for new photos of that source with that confidence (with the
    observed rate at fpr, new photos went over it about half the time). 0 when even k = 0 is
    not enough (n below about 3/fpr)."""
    if confidence is None:
        return int(math.floor(fpr * n + 1e-9))
    from scipy.stats import beta

    k = 0
    while k + 1 < n and beta.ppf(confidence, k + 2, n - k - 1) <= fpr:
        k += 1
    return k


def upper_bound(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided exact (Clopper-Pearson) upper bound of a rate seen k times in n."""
    if n <= 0:
        return 1.0
    if k >= n:
        return 1.0
    from scipy.stats import beta

    return float(beta.ppf(confidence, k + 1, n - k))


def threshold_for_fpr(real_scores: np.ndarray, fpr: float, confidence: float | None = None) -> float:
    """A score threshold t such that at most `allowed_false_alarms` of the real scores are >= t:
    half way between the highest real score allowed below it and the next one up."""
    s = np.sort(np.asarray(real_scores, np.float64))[::-1]
    if len(s) == 0:
        raise ValueError("no real scores to set a threshold on")
    allowed = allowed_false_alarms(len(s), fpr, confidence)
    if allowed >= len(s):
        return float(s[-1])
    below = s[allowed]                      # the highest score that must stay under t
    above = s[allowed - 1] if allowed > 0 else below + max(1e-6, 1e-3 * abs(below))
    if above == below:                      # ties: t just above the tied value
        return float(np.nextafter(below, np.inf))
    return float(below + 0.5 * (above - below))


def roc_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (the chance that a random generated face scores above a random
    real one; ties count half), by ranks."""
    y = np.asarray(y).astype(int)
    s = np.asarray(scores, np.float64)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if not n_pos or not n_neg:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), np.float64)
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1
        i = j + 1
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rates, true-positive rates) at every distinct threshold, from (0, 0)."""
    y = np.asarray(y).astype(int)
    s = np.asarray(scores, np.float64)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(y)[distinct]
    fp = np.cumsum(1 - y)[distinct]
    n_pos, n_neg = max(1, int(y.sum())), max(1, int((1 - y).sum()))
    return np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos]


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> dict:
    """Reliability diagram data with both classes weighted equally (the prevalence the
    calibration assumes): per bin of predicted p, the mean p and the share that was generated.
    Also the expected calibration error (weighted mean |observed - predicted|)."""
    p = np.asarray(p, np.float64)
    y = np.asarray(y).astype(int)
    w = balanced_weights(y)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for k in range(bins):
        m = idx == k
        if not m.any():
            continue
        wk = w[m].sum()
        pred = float((w[m] * p[m]).sum() / wk)
        obs = float((w[m] * y[m]).sum() / wk)
        rows.append({"lo": float(edges[k]), "hi": float(edges[k + 1]), "n": int(m.sum()),
                     "mean_p": pred, "observed": obs})
        ece += wk / w.sum() * abs(obs - pred)
    return {"bins": rows, "ece": float(ece)}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a rate k / n."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))
