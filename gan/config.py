"""All options of a training run in one dataclass.

The same object is written as `config.json` into every run directory and into every bundle's
model card, so a bundle always says how it was made and a run can be resumed or reproduced
from its directory alone.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from gan.io import atomic_write_text


class ConfigError(ValueError):
    """An option value or a config file that cannot make a working run; the message says which."""


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
    balance: str = ""                   # labels whose groups are drawn equally often ("" = as they come)

    # --- models -----------------------------------------------------------------------------
    latent_dim: int = 128
    g_channels: int = 12                # generator channels at the output resolution
    g_max_channels: int = 256           # cap on channels at low resolutions
    d_channels: int = 24                # discriminator channels after its first conv
    d_max_channels: int = 256
    d_norm: str = "none"                # none (with R1, the default) | batch (BatchNorm without scale, keras-io gan_ada)
    d_dropout: float = 0.4              # dropout before D's last layer (keras-io's tip)
    extra_convs: int = 0                # extra 3x3 convs per resolution block (depth)
    extra_convs_max_res: int = 0        # only in blocks at most this resolution (0: every block)
    attention_res: int = 0              # a self-attention block at this resolution in G and D (0: none)
    label_embed_dim: int = 32           # size of the label embedding fed to the generator

    # --- training ---------------------------------------------------------------------------
    steps: int = 20000                  # total steps of the run, counted across resumes
    batch_size: int = 32                # per replica: the global batch is this x the replicas
    strategy: str = "default"           # default (one device) | mirrored | multiworker (tf.distribute)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    ema_decay: float = 0.999            # generator EMA decay, ramped as min(decay, (1+n)/(10+n))
    diffaugment: str = "color,translation,cutout"   # "" to switch off
    r1_gamma: float = 0.2               # R1 penalty weight (0: off); ~0.0002*res^2/batch (StyleGAN2-ADA)
    r1_every: int = 16                  # lazy R1: every N steps, scaled by N (StyleGAN2's 16)
    label_loss: float = 0.0             # weight of an auxiliary label classifier on D's features (AC-GAN); conditional runs
    label_edit: float = 0.0             # weight of an L1 penalty between one z's faces under two label vectors (small slider edits)
    mode_seeking: float = 0.0           # weight of the mode-seeking term (MSGAN): different z, different faces
    mode_seeking_on: str = "image"      # image | detail (the image minus its 1/8-size copy: structure, not colour)
    top_k: float = 1.0                  # share of the fakes, those D finds most real, that train G (1 = all)
    d_recon: float = 0.0                # weight of D's reconstruction of each real photo from its 8x8 features (FastGAN)
    precision: str = "auto"             # auto (see machine_precision) | mixed_bfloat16 | mixed_float16 (loss-scaled) | float32
    jit_compile: bool = False           # XLA-compile the train step (slower on this CPU: see bench)
    seed: int = 0

    # --- bookkeeping ------------------------------------------------------------------------
    sample_every: int = 500             # steps between fixed-z sample grids
    checkpoint_every: int = 250         # steps between checkpoints
    log_every: int = 10                 # steps between JSONL log lines
    broken_figure: bool = True          # log the predicted broken share of the sample faces (gan.metrics.broken)
    n_jobs: int = -1                    # parallel image decoders

    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes kept with the run

    def validate(self) -> "TrainConfig":
        """Reject option values that would only fail later (often after the data has loaded, or
        as a bundle that cannot work), all of them in one message a user can act on."""
        problems = [p for f in fields(self) if (p := field_problem(f.name, getattr(self, f.name)))]
        if not problems and self.d_recon > 0 and self.resolution < 32:
            problems.append("d_recon (--d-recon) redraws photos at 32 px from D's 8x8 features, so "
                            "it needs --resolution 32 or more")
        if not problems and self.attention_res > self.resolution // 2:
            problems.append(f"attention_res (--attention-res) {self.attention_res} must be at most "
                            f"half the resolution ({self.resolution // 2}): the discriminator's "
                            "first block is already at half size")
        if not problems and self.balance.strip() and self.labels is None:
            problems.append("balance (--balance) draws the groups of labels equally often, so it "
                            "needs --labels too")
        if problems:
            raise ConfigError("; ".join(problems))
        return self

    # --- (de)serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """A config from saved keys (the others keep their defaults); unknown keys and values
        of the wrong type or out of range are refused (ConfigError)."""
        d = _drop_retired(d)
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown config keys: {sorted(unknown)} (known: see a run's "
                              "config.json or `python train.py --help`)")
        problems = [p for k, v in d.items() if (p := field_problem(k, v))]
        if problems:
            raise ConfigError("; ".join(problems))
        return cls(**d)

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        """Read a JSON file of options; every problem (missing, unreadable, not JSON, unknown
        keys, bad values) is a ConfigError that names the file."""
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except OSError as e:
            raise ConfigError(f"config file {path} cannot be read: {e.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config file {path} is not UTF-8 text") from None
        except ValueError as e:
            raise ConfigError(f"config file {path} is not valid JSON: {e}") from None
        if not isinstance(d, dict):
            raise ConfigError(f"config file {path} must hold a JSON object of options "
                              f"(as in a run's config.json), not a {type(d).__name__}")
        try:
            return cls.from_dict(d)
        except ConfigError as e:
            raise ConfigError(f"config file {path}: {e}") from None

# Options that moved out of the library into bench/recipe_step.py (only benchmarks used them),
# with the one value the library's step has. Older runs' config.json and older bundles' cards
# still carry them: that value is accepted and dropped, any other is refused.
RETIRED_FIELDS = {"loss": "logistic", "shared_forward": True}


def _drop_retired(d: dict[str, Any]) -> dict[str, Any]:
    """`d` without the retired keys, after checking that each holds the library's value."""
    problems = [f"{k} = {d[k]!r} is no longer a training option: the library's step always "
                f"uses {k} = {v!r}; the earlier demos' loss and the alternating step moved to "
                "bench/recipe_step.py (benchmarks only)"
                for k, v in RETIRED_FIELDS.items() if k in d and not _same(d[k], v)]
    if problems:
        raise ConfigError("; ".join(problems))
    return {k: v for k, v in d.items() if k not in RETIRED_FIELDS}


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


