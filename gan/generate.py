"""Write faces from a bundle as PNG files.

    python -m gan.generate --model models/default --n 100 --out faces/ --seed 0
    python -m gan.generate --model models/NAME --n 50 --out faces/ --labels smiling=1,male=0
    python -m gan.generate --model models/groups --n 50 --out faces/ --labels ethnicity=white
    python -m gan.generate --model models/NAME --n 50 --out faces/ --toward smiling=1:0.5
    python -m gan.generate --model models/default --n 1000000 --out faces/ --shard 0/8
    python -m gan.generate --interpolate 3 7 --frames 16 --out morph.gif

Face i of seed S is always the same file, whatever --n, --shard or an interruption (with the
same --truncation, --labels, --toward and --batch-size), and files already in --out are
skipped, so a stopped export resumes. A conditional bundle's faces each get a label row as its
training drew them (face i of seed S always the same; gan.sampling.label_matrix), except
the labels --labels sets on every face; --toward NAME=END:T moves each face's label T of the way
to END, as the generate page's sliders do. A conditional bundle also gets labels.csv, each
face's row. --shard I/N (I counted from 0) writes the I-th of N slices of the run, so N
machines together write exactly the files of one unsharded run; each shard writes the whole
labels.csv (the same bytes in every shard). faces.json records the model and the options
the faces were made with: a folder holding faces of other options, or a labels.csv or
faces.json not written here, is refused rather than mixed or overwritten. --interpolate
writes one animated GIF from the first face of one seed to that of another; an existing file
is replaced only when it is such a GIF.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from PIL import Image  # noqa: E402
from tqdm import tqdm  # noqa: E402

from gan.bundle import BundleError, load_bundle  # noqa: E402
from gan.cli import seed_number, truncation_number, whole_number  # noqa: E402
from gan.card import label_groups  # noqa: E402
from gan.images import gif_bytes, png_bytes  # noqa: E402
from gan.io import atomic_write_bytes, atomic_write_text  # noqa: E402
from gan.sampling import (  # noqa: E402
    generate_from_latents,
    interpolate,
    label_matrix,
    latent_rows,
)


def parse_labels(text: str | None, card: dict | None = None) -> dict[str, float]:
    """`male=1,smiling=0` -> {"male": 1.0, "smiling": 0.0}. A one-hot group of `card` is
    chosen by its name, as on the generate page: `ethnicity=white` sets ethnicity=white to 1
    and the group's other classes to 0 (`ethnicity=white=1` names the class itself)."""
    names = list(((card or {}).get("labels") or {}).get("names") or [])
    groups = {g: [names[j] for j in idx] for g, idx in label_groups(card or {}).items()}
    out: dict[str, float] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, value = (x.strip() for x in part.rpartition("="))
        if not sep or not name:
            raise ValueError(f"--labels looks like name=value, got {part.strip()!r}")
        if name in groups:
            classes = [m.split("=", 1)[1] for m in groups[name]]
            if value not in classes:
                raise ValueError(f"--labels {part.strip()!r}: {name} has the groups "
                                 f"{', '.join(classes)}; give one of them, e.g. "
                                 f"{name}={classes[0]}")
            out.update({m: float(m == f"{name}={value}") for m in groups[name]})
            continue
        try:
            number = float(value)
        except ValueError:
            known = "; ".join(f"{g}={'|'.join(m.split('=', 1)[1] for m in ms)}"
                              for g, ms in groups.items())
            raise ValueError(f"--labels {part.strip()!r}: {value!r} is not a number"
                             + (f" (this model's groups: {known})" if groups else "")) from None
        if not math.isfinite(number):
            raise ValueError(f"--labels {part.strip()!r}: the value must be a finite number "
                             "(the model was trained on 0 and 1)")
        out[name] = number
    return out


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` -> (I, N), I counted from 0; an argparse type, so a bad value is one usage line."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not I/N: give the shard number I, counted from 0, and the number of "
            "shards N, e.g. 0/4, 1/4, 2/4 and 3/4 for a run split four ways")
    index, count = int(m[1]), int(m[2])
    if count < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the number of shards N must be at least 1")
    if index >= count:
        raise argparse.ArgumentTypeError(
            f"{text!r}: shards are counted from 0, so the shards of {count} are 0/{count} to "
            f"{count - 1}/{count}")
    return index, count


def shard_batches(n: int, batch_size: int, index: int, count: int) -> range:
    """The batches (numbered over the whole run) that shard `index` of `count` writes: the
    index-th of `count` contiguous runs of whole batches. Shards split only between batches,
    and every batch is generated whole (the last one padded), because the generator's float
    results can depend on the batch it runs in, and face i must come out the same bytes in
    a shard, a resumed run and one unsharded run."""
    batches = -(-int(n) // int(batch_size))
    return range(index * batches // count, (index + 1) * batches // count)


def face_name(seed: int, i: int) -> str:
    return f"seed{seed:06d}_{i:06d}.png"


def parse_toward(text: str | None) -> dict[str, tuple[float, float]]:
    """`male=1:0.3,smiling=0:1` -> {"male": (1.0, 0.3), "smiling": (0.0, 1.0)}."""
    out: dict[str, tuple[float, float]] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, rest = part.partition("=")
        end, colon, t = rest.partition(":")
        try:
            if not (sep and colon) or not math.isfinite(float(end)):
                raise ValueError
            out[name.strip()] = (float(end), float(t))
        except ValueError:
            raise ValueError(f"--toward looks like name=END:T (T of the way to END, 0 to 1), "
                             f"got {part!r}") from None
        if not 0.0 <= out[name.strip()][1] <= 1.0:
            raise ValueError(f"--toward {part!r}: T is the fraction of the way, from 0 to 1")
    return out


def write_faces(bundle, out: Path, n: int, seed: int, truncation: float,
                labels: dict[str, float], batch_size: int, shard: tuple[int, int],
                toward: dict[str, tuple[float, float]] | None = None) -> tuple[int, int, int, int]:
    """Write the shard's missing faces into `out`: (first face, end, faces made, already there)."""
    batches = shard_batches(n, batch_size, *shard)
    first, end = batches.start * batch_size, min(batches.stop * batch_size, n)
    rows = latent_rows(seed, first, bundle.latent_dim, truncation, chunk=batch_size)
    made = 0
    with tqdm(total=end - first, unit="face", desc="generate") as bar:
        for b in batches:
            z = next(rows)                       # drawn for every batch: one stream
            idx = range(b * batch_size, min((b + 1) * batch_size, n))
            missing = [i for i in idx if not (out / face_name(seed, i)).is_file()]
            if missing:
                y = label_matrix(bundle, batch_size, labels, seed=seed, start=b * batch_size,
                                 toward=toward)
                faces = generate_from_latents(bundle, z, y, batch_size=batch_size)
                for i in missing:
                    atomic_write_bytes(out / face_name(seed, i), png_bytes(faces[i - idx.start]))
                made += len(missing)
            bar.update(len(idx))
    return first, end, made, (end - first) - made


RUN_FILE = "faces.json"
RUN_FORMAT = "facegan-generate/1"
# What makes a face's bytes or its labels.csv row: a resume must give the same. --n may grow.
RUN_OPTIONS = {"generator_sha256": "--model", "seed": "--seed", "truncation": "--truncation",
               "labels": "--labels", "toward": "--toward", "batch_size": "--batch-size"}
FACE_FILE = re.compile(r"seed\d{6,}_\d{6,}\.png")


def run_record(bundle, n: int, seed: int, truncation: float, labels: dict[str, float],
               toward: dict[str, tuple[float, float]] | None, batch_size: int) -> dict:
    """What faces.json records of a run: the same bytes from every shard of it."""
    return {"format": RUN_FORMAT, "faces": int(n),
            "generator_sha256": bundle.card["files"]["generator.keras"]["sha256"],
            "seed": int(seed), "truncation": float(truncation),
            "labels": {k: float(v) for k, v in sorted(labels.items())},
            "toward": {k: [float(e), float(t)] for k, (e, t) in sorted((toward or {}).items())},
            "batch_size": int(batch_size)}


def _shown(key: str, value) -> str:
    if key == "generator_sha256":
        return f"generator {str(value)[:12]}"
    if key in ("labels", "toward"):
        if not isinstance(value, dict) or not value:
            return "none"
        return ",".join(f"{k}={':'.join(f'{x:g}' for x in v) if isinstance(v, list) else f'{v:g}'}"
                        for k, v in value.items())
    return f"{value:g}" if isinstance(value, float) else str(value)


def check_resume(out: Path, record: dict, conditional: bool) -> int:
    """ValueError unless the run may write into `out`: a folder without faces of a run, or
    the faces of the same run (same model and options: faces.json says), so a resume never
    mixes faces made two ways nor makes labels.csv describe other faces than the folder's,
    and a labels.csv or faces.json of the user's is never overwritten. Returns how many
    faces the folder's run had (0 for a new one)."""
    path = out / RUN_FILE
    if not out.is_dir():
        return 0
    if path.exists() or path.is_symlink():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = None
        if not isinstance(old, dict) or old.get("format") != RUN_FORMAT:
            raise ValueError(f"{path} was not written by gan.generate; it is left as it was. "
                             "Give a new folder, or move it away. Nothing was written.")
        differ = [k for k in RUN_OPTIONS if old.get(k) != record[k]]
        if differ:
            said = "; ".join(f"{RUN_OPTIONS[k]} {_shown(k, old.get(k))} there, "
                             f"{_shown(k, record[k])} here" for k in differ)
            raise ValueError(
                f"{out} holds faces made with other options ({said}): adding to them would mix "
                "faces made two ways" + (" and labels.csv would no longer describe them"
                                         if conditional else "")
                + f". Resume with the options in {path}, or give a new folder. Nothing was "
                "written.")
        faces = old.get("faces")
        return faces if isinstance(faces, int) and faces > 0 else 0
    if conditional and (out / "labels.csv").exists():
        raise ValueError(f"{out} holds a labels.csv that gan.generate did not write (there is no "
                         f"{RUN_FILE} beside it); it would be overwritten. Give a new folder, or "
                         "move labels.csv away. Nothing was written.")
    faces = sorted(p.name for p in out.iterdir() if FACE_FILE.fullmatch(p.name))
    if faces:
        raise ValueError(f"{out} holds faces ({faces[0]}{' and more' if len(faces) > 1 else ''}) "
                         f"without the {RUN_FILE} that says how they were made, so whether these "
                         "options made them cannot be checked. Give a new folder, or move them "
                         "away. Nothing was written.")
    return 0


def write_labels_csv(bundle, out: Path, n: int, seed: int, labels: dict[str, float],
                     toward: dict[str, tuple[float, float]] | None = None) -> None:
    """labels.csv, each face's label row, for all n faces of the run (a shard writes it whole
    too: it depends only on --n, --seed, --labels and --toward, so every shard's copy has the
    same bytes)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["image", *bundle.label_names])
    y = label_matrix(bundle, n, labels, seed=seed, toward=toward)
    for i in range(n):
        w.writerow([face_name(seed, i), *(f"{v:.4g}" for v in y[i])])
    atomic_write_text(out / "labels.csv", buf.getvalue())


# The comment of every morph written here: an existing --out is replaced only when it has it.
MORPH_COMMENT = b"FaceGAN morph: python -m gan.generate --interpolate"


def _our_morph(path: Path) -> bool:
    try:
        with Image.open(path) as im:
            return im.format == "GIF" and im.info.get("comment") == MORPH_COMMENT
    except (OSError, ValueError, Image.DecompressionBombError):
        return False


def _check_folder_path(folder: Path, out: Path) -> None:
    """ValueError when a file stands where `out` needs a folder (its nearest existing one)."""
    for p in (folder, *folder.parents):
        if p.exists():
            if not p.is_dir():
                raise ValueError(f"--out {out}: {p} is a file, not a folder. Nothing was written.")
            return


def check_faces_target(out: Path) -> None:
    """ValueError unless `out` can be the folder of the faces (new, or an existing folder)."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; the faces go into a folder: give a new or "
                         "existing folder. Nothing was written.")
    _check_folder_path(out, out)


def check_morph_target(out: Path) -> None:
    """ValueError unless `out` can take the morph: a new .gif file name, or a morph written
    here before (its GIF comment says so). Anything else there is the user's and is kept."""
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; a morph is one animated GIF: give a file "
                         "name ending in .gif. Nothing was written.")
    if out.suffix.lower() != ".gif":
        raise ValueError(f"--out {out}: a morph is an animated GIF; give a file name ending in "
                         ".gif. Nothing was written.")
    if out.is_symlink() or (out.exists() and not _our_morph(out)):
        raise ValueError(f"--out {out} exists and is not a morph gan.generate wrote; it is left "
                         "as it was. Give a new file name, or move it away.")
    _check_folder_path(out.parent, out)


def write_morph(bundle, args, labels: dict[str, float], toward) -> int:
    a, b = args.interpolate
    frames = interpolate(bundle, a, b, args.frames, args.truncation, labels or None,
                         toward=toward or None)
    out = Path(args.out)
    atomic_write_bytes(out, gif_bytes(frames, duration_ms=100, comment=MORPH_COMMENT))
    print(f"{args.frames} frames from seed {a} to seed {b} in {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="models/default", help="bundle folder (default: models/default)")
    p.add_argument("--n", type=int, default=None, help="how many faces (required unless --interpolate)")
    p.add_argument("--out", required=True, help="output folder (a .gif file with --interpolate)")
    p.add_argument("--seed", type=seed_number, default=0, help="same seed, same faces (default 0)")
    p.add_argument("--truncation", type=truncation_number, default=1.0,
                   help="scale of z: below 1 gives more typical faces, less variety (default 1)")
    p.add_argument("--labels", default=None,
                   help="for a conditional bundle: name=value,... set on every face (e.g. "
                        "smiling=1,male=0), or a group by its name (e.g. ethnicity=white, "
                        "age_group=50+); labels not named are drawn per face as the training "
                        "drew them")
    p.add_argument("--toward", default=None, metavar="NAME=END:T,...",
                   help="for a conditional bundle: move each face's label T (0 to 1) of the way "
                        "to END, as the generate page's sliders do (e.g. smiling=1:0.5)")
    p.add_argument("--batch-size", type=int, default=64,
                   help="faces per generator call (default 64); give every shard of a run the same")
    p.add_argument("--shard", type=parse_shard, default=None, metavar="I/N",
                   help="write shard I of N (I counted from 0: 0/N to N-1/N): N processes or "
                        "machines with the same other options write disjoint slices that "
                        "together are the files of one unsharded run")
    p.add_argument("--interpolate", type=seed_number, nargs=2, metavar=("SEED_A", "SEED_B"), default=None,
                   help="write an animated GIF from the first face of SEED_A to that of SEED_B")
    p.add_argument("--frames", type=int, default=16, help="frames of --interpolate (default 16)")
    args = p.parse_args(argv)
    if args.interpolate is None and args.n is None:
        p.error("--n is required (or --interpolate SEED_A SEED_B)")

    out = Path(args.out)
    try:
        if args.interpolate is not None:
            if args.shard is not None:
                raise ValueError("--shard splits a run of --n faces; a morph (--interpolate) is "
                                 "one file")
            if not 2 <= args.frames <= 256:
                raise ValueError("--frames must be between 2 and 256")
            check_morph_target(out)
        else:
            if args.n < 1:
                raise ValueError("--n must be at least 1")
            if args.batch_size < 1:
                raise ValueError("--batch-size must be at least 1")
            check_faces_target(out)
        bundle = load_bundle(args.model)
        if any((x or "").strip(", ") for x in (args.labels, args.toward)) and not bundle.conditional:
            raise ValueError(f"{args.model} is not conditional; it takes no --labels or --toward")
        labels = parse_labels(args.labels, bundle.card)
        toward = parse_toward(args.toward)
        label_matrix(bundle, 1, labels, toward=toward)   # an unknown label name is said here
        if args.interpolate is None:
            record = run_record(bundle, args.n, args.seed, args.truncation, labels, toward,
                                args.batch_size)
            had = check_resume(out, record, bundle.conditional)
    except (BundleError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        if args.interpolate is not None:
            return write_morph(bundle, args, labels, toward)
        return write_run(bundle, args, out, labels, toward, {**record, "faces": max(args.n, had)})
    except OSError as e:
        left = ("Nothing was written." if args.interpolate is not None else "Every face written "
                "is whole; the same command goes on from there.")
        print(f"error: could not write {e.filename or out}: {e.strerror or e}. {left}",
              file=sys.stderr)
        return 2


def write_run(bundle, args, out: Path, labels: dict[str, float], toward, record: dict) -> int:
    """The faces of `args` into `out`, after `record` (faces.json, written first, so a shard
    started beside this one finds it); then labels.csv, with a row for each of the record's
    faces (a resume with a smaller --n keeps the rows of the faces already there)."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / RUN_FILE, json.dumps(record, indent=2) + "\n")
    shard = args.shard or (0, 1)
    t0 = time.perf_counter()
    first, end, made, there = write_faces(bundle, out, args.n, args.seed, args.truncation, labels,
                                          args.batch_size, shard, toward)
    seconds = time.perf_counter() - t0
    if bundle.conditional:
        write_labels_csv(bundle, out, record["faces"], args.seed, labels, toward)
    rate = f", {made / seconds:.1f} faces/s" if made else ""
    what = (f"{end - first} faces ({first} to {end - 1})" if end > first else "no faces (fewer "
            f"batches of {args.batch_size} than shards)")
    where = f"shard {shard[0]}/{shard[1]}: {what} of {args.n}" if args.shard else f"{args.n} faces"
    print(f"{where} in {out} ({there} were already there; {made} made in {seconds:.1f} s{rate})",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
