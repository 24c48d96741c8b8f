"""Train the FaceGAN DCGAN on a folder of face photos and export a bundle.

    python train.py --data PATH --out RUNDIR [--steps N] [--export models/NAME]

Running the same command again on the same RUNDIR resumes where the run stopped (Ctrl-C,
SIGTERM, a closed laptop or kill -9 lose at most one checkpoint interval). With only
`--out RUNDIR --export models/NAME`, the latest checkpoint of RUNDIR is exported without
training (safe while that run still trains).

`--strategy mirrored` trains on every local GPU (or CPU device); `--strategy multiworker` on
the machines TF_CONFIG names, each running the same command (the README has examples).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from gan.config import TrainConfig  # noqa: E402  (light: no TensorFlow)
from gan.training.checkpoint import CheckpointError  # noqa: E402  (light: NumPy only)
from gan.training.loop import (  # noqa: E402  (light: TensorFlow loads when training starts)
    TrainingError,
    check_checkpoint,
    check_run_dir,
    checkpoint_path,
    disk_full_says_where,
    export_run,
    resolve_config,
    train,
)

HELP = {
    "data": "photos to train on: a folder (searched recursively), a .zip, a CelebA folder with "
            "list_attr_celeba.txt, a folder with a labels CSV beside it, or UTKFace files",
    "resolution": "image side in pixels (power of two)",
    "crop": "square crop: face (OpenCV face detector, centre fallback), center, none",
    "labels": "condition on labels: 'auto' (all the source has, e.g. subfolder classes) or "
              "names, e.g. 'male,smiling'; omit for an unconditional model",
    "dedup": "drop near-duplicate photos (perceptual hash) before training",
    "balance": "draw every group of these labels equally often, e.g. 'ethnicity,gender,age_group' "
               "(sampling weights; recorded in the card with each group's share of the draws); "
               "'' draws the photos as they come",
    "holdout_fraction": "fraction of photos kept out of training for evaluation (by file hash)",
    "flip": "random horizontal flips of training photos",
    "latent_dim": "size of the random vector z",
    "g_channels": "generator channels at full resolution (doubling per halving, capped)",
    "g_max_channels": "cap on generator channels",
    "label_loss": "weight of an auxiliary classifier of the labels on D's features, trained on "
                  "real photos, that the generator's faces must satisfy (keeps the label "
                  "sliders strong); conditional runs; 0 = off",
    "label_edit": "weight of an L1 penalty between the faces one z gives under its labels and "
                  "under another face's labels, so a slider changes only what its label needs "
                  "(use with --label-loss); conditional runs; 0 = off",
    "mode_seeking": "weight of the mode-seeking term (Mao et al. 2019): the generator is "
                    "penalised when two different z give similar faces; 0 = off",
    "mode_seeking_on": "what mode seeking compares: image (all of it) or detail (the image minus "
                       "its 1/8-size copy, so faces differ in structure rather than in overall "
                       "colour and layout)",
    "top_k": "top-k generator updates (Sinha et al. 2020): the generator learns only from the "
             "share of each batch's faces the discriminator finds most real, annealed from all "
             "of them by 0.99 per epoch down to this share (0.5-0.75 in the paper); 1 = off",
    "d_recon": "weight of a self-supervised task for the discriminator (FastGAN, Liu et al. "
               "2021): a small decoder, used in training only, redraws each real photo at 32 px "
               "from D's 8x8 features, so D must describe the whole face, not only what tells "
               "this generator's faces apart; 0 = off",
    "d_channels": "discriminator channels after its first convolution",
    "d_max_channels": "cap on discriminator channels",
    "d_norm": "discriminator normalisation: none (default, regularised by R1) or batch (BatchNorm without scale)",
    "d_dropout": "dropout before the discriminator's last layer",
    "extra_convs": "extra 3x3 convolutions per resolution (network depth)",
    "extra_convs_max_res": ("put the --extra-convs only in the blocks at most this resolution, "
                            "where the face's layout forms and a convolution costs little "
                            "(0 = every block)"),
    "attention_res": ("a self-attention block (SAGAN, Zhang et al. 2019) at this resolution in "
                      "both networks, so distant parts of a face (the two eyes) see each other; "
                      "its output starts at zero, so a bundle without one can start the run "
                      "(--init-from) and draws the same faces at first (0 = none)"),
    "label_embed_dim": "size of the label embedding fed to the generator",
    "init_from": ("a bundle (models/NAME) whose generator and discriminator weights start a new run: "
                  "fine-tune a trained model on your own photos; its optimizer state starts fresh, "
                  "and its architecture options come from the bundle's card unless you set them"),
    "steps": "total training steps of the run, counted across resumes",
    "batch_size": "photos per step on each replica (the global batch is this times the replicas)",
    "strategy": "tf.distribute strategy: default (one device), mirrored (every local GPU, or the "
                "CPU) or multiworker (the machines TF_CONFIG names; every worker runs the same "
                "command, the chief writes RUNDIR)",
    "lr_g": "generator learning rate",
    "lr_d": "discriminator learning rate",
    "beta_1": "Adam beta_1",
    "beta_2": "Adam beta_2",
    "ema_decay": "decay of the generator's exponential moving average used for samples/export",
    "diffaugment": "DiffAugment policies applied to real and fake before D ('' for none)",
    "r1_gamma": "R1 gradient penalty weight on real photos (0: off); keeps D from overpowering G, which is what made G collapse to one face",
    "r1_every": "apply R1 every N steps (lazy regularisation)",
    "precision": "auto (mixed_bfloat16 on a CPU with AVX-512 BF16 or AMX, float32 on "
                 "any other, where bfloat16 is emulated and slower), mixed_bfloat16 (also for "
                 "recent GPUs), mixed_float16 (with loss scaling: GPUs without fast bfloat16) "
                 "or float32",
    "jit_compile": "XLA-compile the training step",
    "seed": "random seed of the run (data order, z, augmentation)",
    "sample_every": "steps between sample grids in RUNDIR/samples",
    "checkpoint_every": "steps between checkpoints",
    "log_every": "steps between lines of RUNDIR/log.jsonl",
    "broken_figure": "with every sample grid, log the share of its faces that a classifier "
                     "fitted on the project's blind audits calls broken (broken_predicted in "
                     "log.jsonl and TensorBoard): a trend between audits, not an audit",
    "n_jobs": "parallel photo decoders (-1: all cores)",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Defaults suit a 2-core CPU. Every option may also come from --config FILE.json "
               "(keys as in RUNDIR/config.json); command-line options win over the file.")
    p.add_argument("--out", required=True, metavar="RUNDIR",
                   help="run directory: config, logs, samples, checkpoint (resumed if present)")
    p.add_argument("--config", metavar="FILE", help="JSON file of options (as in config.json)")
    p.add_argument("--export", metavar="models/NAME",
                   help="also write the final bundle here (with only --out: export now)")
    p.add_argument("--new", action="store_true",
                   help="start over in RUNDIR even if it holds a checkpoint (it is replaced)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        if f.name == "extra":
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        text = f"{HELP.get(f.name, '')} (default: {default})"
        if f.name == "holdout_fraction":
            flag = "--holdout"
        if isinstance(default, bool):
            p.add_argument(flag, dest=f.name, default=None, action=argparse.BooleanOptionalAction,
                           help=text)
        else:
            kind = {int: int, float: float}.get(type(default), str)
            p.add_argument(flag, dest=f.name, default=None, type=kind, help=text,
                           metavar=f.name.upper() if f.name != "data" else "PATH")
    return p


def main(argv: list[str] | None = None) -> int:
    """Every option, the config file, --out, --data and --export are checked before any photo
    is read; every failure is one `error:` line on stderr and a non-zero exit."""
    args = build_parser().parse_args(argv)
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
             if f.name != "extra" and getattr(args, f.name, None) is not None}
    run_dir = Path(args.out)
    try:
        return _run(args, given, run_dir)
    except KeyboardInterrupt:
        print("\ninterrupted; the last checkpoint (if any) is whole: run the same command to "
              "resume.", file=sys.stderr)
        return 130
    except CheckpointError as e:            # damaged past what the start checks read
        print(f"error: {str(e).rstrip('.')}. It was left as it is.", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as e:    # ConfigError, ReplaceRefused, data errors
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e.filename + ': ' if e.filename else ''}{e.strerror or e}",
              file=sys.stderr)
        return 2


def _run(args, given: dict, run_dir: Path) -> int:
    try:
        check_run_dir(run_dir)
        has_checkpoint = checkpoint_path(run_dir).is_file()
        if args.export and not given and not args.config and not args.new:    # export only
            if not has_checkpoint:
                held = "does not exist" if not run_dir.exists() else "holds no checkpoint.npz"
                raise TrainingError(f"there is no checkpoint to export in {run_dir} (it {held}): "
                                    "give the run directory of a run that has trained, or add "
                                    "--data PATH to train one first")
            check_checkpoint(checkpoint_path(run_dir))
            with disk_full_says_where(run_dir, then="export"):
                export_run(run_dir, args.export)
            return 0
        base = TrainConfig.load(args.config) if args.config else None
        base_keys = set(json.loads(Path(args.config).read_text(encoding="utf-8"))) if base else set()
        # --new: a fresh config; the old run is set aside only once train() has checked it all
        cfg, resuming = resolve_config(run_dir, given, base, base_keys, new=args.new)
        result = train(cfg, run_dir, resuming=resuming, export_to=args.export,
                       progress=not args.no_progress, new=args.new)
    except TrainingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if result.status == "diverged":
        return 3
    if result.status == "interrupted":
        return 130
    where = f"bundle at {result.bundle}" if result.bundle else "the chief wrote the bundle"
    print(f"Done: {result.step} steps in {result.training_seconds / 3600:.2f} h; {where}",
          file=sys.stderr)
    return 0

if __name__ == "__main__":
    sys.exit(main())
