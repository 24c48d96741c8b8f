"""The predicted broken share (gan.metrics.broken): the shipped fit reads the features it was
fitted on, and a damaged fit file is refused with a message."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gan.metrics import broken

ROOT = Path(__file__).resolve().parents[1]
SHEET = ROOT / "docs" / "audits" / "2026-12-05-race-1.5x-120min"


def test_fit_learns_which_side_is_intact_and_round_trips_through_its_file(tmp_path):
    rng = np.random.default_rng(0)
    n = 1 + 128 + broken.SHAPE_AXES
    x = rng.normal(size=(200, n))
    intact = x[:, 0] > 0.5                     # the HOG margin column decides
    space = broken.ShapeSpace(np.zeros(136), np.eye(broken.SHAPE_AXES, 136), np.ones(broken.SHAPE_AXES))
    path = tmp_path / "fit.json"
    path.write_text(json.dumps(broken.fit(x, intact, space, {"sheets": ["synthetic"]})))
    figure = broken.BrokenFigure(path, describer=False)
    p = figure.p_intact_features(x)
    assert p[intact].mean() > 0.7 > 0.3 > p[~intact].mean()
    assert figure.about == {"sheets": ["synthetic"]}


@pytest.mark.parametrize("content", ["not json", "{}", json.dumps({
    "about": {}, "feature_mean": [0.0] * 3, "feature_scale": [1.0] * 3, "coef": [0.0] * 3,
    "intercept": 0.0, "shape_mean": [0.0], "shape_axes": [[0.0]], "shape_var": [1.0]})])
def test_a_damaged_fit_file_is_refused_with_its_name(tmp_path, content):
    path = tmp_path / "fit.json"
    path.write_text(content)
    with pytest.raises(broken.BrokenFigureUnavailable, match="fit.json"):
        broken.BrokenFigure(path, describer=False)


@pytest.mark.slow
def test_the_shipped_fit_calls_the_audits_broken_faces_broken_more_often_than_intact_ones():
    """On a kept, labelled audit sheet (in the fit, so this checks the features and the file
    agree, not how well the figure generalises: docs/metrics.md has that)."""
    from bench.audit_agreement import audit_faces

    faces = [(label, face) for kind, label, face, _ in audit_faces(SHEET) if kind == "generated"]
    figure = broken.BrokenFigure()
    assert figure.about["faces"] >= 64 and SHEET.name in figure.about["sheets"]
    p = figure.p_intact(np.stack([f for _, f in faces]))
    labels = np.array([label for label, _ in faces])
    assert p[labels == "intact"].mean() > p[labels == "broken"].mean() + 0.2
    assert figure.broken_share(np.stack([f for _, f in faces])) == pytest.approx(
        np.mean(p < 0.5))
