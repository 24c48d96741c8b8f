"""The training loop and its run directory.

RUNDIR/
    config.json        the full TrainConfig of the run
    data_report.json   what the data layer read, skipped and dropped
    reals.png          a grid of training photos as the model sees them
    samples/fakesNNNNNN.png   the EMA generator on a fixed z, every `sample_every` steps
    log.jsonl          one JSON line per `log_every` steps: step, losses, img/s, time (and at
                       each sample grid `broken_predicted`: gan.metrics.broken's share of it)
    losses.png         the loss curves so far
    tb/                TensorBoard events
    checkpoint.npz     everything needed to resume (atomic; see checkpoint.py)
    bundle/            the exported bundle at the end of the run

Running the same command on the same RUNDIR resumes from checkpoint.npz: same step count,
same sample z, the loss log continuing (lines written after the checkpoint are dropped, since
those steps are trained again).

Under `--strategy multiworker` only the chief writes RUNDIR; every other worker runs the same
session in a scratch folder of its own, removed when it stops (gan.training.distribute).
"""
from __future__ import annotations

import errno
import io
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gan.bundle import BundleError, load_bundle, model_files, read_card, verify_files
from gan.config import ARCHITECTURE_FIELDS, ConfigError, TrainConfig, concrete_precision
from gan.data.preprocess import to_uint8
from gan.data.split import Split
from gan.images import make_grid, save_png
from gan.io import atomic_write_bytes, atomic_write_text, paths_overlap, remove_stale
from gan.sampling import latents
from gan.training.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointError,
    checkpoint_arrays,
    load_checkpoint,
    read_meta,
    save_checkpoint,
    state_fingerprint,
)
from gan.training.distribute import (
    Role,
    StrategyError,
    check_jit,
    check_strategy,
    expected_replicas,
)

SAMPLE_SEED_OFFSET = 777   # the fixed sample-grid z is drawn from seed + this
N_SAMPLES = 64


class TrainingError(RuntimeError):
    """A run cannot start or continue; the message says why and what to do."""


@dataclass
class RunResult:
    step: int
    status: str                 # "finished" | "interrupted" | "diverged"
    training_seconds: float
    bundle: Path | None = None


def configure_threads() -> None:
    """On a small CPU, one pool of intra-op threads the size of the machine works best."""
    import tensorflow as tf

    n = os.cpu_count() or 2
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, n))
    except RuntimeError:
        pass  # already initialised in this process


def checkpoint_path(run_dir: Path) -> Path:
    return Path(run_dir) / CHECKPOINT_NAME


def check_run_dir(run_dir: Path) -> None:
    """Refuse an --out that is a file, or a folder whose config.json is not a run's (training
    would overwrite it)."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise TrainingError(f"--out {run_dir} is a file, not a run directory; give a folder "
                            "(a new one, or a run to resume)")
    if (run_dir / "config.json").is_file():
        try:
            TrainConfig.load(run_dir / "config.json")
        except ConfigError as e:
            raise TrainingError(f"{e}; --out {run_dir} must be a new folder or a training "
                                "run's") from None


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


@contextmanager
def disk_full_says_where(run_dir: Path, then: str = "resume"):
    """A full disk (or quota) becomes a TrainingError saying which folder could not be written
    and from which step the same command goes on; the checkpoint on disk is the last whole one."""
    try:
        yield
    except OSError as e:
        if e.errno not in _DISK_FULL:
            raise
        where = Path(e.filename).parent if e.filename else Path(run_dir)
        ckpt = checkpoint_path(run_dir)
        try:
            step = int(read_meta(ckpt)["step"]) if ckpt.is_file() else None
        except Exception:  # noqa: BLE001 - unreadable: say so rather than guess
            step = None
        kept = (f"the checkpoint of step {step} in {run_dir} is intact" if step is not None
                else f"{run_dir} holds no checkpoint yet")
        goes_on = {"resume": f"resumes from step {step or 0}",
                   "export": "exports it"}[then]
        raise TrainingError(f"no space left on the disk holding {where} ({e.strerror}); {kept}. "
                            f"Free some space there: the same command {goes_on}.") from None


def resolve_config(run_dir: Path, given: dict[str, Any], base: TrainConfig | None = None,
                   base_keys=(), new: bool = False) -> tuple[TrainConfig, bool]:
    """The config for a run: a fresh one from `given` (over `base`, whose file set `base_keys`),
    or (unless `new`, a run started over) the saved one of a run being resumed with `given`
    applied for the fields that may change between sessions. A fresh run started from a bundle
    (`init_from`) takes the bundle's architecture for every architecture field neither `given`
    nor the file set, as a resumed run keeps its own. Returns (config, resuming)."""
    run_dir = Path(run_dir)
    check_run_dir(run_dir)
    saved = run_dir / "config.json"
    if saved.is_file() and checkpoint_path(run_dir).is_file() and not new:
        cfg = TrainConfig.load(saved)
        clashes = {k: (getattr(cfg, k), v) for k, v in given.items()
                   if k in ARCHITECTURE_FIELDS and v != getattr(cfg, k)}
        if clashes:
            detail = ", ".join(f"{k}: run has {a!r}, asked {b!r}" for k, (a, b) in clashes.items())
            raise TrainingError(f"{run_dir} holds a run with a different architecture ({detail}). "
                                "Resume it without those options, or use a new --out directory.")
        for k, v in given.items():
            setattr(cfg, k, v)
        return _with_precision(cfg.validate()), True
    cfg = base or TrainConfig()
    for k, v in given.items():
        setattr(cfg, k, v)
    if cfg.init_from:
        adopt_architecture(cfg, set(given) | set(base_keys))
    return _with_precision(cfg.validate()), False


def _with_precision(cfg: TrainConfig) -> TrainConfig:
    """`precision="auto"` made this machine's (`gan.config.machine_precision`), so config.json
    says what the run trained with and a resumed run keeps it, wherever it resumes."""
    cfg.precision = concrete_precision(cfg.precision)
    return cfg


def _architecture_of(card: dict) -> dict[str, Any]:
    """A bundle's config as it was built: a field newer than its card takes its default."""
    return {**TrainConfig().to_dict(), **card.get("config", {})}


