"""The forensic detector's read-out: features -> raw score (higher = generated), kept as plain
arrays so a bundle stores it in an .npz read without pickle.

Two kinds: "lr", a logistic regression on standardised features, and "mlp", one hidden layer
of ReLU units (features interact: a residual histogram means one thing at one noise level and
another at the next). Both are fitted with scikit-learn at fit time only; scoring is NumPy.
"identity" passes a single raw score through (the discriminator's, which is measured with the
same leave-one-source-out protocol but has nothing to fit).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KINDS = ("lr", "mlp", "identity")
DEFAULT_KIND = "lr"
LR_C = 0.05                 # inverse L2 strength of the logistic regression
MLP_HIDDEN = 64
MLP_ALPHA = 1e-2            # L2 strength of the MLP
MLP_SAMPLES = 30000         # rows drawn (by weight) for the MLP, which takes no sample weights
SEED = 0


@dataclass
class Classifier:
    kind: str
    mean: np.ndarray                    # float [D]
    scale: np.ndarray                   # float [D]
    layers: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (W, b); ReLU between

    def standardise(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, np.float64) - self.mean) / self.scale

    def decision(self, X: np.ndarray) -> np.ndarray:
        h = self.standardise(X)
        for i, (W, b) in enumerate(self.layers):
            h = h @ W + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return h.reshape(-1)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"mean": self.mean, "scale": self.scale}
        for i, (W, b) in enumerate(self.layers):
            out[f"W{i}"], out[f"b{i}"] = W, b
        return out

    @classmethod
    def from_arrays(cls, kind: str, arrays: dict[str, np.ndarray]) -> "Classifier":
        layers, i = [], 0
        while f"W{i}" in arrays:
            layers.append((np.asarray(arrays[f"W{i}"], np.float64), np.asarray(arrays[f"b{i}"], np.float64)))
            i += 1
        return cls(kind, np.asarray(arrays["mean"], np.float64), np.asarray(arrays["scale"], np.float64), layers)


def train(X: np.ndarray, y: np.ndarray, w: np.ndarray, kind: str = DEFAULT_KIND) -> Classifier:
    """Fit on rows X with labels y (1 generated) and weights w."""
    if kind not in KINDS:
        raise ValueError(f"unknown classifier {kind!r}; known: {', '.join(KINDS)}")
    X = np.asarray(X, np.float64)
    if kind == "identity":
        return Classifier(kind, np.zeros(X.shape[1]), np.ones(X.shape[1]),
                          [(np.ones((X.shape[1], 1)), np.zeros(1))])
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 1e-8] = 1.0
    Z = (X - mean) / scale
    w = np.asarray(w, np.float64)
    if kind == "lr":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=LR_C, max_iter=5000).fit(Z, y, sample_weight=w / w.mean())
        return Classifier(kind, mean, scale, [(lr.coef_.T.copy(), lr.intercept_.copy())])
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(SEED)
    idx = rng.choice(len(Z), size=MLP_SAMPLES, p=w / w.sum())
    mlp = MLPClassifier((MLP_HIDDEN,), alpha=MLP_ALPHA, max_iter=300, early_stopping=True,
                        random_state=SEED).fit(Z[idx], y[idx])
    return Classifier(kind, mean, scale, [(W.copy(), b.copy()) for W, b in zip(mlp.coefs_, mlp.intercepts_)])
