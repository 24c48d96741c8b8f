"""The train / held-out split of a run, rebuilt the same way everywhere.

A run's photos are divided by `FaceData.split` (a hash of seed and key), so the parts can be
rebuilt later from the run's settings alone. Training, evaluation, the detector and the
attribute classifier all need those parts; this module is the one place that reads the
settings (from a `TrainConfig` or from a bundle card) and loads them, so the parts can never
drift apart (one caller once defaulted to a different hold-out fraction than the run used).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .dataset import FaceData, load_faces

REPO = Path(__file__).resolve().parents[2]


def resolve_source(source: str | None) -> Path | None:
    """The card's data source as an existing path: as written (absolute or relative to the
    working directory), else relative to the repository root; None when neither exists."""
    if not source:
        return None
    for p in (Path(source), REPO / source):
        if p.exists():
            return p
    return None


@dataclass
class SplitParts:
    """The loaded photos of a split: all of them, the training part and the held-out part
    (None when the run held out nothing)."""
    faces: FaceData
    train: FaceData
    heldout: FaceData | None


@dataclass(frozen=True)
class Split:
    """What rebuilds a run's split: its source, preprocessing, labels, dedup, fraction, seed."""
    source: str | None          # as the run's config / card writes it
    path: Path | None           # that source here; None when it is not reachable
    holdout_fraction: float
    seed: int
    size: int
    crop: str
    labels: Any = None
    dedup: bool | str = False
    n_jobs: int = -1

    @classmethod
    def from_config(cls, cfg) -> "Split":
        """The split a training run makes from its `TrainConfig`."""
        return cls(source=str(cfg.data), path=Path(cfg.data),
                   holdout_fraction=float(cfg.holdout_fraction), seed=int(cfg.seed),
                   size=int(cfg.resolution), crop=str(cfg.crop), labels=cfg.labels,
                   dedup=cfg.dedup, n_jobs=cfg.n_jobs)

    @classmethod
    def from_card(cls, card: dict) -> "Split":
        """The split the run behind a bundle card made. The hold-out fraction is the card's
        (0 when absent): never a default of its own, or the parts would not be the run's."""
        cfg = card.get("config", {}) or {}
        source = (card.get("data", {}) or {}).get("source")
        pre = card.get("preprocessing", {}) or {}
        return cls(source=source, path=resolve_source(source),
                   holdout_fraction=float(cfg.get("holdout_fraction", 0.0) or 0.0),
                   seed=int(cfg.get("seed", 0)), size=int(pre["size"]), crop=str(pre["crop"]),
                   labels=cfg.get("labels"), dedup=bool(cfg.get("dedup", False)))

    def with_(self, **changes) -> "Split":
        """This split with some settings changed (e.g. other label columns)."""
        return replace(self, **changes)

    @property
    def name(self) -> str:
        """The source's folder or file name, for descriptions."""
        return Path(str(self.source)).name

    def describe(self) -> str:
        """How the held-out part was chosen, in words (reports, cards, the app)."""
        return f"split {self.holdout_fraction:g}, seed {self.seed}"

    def why_no_heldout(self) -> str:
        """Why this split gives no held-out photos here ("" when it may)."""
        if self.path is None:
            return "its card names no training data that exists here"
        if self.holdout_fraction <= 0:
            return "its run kept no held-out photos (holdout 0)"
        return ""

    def load(self, progress: bool = False) -> SplitParts:
        """Load the source and divide it. OSError / ValueError from `load_faces` pass
        through, for each caller to word; a missing source is a FileNotFoundError."""
        if self.path is None:
            raise FileNotFoundError(f"the data source {self.source!r} does not exist here")
        faces = load_faces(self.path, size=self.size, crop=self.crop, labels=self.labels,
                           dedup=self.dedup, n_jobs=self.n_jobs, progress=progress)
        if self.holdout_fraction > 0:
            train, held = faces.split(self.holdout_fraction, self.seed)
            return SplitParts(faces, train, held)
        return SplitParts(faces, faces, None)
