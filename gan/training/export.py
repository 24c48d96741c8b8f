"""From a training state to a bundle: float32 copies of the EMA generator and the
discriminator, the model card, and a few held-out real photos for the app's "try it"."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gan.bundle import BUNDLE, save_bundle
from gan.card import make_card
from gan.config import TrainConfig
from gan.images import png_bytes
from gan.io import check_replaceable
from gan.models import build_discriminator


def check_export_target(out_dir: str | Path) -> None:
    """Refuse an export folder that holds anything but an older bundle (save_bundle would refuse
    it too, but only after the training): raises gan.io.ReplaceRefused."""
    check_replaceable(out_dir, BUNDLE)


def export_bundle(model, cfg: TrainConfig, out_dir: str | Path, *, label_names: list[str],
                  label_kinds: list[str] | None = None, step: int, training_seconds: float, data: dict[str, Any],
                  real_examples: np.ndarray | None = None, metrics: dict | None = None,
                  init_from: dict | None = None, cpu: dict | None = None,
                  images_seen: int | None = None, label_rows: np.ndarray | None = None,
                  label_weights: np.ndarray | None = None) -> Path:
    """Write `out_dir` as a complete bundle (atomically) from a DCGAN training model;
    `label_rows`, the training photos' labels, become the card's label frequencies (with
    `label_weights`, a balanced run's draws)."""
    d32 = build_discriminator(cfg, len(label_names), dtype="float32")
    d32.set_weights(model.discriminator.get_weights())
    card = make_card(cfg, label_names=label_names, label_kinds=label_kinds, step=step, training_seconds=training_seconds,
                     data=data, metrics=metrics, init_from=init_from, cpu=cpu,
                     images_seen=images_seen, label_rows=label_rows,
                     label_weights=label_weights)
    extra = {}
    if real_examples is not None:
        for i, im in enumerate(real_examples):
            extra[f"examples/real/{i:02d}.png"] = png_bytes(im)
        card["examples"] = {"real": len(real_examples),
                            "note": "held-out photos never trained on" if data.get("holdout") else
                            "training photos (the run kept no held-out split)"}
    return save_bundle(out_dir, model.ema_generator, d32, card, extra_files=extra)