def adopt_architecture(cfg: TrainConfig, explicit=()) -> dict[str, Any]:
    """Set on `cfg` the architecture of its `init_from` bundle (from the card's config) for
    every field not in `explicit`; returns what changed. An unreadable bundle changes nothing:
    `init_from_bundle` then says what is wrong with it."""
    try:
        card = read_card(cfg.init_from)
    except (BundleError, OSError, ValueError):
        return {}
    theirs = _architecture_of(card)
    taken = {k: theirs[k] for k in _INIT_FIELDS
             if k not in explicit and theirs[k] != getattr(cfg, k)}
    for k, v in taken.items():
        setattr(cfg, k, v)
    return taken


def _cpu_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """CPU seconds from a checkpoint's meta. Checkpoints written before CPU time was counted
    have none: counting then starts at their step, and the card says from which step."""
    if "cpu_seconds" in meta:
        return {"seconds": float(meta["cpu_seconds"]),
                "from_step": int(meta.get("cpu_counted_from_step", 0))}
    return {"seconds": 0.0, "from_step": int(meta["step"])}


def load_run_photos(cfg: TrainConfig, progress: bool = False):
    """(training, held-out or None) photos of a run, as its config asks: the same call for
    training and for an export from a checkpoint (whose real examples come from the held-out
    part). Decoded photos come from the cache after the first load."""
    parts = Split.from_config(cfg).load(progress)
    return parts.train, parts.heldout


def _truncate_log(log_path: Path, step: int) -> None:
    if not log_path.is_file():
        return
    kept = []
    for line in log_path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (ValueError, KeyError):
            continue  # a line cut by a kill -9
    atomic_write_text(log_path, "".join(l + "\n" for l in kept))