# Architecture fields: a resumed run must agree with its checkpoint on these.
ARCHITECTURE_FIELDS = (
    "resolution", "latent_dim", "g_channels", "g_max_channels", "d_channels", "d_max_channels",
    "extra_convs", "extra_convs_max_res", "attention_res", "label_embed_dim", "labels", "crop",
    "d_norm", "d_dropout",
)


def flag(name: str) -> str:
    """The train.py option of a config field."""
    return "--holdout" if name == "holdout_fraction" else "--" + name.replace("_", "-")


def _power_of_two(v) -> bool:
    return v >= 16 and v & (v - 1) == 0 and v <= 1024


_POLICIES = ("color", "translation", "cutout")
PRECISIONS = ("auto", "mixed_bfloat16", "mixed_float16", "float32")
# CPU flags of a bfloat16 unit (Linux /proc/cpuinfo names): without one, TensorFlow emulates
# bfloat16 and a training step is slower than in float32 (2.7x here: docs/scaling.md).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def machine_precision(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """What `precision="auto"` means on this machine: mixed bfloat16 where the CPU computes
    bfloat16 itself, float32 elsewhere (a CPU without, or a system without /proc/cpuinfo).
    GPUs are not looked at: pass --precision for a GPU (README, "Train on several GPUs or
    machines")."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return "float32"
    flags = {f for line in text.splitlines() if line.startswith("flags") for f in line.split()}
    return "mixed_bfloat16" if flags & set(BF16_CPU_FLAGS) else "float32"


def concrete_precision(precision: str) -> str:
    """The Keras dtype policy a run trains with: "auto" resolved for this machine."""
    return machine_precision() if precision == "auto" else precision


STRATEGIES = ("default", "mirrored", "multiworker")   # gan.training.distribute makes each
_FINITE = math.isfinite
# field -> (check of a value of the right type, what it must be)
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "resolution": (_power_of_two, "a power of two from 16 to 1024"),
    "crop": (lambda v: v in ("face", "center", "none"), "face, center or none"),
    "labels": (lambda v: v is None or v.strip() != "", "'auto' or label names, e.g. 'male,smiling'"),
    "balance": (lambda v: all(re.fullmatch(r"[\w=.-]+", n.strip()) for n in v.split(",")) if v.strip() else True,
                "'' or label names, e.g. 'ethnicity,gender,age_group'"),
    "holdout_fraction": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "latent_dim": (lambda v: 1 <= v <= 4096, "from 1 to 4096"),
    "g_channels": (lambda v: 1 <= v <= 4096, "from 1 to 4096"),
    "g_max_channels": (lambda v: 1 <= v <= 4096, "from 1 to 4096"),
    "d_channels": (lambda v: 1 <= v <= 4096, "from 1 to 4096"),
    "d_max_channels": (lambda v: 1 <= v <= 4096, "from 1 to 4096"),
    "d_norm": (lambda v: v in ("batch", "none"), "batch or none"),
    "d_dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "extra_convs": (lambda v: 0 <= v <= 16, "from 0 to 16"),
    "extra_convs_max_res": (lambda v: v == 0 or (4 <= v <= 1024 and v & (v - 1) == 0),
                            "0 (every block) or a power of two from 4 to 1024"),
    "attention_res": (lambda v: v == 0 or (8 <= v <= 512 and v & (v - 1) == 0),
                      "0 (none) or a power of two from 8 to 512"),
    "label_embed_dim": (lambda v: 1 <= v <= 4096, "from 1 to 4096"),
    "steps": (lambda v: v >= 0, "0 or more"),
    "batch_size": (lambda v: 1 <= v <= 65536, "from 1 to 65536"),
    "lr_g": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "lr_d": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "beta_1": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "beta_2": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "ema_decay": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "diffaugment": (lambda v: {a.strip() for a in v.split(",") if a.strip()} <= set(_POLICIES),
                    "'' or a comma-separated list of " + ", ".join(_POLICIES)),
    "r1_gamma": (lambda v: 0 <= v and _FINITE(v), "0 or more"),
    "r1_every": (lambda v: v >= 1, "1 or more"),
    "label_loss": (lambda v: 0 <= v and _FINITE(v), "0 or more"),
    "label_edit": (lambda v: 0 <= v and _FINITE(v), "0 or more"),
    "mode_seeking": (lambda v: 0 <= v and _FINITE(v), "0 or more"),
    "mode_seeking_on": (lambda v: v in ("image", "detail"), "image or detail"),
    "top_k": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "d_recon": (lambda v: 0 <= v and _FINITE(v), "0 or more"),
    "precision": (lambda v: v in PRECISIONS, ", ".join(PRECISIONS[:-1]) + " or " + PRECISIONS[-1]),
    "strategy": (lambda v: v in STRATEGIES, ", ".join(STRATEGIES[:-1]) + " or " + STRATEGIES[-1]),
    "seed": (lambda v: 0 <= v < 2**32, "from 0 to 4294967295"),
    "sample_every": (lambda v: v >= 1, "1 or more"),
    "checkpoint_every": (lambda v: v >= 1, "1 or more"),
    "log_every": (lambda v: v >= 1, "1 or more"),
}
_DEFAULTS = TrainConfig()


def field_problem(name: str, value: Any) -> str | None:
    """What is wrong with `value` for the field `name` (type, then range), or None."""
    default = getattr(_DEFAULTS, name)
    kind = type(default)
    if name == "labels":
        ok, want = value is None or isinstance(value, str), "text or null"
    elif kind is bool:
        ok, want = isinstance(value, bool), "true or false"
    elif kind is int:
        ok, want = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif kind is float:
        ok, want = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    else:
        ok, want = isinstance(value, kind), {str: "text", dict: "an object"}.get(kind, kind.__name__)
    if ok and name in RULES:
        check, want = RULES[name]
        ok = check(value)      # NaN fails every comparison, so it is refused here too
    if ok:
        return None
    where = name if name == "extra" else f"{name} ({flag(name)})"
    return f"{where} must be {want}, got {value!r}"
