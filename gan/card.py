"""The model card written into every bundle (`model.json`): what a user needs to judge a model."""
from __future__ import annotations

import datetime as _dt
from typing import Any

from gan.config import TrainConfig


def make_card(cfg: TrainConfig, *, label_names: list[str] | None = None, step: int = 0,
              training_seconds: float = 0.0, data: dict[str, Any] | None = None,
              metrics: dict[str, Any] | None = None, notes: str = "") -> dict[str, Any]:
    from gan.data import preprocess

    return {
        "config": cfg.to_dict(),
        "preprocessing": {"size": cfg.resolution, "crop": cfg.crop, "range": [-1, 1],
                          "version": getattr(preprocess, "PREPROCESS_VERSION", 1)},
        "labels": {"names": list(label_names or [])},
        "training": {"steps": int(step), "seconds": round(float(training_seconds), 1),
                     "images_seen": int(step) * cfg.batch_size},
        "data": dict(data or {}),
        "metrics": dict(metrics or {}),
        "detector": {"calibration": None, "threshold": 0.5,
                     "note": "uncalibrated: p = sigmoid(-logit) of the raw discriminator"},
        "notes": notes,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