def plot_losses(log_path: Path, out_png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(l) for l in log_path.read_text().splitlines() if l.strip()]
    if not rows:
        return
    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    for key in ("d_loss", "g_loss"):
        ax.plot(steps, [r[key] for r in rows], label=key, linewidth=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    figure = [(r["step"], r["broken_predicted"]) for r in rows if "broken_predicted" in r]
    if figure:          # the sample grids' predicted broken share, on its own scale
        share = ax.twinx()
        share.plot(*zip(*figure), color="tab:red", marker=".", linewidth=0.8,
                   label="broken_predicted")
        share.set_ylim(0, 1)
        share.set_ylabel("predicted broken share")
        share.legend(loc="upper right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(out_png, buf.getvalue())


class _StopFlag:
    """SIGINT/SIGTERM ask the loop to checkpoint and stop after the current step."""

    def __init__(self):
        self.signal: int | None = None
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. under a test runner thread)
                pass
        return self

    def _handle(self, signum, frame):
        if self.signal is not None:       # second Ctrl-C: the checkpoint on disk is whole
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _sample_inputs(cfg: TrainConfig, labels: np.ndarray | None):
    z = latents(cfg.seed + SAMPLE_SEED_OFFSET, N_SAMPLES, cfg.latent_dim)
    if labels is None:
        return z, None
    idx = np.arange(N_SAMPLES) % len(labels)
    return z, labels[idx].astype("float32")


def train(cfg: TrainConfig, run_dir: str | Path, *, resuming: bool = False,
          export_to: str | Path | None = None, progress: bool = True,
          stop_at: int | None = None, new: bool = False) -> RunResult:
    """Train (or resume) the run in `run_dir` up to `cfg.steps`, then export a bundle.

    Options, the run directory, the data source, the checkpoint or --init-from bundle and the
    export target are checked before any photo is read or anything written. `new` starts over
    in a `run_dir` that holds a run (`train.py --new`): see `_PreviousRun`. `stop_at` stops
    early at that step as if interrupted (used by tests of resume)."""
    # lazy: gan.training.export loads TensorFlow/Keras at import (via gan.models)
    from gan.training.export import check_export_target

    run_dir = Path(run_dir)
    cfg.validate()
    try:
        role = check_strategy(cfg.strategy)
        replicas = expected_replicas(role)
        if cfg.jit_compile:
            check_jit(True, replicas)
    except StrategyError as e:
        raise TrainingError(str(e)) from None
    check_run_dir(run_dir)
    if not cfg.data:
        raise TrainingError("no data: give --data PATH (a folder, .zip, CelebA or UTKFace layout)")
    labels = check_data(cfg, run_dir, export_to if role.chief else None, replicas)
    previous = None
    if role.chief:
        check_export_target(export_to or run_dir / "bundle")
        ckpt = checkpoint_path(run_dir)
        if ckpt.is_file() and not new:
            check_checkpoint(ckpt)
        elif cfg.init_from:
            check_init_from(cfg, labels)
        if new and ckpt.is_file():
            previous = _PreviousRun(run_dir)
    try:
        with disk_full_says_where(run_dir):
            return _train(cfg, run_dir, role, export_to=export_to, progress=progress,
                          stop_at=stop_at, started=previous.discard if previous else None)
    finally:
        if previous is not None:
            previous.restore()          # when the new run failed before it started


def _data_folder(data: str) -> str | None:
    """The folder whose files a run trains on: the --data folder, or the folder of a labels file
    given as --data; None for a .zip (its photos are inside it)."""
    if os.path.isdir(data) or not os.path.exists(data):
        return data
    return None if zipfile.is_zipfile(data) else os.path.dirname(os.path.abspath(data))


def check_data(cfg: TrainConfig, run_dir: Path, export_to=None, replicas: int = 1) -> list[str]:
    """Refuse, before anything is written, data the run cannot train on: a folder that
    overlaps RUNDIR or the export folder (the run's own reals.png, samples and bundle would be
    trained on at the next start), a missing source, labels it does not have, or fewer photos
    than one batch. Lists the source (no photo is decoded); returns the label names asked."""
    from gan.data.sources import detect_source

    folder = _data_folder(str(cfg.data))
    for flag, other in (("--out", run_dir), ("--export", export_to)):
        if folder is not None and other is not None and paths_overlap(folder, other):
            raise TrainingError(f"--data {cfg.data} and {flag} {other} overlap (one is inside the "
                                "other): the run would train on its own sample grids and bundle "
                                "at the next start. Give them separate folders, neither inside "
                                "the other.")
    src = detect_source(cfg.data)          # FileNotFoundError: "no such file or folder: ..."
    names = label_names_asked(cfg, src)
    batch = cfg.batch_size * replicas
    if len(src.items) < batch:
        raise TrainingError(f"only {len(src.items)} photos in {cfg.data}, fewer than one batch of "
                            f"{batch}: lower --batch-size or add photos")
    return names


def label_names_asked(cfg: TrainConfig, src) -> list[str]:
    """The labels `cfg.labels` asks of the source `src` (gan.data.sources.Source); ValueError,
    worded as the data layer words it, for one the source does not have."""
    if not cfg.labels:
        return []
    if cfg.labels.strip().lower() == "auto":
        return list(src.auto_labels)
    names = []
    for want in (s for s in cfg.labels.split(",") if s.strip()):
        if want.strip().lower() not in src.labels:
            raise ValueError(f"label {want!r} not in {src.path} (its labels: "
                             f"{', '.join(src.labels) or 'none'})")
        names.append(want.strip().lower())
    return names


def check_checkpoint(ckpt: Path) -> None:
    """Refuse a checkpoint that cannot be read (truncated, empty, not one) before the resume
    writes anything; the file is left as it is."""
    try:
        read_meta(ckpt)
    except CheckpointError as e:
        raise TrainingError(f"{e}. It was left as it is: put back a whole copy to resume, or "
                            "start the run over with --new (which replaces it).") from None


def _architecture_diff(card: dict, cfg: TrainConfig) -> str:
    """The architecture fields in which a bundle differs from a run, worded; "" when none. A
    run may add the attention block a bundle lacks (`_grows_attention`)."""
    theirs = _architecture_of(card)
    return ", ".join(f"{k} {theirs.get(k)} vs {getattr(cfg, k)}" for k in _INIT_FIELDS
                     if theirs.get(k) != getattr(cfg, k)
                     and not (k == "attention_res" and _grows_attention(card, cfg)))


def _grows_attention(card: dict, cfg: TrainConfig) -> bool:
    """A run with an attention block started from a bundle without one: the block's output
    starts at zero, so the grown networks compute what the bundle's did."""
    return _architecture_of(card)["attention_res"] == 0 and cfg.attention_res > 0


def check_init_from(cfg: TrainConfig, labels: list[str]) -> None:
    """Refuse an --init-from bundle that cannot start this run (missing, damaged, another
    architecture, labels where the run has none or the reverse; `labels`: the run's) before
    any photo is read; `init_from_bundle` checks it again as it loads."""
    try:
        card = read_card(cfg.init_from)
        verify_files(cfg.init_from, card, model_files(card))
    except BundleError as e:
        raise TrainingError(f"--init-from: {e}") from None
    diff = _architecture_diff(card, cfg)
    if diff:
        raise TrainingError(f"--init-from {cfg.init_from}: the bundle's architecture differs from "
                            f"this run's (bundle vs run): {diff}")
    theirs = (card.get("labels") or {}).get("names") or []
    if bool(theirs) != bool(labels):
        raise TrainingError(f"--init-from {cfg.init_from}: the bundle is conditioned on "
                            f"{theirs or 'no labels'} but this run's data gives "
                            f"{labels or 'no labels'}; a bundle starts a run with other labels "
                            "only when both have labels")


class _PreviousRun:
    """The run `train.py --new` replaces: its checkpoint, log and config are moved into a
    hidden folder of RUNDIR once every check has passed, put back if the new run fails (or is
    stopped) before it has started (its photos loaded, its model built and restored), and
    removed once it has. A `kill -9` in between leaves them in RUNDIR/.previous-run-*/."""

    FILES = (CHECKPOINT_NAME, "log.jsonl", "config.json")

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.aside = Path(tempfile.mkdtemp(prefix=".previous-run-", dir=self.run_dir))
        self.moved, self.absent = [], []        # absent: what only the new start may write
        try:
            for name in self.FILES:
                if (self.run_dir / name).is_file():
                    os.replace(self.run_dir / name, self.aside / name)
                    self.moved.append(name)
                else:
                    self.absent.append(name)
        except BaseException:
            self.restore()
            raise

    def discard(self) -> None:
        shutil.rmtree(self.aside, ignore_errors=True)
        self.aside = None

    def restore(self) -> None:
        if self.aside is None:
            return
        for name in self.moved:
            os.replace(self.aside / name, self.run_dir / name)
        for name in self.absent:
            (self.run_dir / name).unlink(missing_ok=True)         # the failed start's
        shutil.rmtree(self.aside, ignore_errors=True)
        self.aside = None


def _remove_leftovers(run_dir: Path) -> None:
    """Temporary files a killed run left (a checkpoint write cut by kill -9, say)."""
    removed = remove_stale(run_dir) + remove_stale(run_dir / "samples")
    legacy = run_dir / "losses.tmp.png"          # plot_losses' temp file before it was atomic
    if legacy.is_file():
        legacy.unlink()
        removed.append(legacy)
    if removed:
        print(f"Removed {len(removed)} temporary file(s) an interrupted run left in {run_dir}.",
              file=sys.stderr)


def balanced_index(cfg: TrainConfig, faces):
    """(epoch of photo indices, report) drawing each group of `cfg.balance`'s labels equally
    often (`gan.data.balance`); (None, None) when the run does not balance."""
    from gan.data.balance import (BalanceError, balance_names, balance_report, balance_weights,
                                  codes_of, sampling_index)

    names = balance_names(cfg.balance)
    if not names:
        return None, None
    try:
        codes = codes_of(faces, names)
    except BalanceError as e:
        raise TrainingError(f"--balance: {e}") from None
    index = sampling_index(balance_weights(codes), seed=cfg.seed)
    return index, balance_report(codes, names, index)


def _prepare_photos(cfg: TrainConfig, run_dir: Path, progress: bool, replicas: int = 1):
    """Load the run's split, write its data report and reals.png, and refuse too few photos
    for one global batch before any model is built. Returns (training photos, held-out photos
    or None, balanced epoch of indices or None)."""
    faces, held = load_run_photos(cfg, progress)
    report = dict(faces.report)
    report["holdout"] = {"fraction": cfg.holdout_fraction, "train": len(faces.images),
                         "held_out": 0 if held is None else len(held.images),
                         "held_out_keys": [] if held is None else list(held.keys)}
    index, report["balance"] = balanced_index(cfg, faces) if len(faces.images) else (None, None)
    atomic_write_text(run_dir / "data_report.json", json.dumps(report, indent=2, default=str) + "\n")
    if len(faces.images) < 1:
        raise TrainingError(f"no usable photos in {cfg.data}; see {run_dir / 'data_report.json'}")
    if len(faces.images) < cfg.batch_size * replicas:
        per = f" ({cfg.batch_size} per replica x {replicas} replicas)" if replicas > 1 else ""
        raise TrainingError(f"only {len(faces.images)} usable photos, fewer than one batch of "
                            f"{cfg.batch_size * replicas}{per}: lower --batch-size or add photos")
    if index is not None:      # a balanced epoch repeats photos side by side: draw across it
        pick = np.random.default_rng(cfg.seed).choice(len(index), min(N_SAMPLES, len(index)),
                                                      replace=False)
        shown = faces.images[np.sort(index[pick])]
    else:
        shown = faces.images[:N_SAMPLES]
    save_png(run_dir / "reals.png", make_grid(shown, cols=8))
    return faces, held, index


def _restore_state(cfg: TrainConfig, run_dir: Path, model, groups, label_names: list[str],
                   chief: bool = True):
    """(step, seconds, cpu, init_info): the checkpoint's when resuming, else a fresh start,
    from --init-from's weights when given (read by the chief only: the other workers of a
    multi-worker run then take the chief's state)."""
    # lazy: gan.training.gan_model loads TensorFlow/Keras; only when training starts
    from gan.training.gan_model import OPTIONAL_GROUPS

    step, seconds, init_info = 0, 0.0, None
    cpu = {"seconds": 0.0, "from_step": 0}     # process CPU time (all threads) of the steps
    ckpt = checkpoint_path(run_dir)
    if ckpt.is_file():
        meta = load_checkpoint(ckpt, groups, optional=OPTIONAL_GROUPS)
        model.use_configured_learning_rates()     # --lr-g/--lr-d given on resume apply
        step, seconds = int(meta["step"]), float(meta.get("training_seconds", 0.0))
        cpu = _cpu_meta(meta)
        init_info = meta.get("init_from")
        if meta.get("label_names", []) != label_names:
            raise TrainingError(f"the data now gives labels {label_names} but the checkpoint was "
                                f"trained with {meta.get('label_names')}")
        print(f"Resuming {run_dir} at step {step} ({seconds / 3600:.2f} h trained so far).",
              file=sys.stderr)
    elif cfg.init_from and chief:
        init_info = init_from_bundle(model, cfg, cfg.init_from, label_names)
        fresh = init_info.get("started_fresh")
        print(f"Starting from {cfg.init_from} ({init_info['steps']} steps trained there); "
              "optimizer state starts fresh" + (", and so do the layers it does not share with "
                                                "this run (" + ", ".join(fresh) + ")"
                                                if fresh else "") + ".", file=sys.stderr)
    return step, seconds, cpu, init_info


def _log_step(log_f, writer, bar, out: dict[str, float], *, step: int, seconds: float,
              cpu_seconds: float, ips: float) -> None:
    """One row of log.jsonl, the progress bar's figures and the TensorBoard scalars."""
    import tensorflow as tf

    row = {"step": step, "time": round(time.time(), 3), "training_seconds": round(seconds, 2),
           "cpu_seconds": round(cpu_seconds, 2), "img_per_s": round(ips, 1),
           **{k: round(v, 5) for k, v in out.items()}}
    log_f.write(json.dumps(row) + "\n")
    log_f.flush()
    bar.set_postfix(d=f"{out['d_loss']:.3f}", g=f"{out['g_loss']:.3f}", ips=f"{ips:.0f}")
    with writer.as_default():
        for k, v in out.items():
            tf.summary.scalar(k, v, step=step)
        tf.summary.scalar("img_per_s", ips, step=step)


def _open_run_dir(cfg: TrainConfig, run_dir: Path) -> None:
    """Create the run directory, clear what a killed run left, and write config.json first,
    so even a run that fails on its data says with which options it was started."""
    run_dir.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(run_dir)
    configure_threads()
    cfg.save(run_dir / "config.json")


def _start_strategy(cfg: TrainConfig, role: Role):
    """The run's tf.distribute strategy (after configure_threads, before any TensorFlow op,
    as MultiWorkerMirroredStrategy requires) and, for a multi-worker run, its Workers."""
    # lazy: these load TensorFlow; only when training starts
    from gan.training.distribute import Workers, make_strategy

    if role.multiworker:
        print(f"Waiting for the {role.workers} workers of TF_CONFIG ({role.task} {role.index} here, "
              f"{'the chief' if role.chief else 'not the chief'})...", file=sys.stderr)
    strategy = make_strategy(role)
    try:
        check_jit(cfg.jit_compile, strategy.num_replicas_in_sync)
    except StrategyError as e:
        raise TrainingError(str(e)) from None
    if role.strategy != "default":
        print(f"{role.strategy}: {strategy.num_replicas_in_sync} replica(s) in all, "
              f"{len(strategy.extended.worker_devices)} here.", file=sys.stderr)
    return strategy, (Workers(strategy) if role.multiworker else None)


def _check_workers_agree(cfg: TrainConfig, faces, held, workers) -> None:
    """Refuse, on every worker, a cluster whose workers were given other options or photos
    than the chief (they would build other networks or train on other batches)."""
    facts = {k: v for k, v in cfg.to_dict().items() if k not in ("data", "n_jobs", "init_from")}
    facts.update({"training photos": len(faces.images),
                  "held-out photos": 0 if held is None else len(held.images),
                  "labels": list(faces.label_names) if faces.labels is not None else []})
    differ = workers.differ_from_chief(facts)
    if workers.any(bool(differ)):
        if differ:
            verb = "differs" if len(differ) == 1 else "differ"
            raise TrainingError(f"this worker's {', '.join(differ)} {verb} from the chief's: give "
                                "every worker the same command and the same photos")
        raise TrainingError("another worker was given other options or photos than the chief "
                            "(its message says which): give every worker the same command")


@dataclass
class _Session:
    """What one training session works on: the model, its photos and the counters a
    checkpoint records. The steps below read and advance it."""
    cfg: TrainConfig
    run_dir: Path                 # where this process writes: RUNDIR, or a non-chief's scratch
    role: Role
    strategy: Any                 # tf.distribute strategy (the default one: one device)
    workers: Any                  # gan.training.distribute.Workers in a multi-worker run
    faces: Any
    held: Any
    model: Any
    groups: Any                   # the model's variables, by checkpoint group
    label_names: list[str]
    label_kinds: list[str]
    init_info: dict | None        # where --init-from started the run, for the model card
    step: int
    seconds: float                # wall time of the steps trained, all sessions
    cpu: dict[str, Any]           # process CPU time of the steps: {"seconds", "from_step"}
    images_seen: int              # photos trained on, all sessions (global batches)
    index: Any = None             # balanced epoch of photo indices (--balance), or None
    writer: Any = None            # TensorBoard
    sample_z: Any = None          # the fixed inputs of the sample grids
    sample_y: Any = None
    broken: Any = ...             # gan.metrics.broken.BrokenFigure; None: off or unavailable; ...: not loaded yet

    @property
    def log_path(self) -> Path:
        return self.run_dir / "log.jsonl"

    @property
    def global_batch(self) -> int:
        return self.cfg.batch_size * self.strategy.num_replicas_in_sync


def _start_session(cfg: TrainConfig, run_dir: Path, role: Role, strategy, workers, faces,
                   held) -> _Session:
    """Build the model (seeded: same config, same initial weights) in the strategy's scope and
    restore the checkpoint or --init-from weights (the other workers then take the chief's
    state); drop log lines past the checkpoint, as those steps run again."""
    import keras

    # lazy: gan.training.gan_model loads TensorFlow/Keras; only when training starts
    from gan.training.gan_model import DCGAN

    label_names = list(faces.label_names) if faces.labels is not None else []
    label_kinds = list(faces.label_kind) if faces.labels is not None else []
    keras.utils.set_random_seed(cfg.seed)
    with strategy.scope():
        model = DCGAN(cfg, n_labels=len(label_names))
    model.steps_per_epoch = max(1, len(faces.images) // (cfg.batch_size * strategy.num_replicas_in_sync))
    groups = model.state_variables()
    step, seconds, cpu, init_info = _restore_state(cfg, run_dir, model, groups, label_names,
                                                   chief=role.chief)
    images_seen = _images_seen(checkpoint_path(run_dir), step, cfg.batch_size)
    if workers is not None:
        step = workers.take_chief_state(groups, step)
        if not role.chief:
            print(f"{role.name().capitalize()} starts from the chief's state at step {step}.",
                  file=sys.stderr)
    _truncate_log(run_dir / "log.jsonl", step)
    return _Session(cfg, run_dir, role, strategy, workers, faces, held, model, groups,
                    label_names, label_kinds, init_info, step, seconds, cpu, images_seen)


def _images_seen(ckpt: Path, step: int, batch_size: int) -> int:
    """Photos trained on up to the checkpoint (checkpoints from before distributed training
    did not count them: every step then took `batch_size`)."""
    if not step or not ckpt.is_file():
        return step * batch_size
    meta = read_meta(ckpt)
    return int(meta.get("images_seen", step * int(meta["config"].get("batch_size", batch_size))))


def _save_state(s: _Session, reason: str) -> None:
    """Checkpoint everything a resume needs (weights, optimizers, counters, config). Every
    worker writes one, as TensorFlow's multi-worker guide has it; a non-chief's goes to its
    scratch folder and is deleted at once (the chief's is the run's)."""
    path = checkpoint_path(s.run_dir)
    save_checkpoint(path, s.groups,
                    {"step": s.step, "training_seconds": s.seconds,
                     "cpu_seconds": s.cpu["seconds"],
                     "cpu_counted_from_step": s.cpu["from_step"],
                     "images_seen": s.images_seen,
                     "replicas": s.strategy.num_replicas_in_sync,
                     "label_names": s.label_names, "label_kinds": s.label_kinds,
                     "reason": reason,
                     "init_from": s.init_info,
                     "config": s.cfg.to_dict(), "time": time.time()})
    if not s.role.chief:
        path.unlink()


def _write_samples(s: _Session, figures: bool = True) -> dict[str, float]:
    """samples/fakesNNNNNN.png and TensorBoard: the EMA generator on the fixed z, so grids
    of different steps show the same faces developing (the chief writes them). Returns the
    figures of the grid for the log: the predicted broken share, when it is on."""
    import tensorflow as tf

    inputs = [s.sample_z, s.sample_y] if s.label_names else s.sample_z
    imgs = to_uint8(np.asarray(s.model.ema_generator(inputs, training=False)))
    grid = make_grid(imgs, cols=8)
    save_png(s.run_dir / "samples" / f"fakes{s.step:06d}.png", grid)
    with s.writer.as_default():
        tf.summary.image("samples", grid[None], step=s.step)
    if figures and s.broken is ...:
        s.broken = _load_broken_figure(s.cfg, s.role.chief)
    if not figures or s.broken is None:
        return {}
    return {"broken_predicted": s.broken.broken_share(imgs)}


def _load_broken_figure(cfg: TrainConfig, chief: bool):
    """The predicted-broken figure for the sample grids, or None: switched off, not the chief,
    or dlib's models missing (said once; the run goes on without it)."""
    if not (cfg.broken_figure and chief):
        return None
    from gan.metrics.broken import BrokenFigure, BrokenFigureUnavailable

    try:
        return BrokenFigure()
    except BrokenFigureUnavailable as e:
        print(f"broken_predicted is not logged: {e}", file=sys.stderr)
        return None


def _train_step(s: _Session, step_fn, r1_fn, batch) -> dict[str, float]:
    """One step of D and G on a batch, plus the lazy R1 penalty every `r1_every` steps
    (as StyleGAN2 does); the losses as plain floats."""
    import tensorflow as tf

    real, labels = batch
    out = step_fn((real, labels, tf.constant(s.step, tf.int64)))
    if s.cfg.r1_gamma > 0 and s.step % s.cfg.r1_every == 0:
        out.update(r1_fn((real, labels, tf.constant(s.step, tf.int64))))
    return {k: float(v) for k, v in out.items()}


def _roll_back(s: _Session, out: dict[str, float]) -> None:
    """After a non-finite loss: reload the last checkpoint (the weights are now garbage)
    and say what to try; the run then stops as "diverged"."""
    # lazy: gan.training.gan_model loads TensorFlow/Keras; only when training starts
    from gan.training.gan_model import OPTIONAL_GROUPS

    bad = s.step
    ckpt = checkpoint_path(s.run_dir)
    if ckpt.is_file():
        meta = load_checkpoint(ckpt, s.groups, optional=OPTIONAL_GROUPS)
        s.step = int(meta["step"])
        msg = f"rolled back to the last good checkpoint (step {s.step})"
    else:
        msg = "no checkpoint to roll back to yet"
    if s.workers is not None:             # every worker takes the chief's rolled-back state
        s.step = s.workers.take_chief_state(s.groups, s.step)
        if not s.role.chief:
            msg = f"took the chief's state of step {s.step}"
    print(f"\nTraining diverged at step {bad} (losses {out}); {msg}. "
          "Try a lower learning rate or --r1-gamma 1, then run again.",
          file=sys.stderr)


class _Throughput:
    """Images per second over the steps since the last log row."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self.t, self.n = time.perf_counter(), 0

    def count_step(self) -> None:
        self.n += 1

    def rate(self) -> float:
        now = time.perf_counter()
        ips = self.n * self.batch_size / max(now - self.t, 1e-9)
        self.t, self.n = now, 0
        return ips


def _after_step(s: _Session, out: dict[str, float], log_f, bar, meter: _Throughput,
                target: int) -> None:
    """The periodic work of a step: a log row every `log_every` steps (and at the last),
    sample grid and loss plot every `sample_every`, checkpoint every `checkpoint_every`."""
    cfg = s.cfg
    sampling = s.step % cfg.sample_every == 0 and s.role.chief
    figures = _write_samples(s) if sampling else {}
    if s.step % cfg.log_every == 0 or s.step == target or figures:
        _log_step(log_f, s.writer, bar, {**out, **figures}, step=s.step, seconds=s.seconds,
                  cpu_seconds=s.cpu["seconds"], ips=meter.rate())
    if sampling:
        plot_losses(s.log_path, s.run_dir / "losses.png")
    if s.step % cfg.checkpoint_every == 0:
        _save_state(s, "interval")


def _run_steps(s: _Session, step_fn, r1_fn, target: int, progress: bool) -> str:
    """Train from s.step up to `target`: "finished", "interrupted" (a signal: the step in
    hand completes) or "diverged" (rolled back). The checkpoint is saved on the way out,
    except after a divergence, which must not overwrite the last good one."""
    from tqdm import tqdm

    # lazy: loads TensorFlow; only when training starts
    from gan.training.distribute import distribute_batches

    cfg, status = s.cfg, "finished"
    data = distribute_batches(s.strategy, s.faces.images, s.faces.labels, cfg.batch_size,
                              seed=cfg.seed, start_step=s.step, flip=cfg.flip, index=s.index)
    log_f = open(s.log_path, "a")
    bar = tqdm(total=cfg.steps, initial=s.step, disable=not progress, unit="step",
               dynamic_ncols=True, desc="train")
    meter = _Throughput(s.global_batch)
    try:
        with _StopFlag() as stop:
            it = iter(data)
            while s.step < target:
                t0, c0 = time.perf_counter(), time.process_time()
                out = _train_step(s, step_fn, r1_fn, next(it))
                if not all(math.isfinite(v) for v in out.values()):
                    _roll_back(s, out)
                    status = "diverged"
                    break
                s.step += 1
                s.images_seen += s.global_batch
                meter.count_step()
                bar.update(1)
                _after_step(s, out, log_f, bar, meter, target)
                s.seconds += time.perf_counter() - t0   # wall time, sampling and saving included
                s.cpu["seconds"] += time.process_time() - c0   # CPU time: a paused run adds none
                if _stop_requested(s, stop):
                    status = "interrupted"
                    print(f"\nStopped by signal {stop.signal} at step {s.step}; checkpoint saved. "
                          "Run the same command again to resume.", file=sys.stderr)
                    break
            if status != "diverged":
                _save_state(s, status)
    finally:
        bar.close()
        log_f.close()
        s.writer.flush()
    return status


def _stop_requested(s: _Session, stop: "_StopFlag") -> bool:
    """A signal asked this process to stop; in a multi-worker run, any worker's signal stops
    them all after the same step."""
    asked = stop.signal is not None
    if s.workers is not None:
        asked = s.workers.any(asked)
        if asked and stop.signal is None:
            stop.signal = "from another worker"
    return asked


def _finish(s: _Session, status: str, export_to) -> RunResult:
    """End of the session: the loss plot, and for a finished run the last sample grid and
    the exported bundle (the chief's). A run stopped by `stop_at` counts as interrupted.
    Each worker of a multi-worker run prints the fingerprint of its state: all the same."""
    if s.step < s.cfg.steps and status == "finished":
        status = "interrupted"  # stopped by stop_at
    if s.workers is not None:
        print(f"{s.role.name().capitalize()}: step {s.step}, state fingerprint "
              f"{state_fingerprint(checkpoint_arrays(s.groups))}", file=sys.stderr)
    if status == "diverged":
        return RunResult(s.step, status, s.seconds)
    if s.log_path.stat().st_size and s.role.chief:
        plot_losses(s.log_path, s.run_dir / "losses.png")
    bundle = None
    if status == "finished" and s.role.chief:
        _write_samples(s, figures=False)   # the last grid; a sample step logged its figure already
        bundle = export_run(s.run_dir, export_to or s.run_dir / "bundle", model=s.model,
                            faces=s.faces, held=s.held, step=s.step, seconds=s.seconds, cfg=s.cfg,
                            label_names=s.label_names, label_kinds=s.label_kinds,
                            init_info=s.init_info, cpu=s.cpu, images_seen=s.images_seen)
    return RunResult(s.step, status, s.seconds, bundle)


def _train(cfg: TrainConfig, run_dir: Path, role: Role, *, export_to, progress: bool,
           stop_at: int | None, started=None) -> RunResult:
    """One training session on `run_dir`, or, for a worker that is not the chief, on a
    scratch folder of its own that is removed when it stops."""
    if role.chief:
        return _session(cfg, run_dir, role, export_to=export_to, progress=progress, stop_at=stop_at,
                        started=started)
    scratch = Path(tempfile.mkdtemp(prefix=f"facegan-{role.task}{role.index}-"))
    print(f"{role.name().capitalize()}: the chief writes {run_dir}; this worker's scratch files "
          f"go to {scratch} (removed at the end).", file=sys.stderr)
    try:
        return _session(cfg, scratch, role, export_to=None, progress=progress, stop_at=stop_at)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _session(cfg: TrainConfig, run_dir: Path, role: Role, *, export_to, progress: bool,
             stop_at: int | None, started=None) -> RunResult:
    """One training session, in the order a reader meets it: the run directory, the strategy,
    the photos, the model and its restored state, the samples' fixed inputs, the steps, the end.
    `started` is called once the model is built and restored, before the first step.
    In a multi-worker run, a collective op that fails (a worker is gone) ends it in one line."""
    import tensorflow as tf

    _open_run_dir(cfg, run_dir)
    try:
        strategy, workers = _start_strategy(cfg, role)
        faces, held, index = _prepare_photos(cfg, run_dir, progress, strategy.num_replicas_in_sync)
        if workers is not None:
            _check_workers_agree(cfg, faces, held, workers)
        s = _start_session(cfg, run_dir, role, strategy, workers, faces, held)
        s.index = index
        if started is not None:
            started()

        step_fn, r1_fn = s.model.compiled_steps()
        s.sample_z, s.sample_y = _sample_inputs(cfg, faces.labels)
        s.writer = tf.summary.create_file_writer(str(run_dir / "tb"))
        (run_dir / "samples").mkdir(exist_ok=True)
        if s.step == 0 and role.chief:
            _write_samples(s, figures=False)  # fakes000000: the untrained generator
        target = min(cfg.steps, stop_at) if stop_at is not None else cfg.steps
        status = _run_steps(s, step_fn, r1_fn, target, progress)
    except tf.errors.OpError as e:
        if not role.multiworker:
            raise
        raise TrainingError(_lost_worker(run_dir, role, e)) from None
    return _finish(s, status, export_to)


def _lost_worker(run_dir: Path, role: Role, error) -> str:
    """What to do when a collective op failed: a worker of the cluster stopped (the
    coordination service names the task that stopped sending heartbeats)."""
    ckpt = checkpoint_path(run_dir)
    kept = (f"the last checkpoint (step {read_meta(ckpt)['step']}) in {run_dir} is intact"
            if role.chief and ckpt.is_file() else "the chief's last checkpoint is intact")
    named = re.search(r"/job:(\w+)/replica:\d+/task:(\d+)", str(error))
    who = f"{named.group(1)} {named.group(2)}" if named else "a worker"
    return (f"lost contact with {who} of the cluster ({type(error).__name__}); {kept}: start "
            "every worker again with the same command to resume from it")


# architecture fields a bundle must share with the run it starts (labels are checked by name)
_INIT_FIELDS = tuple(f for f in ARCHITECTURE_FIELDS if f not in ("labels", "crop"))


# the layers that read the labels: a bundle conditioned on other labels starts them fresh
LABEL_LAYERS = ("label_embed", "label_projection")


def _copy_layers(src, dst, skip=()) -> tuple[list[str], list[str]]:
    """Copy the weights of every layer of `src` into the layer of `dst` of the same name and
    shapes, except `skip`. Returns (layers copied, layers of `dst` left as they were)."""
    theirs = {layer.name: layer for layer in src.layers}
    kept, fresh = [], []
    for layer in dst.layers:
        if not layer.weights:
            continue
        other = theirs.get(layer.name)
        ws = None if other is None or layer.name in skip else other.get_weights()
        if ws is not None and [w.shape for w in ws] == [tuple(v.shape) for v in layer.weights]:
            layer.set_weights(ws)
            kept.append(layer.name)
        else:
            fresh.append(layer.name)
    return kept, fresh


def _start_label_layers(bundle, model) -> None:
    """The label layers of a run started from a bundle of other labels: zero weights, and G's
    embedding keeps the bundle's bias, so the new run's first faces are the bundle's faces for
    all-zero labels (random weights there fed the next layer inputs it never saw, and the first
    samples were distorted faces) and D starts as the bundle's D without its label term. The
    weights then learn from the first step (a zero kernel still gets gradients)."""
    embed = model.generator.get_layer("label_embed")
    kernel, *bias = embed.get_weights()
    theirs = bundle.generator.get_layer("label_embed").get_weights()
    embed.set_weights([np.zeros_like(kernel)] + ([theirs[1]] if bias and len(theirs) > 1 else bias))
    proj = model.discriminator.get_layer("label_projection")
    proj.set_weights([np.zeros_like(w) for w in proj.get_weights()])


def init_from_bundle(model, cfg: TrainConfig, bundle_path: str | Path,
                     label_names: list[str]) -> dict[str, Any]:
    """Copy a bundle's EMA generator (into G and G_ema) and discriminator into a fresh training
    model, after checking that the architectures agree. A conditional bundle may start a run
    conditioned on other labels (the groups model from the 2026-12-03 models/default): every
    layer is copied but the two that read the labels (G's label embedding, D's label
    projection), which start fresh. Returns what the model card records."""
    try:
        bundle = load_bundle(bundle_path)
    except BundleError as e:
        raise TrainingError(f"--init-from: {e}") from e
    diff = _architecture_diff(bundle.card, cfg)
    if diff:
        raise TrainingError(f"--init-from {bundle_path}: the bundle's architecture differs from this "
                            f"run's (bundle vs run): {diff}")
    same_labels = bundle.label_names == list(label_names)
    if not same_labels and (not bundle.label_names or not label_names):
        raise TrainingError(f"--init-from {bundle_path}: the bundle is conditioned on "
                            f"{bundle.label_names or 'no labels'} but this run's data gives "
                            f"{label_names or 'no labels'}; a bundle starts a run with other "
                            "labels only when both have labels")
    fresh: list[str] = []
    grown = _grows_attention(bundle.card, cfg)
    if same_labels and not grown:
        g_weights = bundle.generator.get_weights()
        model.generator.set_weights(g_weights)
        model.discriminator.set_weights(bundle.discriminator.get_weights())
    else:
        skip = () if same_labels else LABEL_LAYERS
        _, fresh_g = _copy_layers(bundle.generator, model.generator, skip)
        _, fresh_d = _copy_layers(bundle.discriminator, model.discriminator, skip)
        fresh = fresh_g + fresh_d
        expected = list(skip) + (_attention_layers(model) if grown else [])
        if sorted(fresh) != sorted(expected):
            raise TrainingError(f"--init-from {bundle_path}: its layers {', '.join(sorted(fresh))} "
                                "do not fit this run's")
        if not same_labels:
            _start_label_layers(bundle, model)
        g_weights = model.generator.get_weights()
    model.ema_generator.set_weights(g_weights)
    tr = bundle.card.get("training", {})
    # a bundle that was itself fine-tuned carries its own start's figures in its totals
    info = {"bundle": str(bundle_path),
            "steps": int(tr.get("total_steps", tr.get("steps", 0)) or 0),
            "seconds": float(tr.get("total_seconds", tr.get("seconds", 0.0)) or 0.0),
            "cpu_seconds": float(tr.get("total_cpu_seconds", tr.get("cpu_seconds", 0.0)) or 0.0),
            "generator_sha256": bundle.card.get("files", {}).get("generator.keras", {}).get("sha256")}
    if not same_labels:
        info["labels"] = list(bundle.label_names)
    if fresh:
        info["started_fresh"] = fresh
    return info


def _attention_layers(model) -> list[str]:
    """The weighted layers of the attention blocks of G and D (`gan.models._attention`)."""
    return [layer.name for net in (model.generator, model.discriminator) for layer in net.layers
            if layer.name.startswith("attn") and layer.weights]


def _data_card(cfg: TrainConfig, report: dict, n_train: int, n_held: int) -> dict[str, Any]:
    data = {"source": str(cfg.data), "kind": report.get("source_kind", report.get("kind")),
            "train_images": n_train, "holdout": {"fraction": cfg.holdout_fraction, "images": n_held},
            "counts": report.get("counts", {}), "dedup": cfg.dedup, "crop": cfg.crop}
    if report.get("balance"):
        data["balance"] = report["balance"]      # per group: photos, share of photos and of draws
    return data


def _draw_weights(cfg: TrainConfig, faces) -> np.ndarray | None:
    """Each training photo's share of a balanced run's draws (`gan.data.balance`), for the
    card's label frequencies; None when the run does not balance."""
    from gan.data.balance import BalanceError, balance_names, balance_weights, codes_of

    if faces is None or faces.labels is None or not balance_names(cfg.balance):
        return None
    try:
        return balance_weights(codes_of(faces, balance_names(cfg.balance)))
    except BalanceError:
        return None


def export_run(run_dir: str | Path, out_dir: str | Path, *, model=None, faces=None, held=None,
               step: int | None = None, seconds: float | None = None, cfg: TrainConfig | None = None,
               label_names: list[str] | None = None, init_info: dict | None = None,
               cpu: dict | None = None, label_kinds: list[str] | None = None,
               images_seen: int | None = None) -> Path:
    """Export a bundle from a run: from the live model at the end of training, or (when called
    with only the run directory) from its latest checkpoint, e.g. while it still trains."""
    # lazy: gan.training.export loads TensorFlow/Keras at import (via gan.models)
    from gan.training.export import check_export_target, export_bundle
    # lazy: gan.training.gan_model loads TensorFlow/Keras; only when exporting
    from gan.training.gan_model import DCGAN, OPTIONAL_GROUPS

    run_dir = Path(run_dir)
    check_export_target(out_dir)
    report = {}
    if (run_dir / "data_report.json").is_file():
        report = json.loads((run_dir / "data_report.json").read_text())
    if model is None:
        ckpt = checkpoint_path(run_dir)
        if not ckpt.is_file():
            raise TrainingError(f"{run_dir} has no checkpoint to export yet")
        meta = read_meta(ckpt)
        cfg = TrainConfig.from_dict(meta["config"])
        label_names = meta.get("label_names", [])
        label_kinds = meta.get("label_kinds")     # None in checkpoints from before kinds
        model = DCGAN(cfg, n_labels=len(label_names))
        load_checkpoint(ckpt, model.state_variables(), optional=OPTIONAL_GROUPS)
        step, seconds = int(meta["step"]), float(meta.get("training_seconds", 0.0))
        init_info = meta.get("init_from")
        cpu = _cpu_meta(meta)
        images_seen = _images_seen(ckpt, step, cfg.batch_size)
        try:        # for the real examples the bundle ships (the detect page's "try it")
            faces, held = load_run_photos(cfg)
        except Exception as e:  # noqa: BLE001 - data gone: the bundle ships without examples
            print(f"Exporting without real example photos ({cfg.data} not readable: {e}).",
                  file=sys.stderr)
    hold = report.get("holdout", {})
    n_train = faces is not None and len(faces.images) or hold.get("train", 0)
    n_held = held is not None and len(held.images) or hold.get("held_out", 0)
    examples = None
    if held is not None and len(held.images):
        examples = held.images[:8]
    elif faces is not None:
        examples = faces.images[:8]
    data = _data_card(cfg, report, n_train, n_held)
    data["holdout"]["keys_file"] = "data_report.json of the run"
    out = export_bundle(model, cfg, out_dir, label_names=label_names or [],
                        label_kinds=label_kinds if label_names else None, step=step,
                        training_seconds=seconds, data=data, real_examples=examples,
                        init_from=init_info, cpu=cpu, images_seen=images_seen,
                        label_rows=(faces.labels if faces is not None and label_names else None),
                        label_weights=_draw_weights(cfg, faces))
    print(f"Exported bundle to {out} (step {step}).", file=sys.stderr)
    return out
