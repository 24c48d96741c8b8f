"""All options of a training run in one dataclass.

The same object is written as `config.json` into every run directory and into every bundle's
model card, so a bundle always says how it was made and a run can be resumed or reproduced
from its directory alone.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass
class TrainConfig:
    # --- data -------------------------------------------------------------------------------
    data: str = ""                      # folder, .zip, CelebA or UTKFace layout (see gan.data)
    resolution: int = 128               # square side the model works at
    crop: str = "face"                  # face | center | none (same crop at inference)
    labels: str | None = None           # None: unconditional; "auto" or "male,smiling": conditional
    dedup: bool = False                 # drop near-duplicate photos before training
    holdout_fraction: float = 0.0       # photos kept out of training (by key hash) for evaluation
    flip: bool = True                   # random horizontal flips
    init_from: str = ""                 # bundle whose G (EMA) and D start a new run (fine-tuning)

    # --- models -----------------------------------------------------------------------------
    latent_dim: int = 128
    g_channels: int = 12                # generator channels at the output resolution
    g_max_channels: int = 256           # cap on channels at low resolutions
    d_channels: int = 24                # discriminator channels after its first conv
    d_max_channels: int = 256
    d_norm: str = "none"                # none (with R1, the default) | batch (BatchNorm without scale, keras-io gan_ada)
    d_dropout: float = 0.4              # dropout before D's last layer (keras-io's tip)
    extra_convs: int = 0                # extra 3x3 convs per resolution block (depth)
    label_embed_dim: int = 32           # size of the label embedding fed to the generator

    # --- training ---------------------------------------------------------------------------
    steps: int = 20000                  # total steps of the run, counted across resumes
    batch_size: int = 32
    loss: str = "logistic"              # logistic (non-saturating, on logits) | bce_rmsprop (earlier demos)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    ema_decay: float = 0.999            # generator EMA decay, ramped as min(decay, (1+n)/(10+n))
    shared_forward: bool = True         # one G forward feeds both losses (False: alternating D, G steps)
    diffaugment: str = "color,translation,cutout"   # "" to switch off
    r1_gamma: float = 0.2               # R1 penalty weight (0: off); ~0.0002*res^2/batch (StyleGAN2-ADA)
    r1_every: int = 16                  # lazy R1: every N steps, scaled by N (StyleGAN2's 16)
    label_loss: float = 0.0             # weight of an auxiliary label classifier on D's features (AC-GAN); conditional runs
    label_edit: float = 0.0             # weight of an L1 penalty between one z's faces under two label vectors (small slider edits)
    mode_seeking: float = 0.0           # weight of the mode-seeking term (MSGAN): different z, different faces
    mode_seeking_on: str = "image"      # image | detail (the image minus its 1/8-size copy: structure, not colour)
    precision: str = "mixed_bfloat16"   # mixed_bfloat16 | float32
    jit_compile: bool = False           # XLA-compile the train step (slower on this CPU: see bench)
    seed: int = 0

    # --- bookkeeping ------------------------------------------------------------------------
    sample_every: int = 500             # steps between fixed-z sample grids
    checkpoint_every: int = 250         # steps between checkpoints
    log_every: int = 10                 # steps between JSONL log lines
    n_jobs: int = -1                    # parallel image decoders

    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes kept with the run

    def validate(self) -> "TrainConfig":
        """Reject option values that would only fail later, with a message a user can act on."""
        if self.resolution < 16 or self.resolution & (self.resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 16, got {self.resolution}")
        if self.crop not in ("face", "center", "none"):
            raise ValueError(f"crop must be face, center or none, got {self.crop!r}")
        if self.d_norm not in ("batch", "none"):
            raise ValueError(f"d_norm must be batch or none, got {self.d_norm!r}")
        if not 0.0 <= self.d_dropout < 1.0:
            raise ValueError("d_dropout must be in [0, 1)")
        if self.loss not in ("logistic", "bce_rmsprop"):
            raise ValueError(f"loss must be logistic or bce_rmsprop, got {self.loss!r}")
        if self.precision not in ("mixed_bfloat16", "float32"):
            raise ValueError(f"precision must be mixed_bfloat16 or float32, got {self.precision!r}")
        if self.batch_size < 1 or self.steps < 0:
            raise ValueError("batch_size must be >= 1 and steps >= 0")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ValueError("holdout_fraction must be in [0, 1)")
        if min(self.label_loss, self.label_edit, self.mode_seeking) < 0:
            raise ValueError("label_loss, label_edit and mode_seeking must be >= 0")
        if self.mode_seeking_on not in ("image", "detail"):
            raise ValueError(f"mode_seeking_on must be image or detail, got {self.mode_seeking_on!r}")
        unknown = set(a.strip() for a in self.diffaugment.split(",") if a.strip()) - {
            "color", "translation", "cutout"}
        if unknown:
            raise ValueError(f"unknown DiffAugment policies: {sorted(unknown)}")
        return self

    # --- (de)serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        return cls(**d)

    def save(self, path: str | Path) -> None:
        from gan.io import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))


# Architecture fields: a resumed run must agree with its checkpoint on these.
ARCHITECTURE_FIELDS = (
    "resolution", "latent_dim", "g_channels", "g_max_channels", "d_channels", "d_max_channels",
    "extra_convs", "label_embed_dim", "labels", "crop", "loss", "d_norm", "d_dropout",
)
