"""Inspect a source of face photos and write its data report.

    python -m gan.data PATH [--crop face] [--size 128] [--labels auto] [--dedup report]
                            [--report report.json] [--n-jobs 2] [--no-cache]
    python -m gan.data dedup PATH [PATH ...] [--json pairs.json] [--sheet pairs.png]
    python -m gan.data merge PATH [PATH ...] --out DIR [--labels male,smiling] [--no-predict]
    python -m gan.data groups PATH [PATH ...] --out DIR [--set FOLDER.LABEL=VALUE] [--age-edges 10,30,50]
    python -m gan.data reframe PATH --out DIR [--labels CSV] [--fill 1.06]
    python -m gan.data speed [--images 4000] [--size 128] [--batch 64] [--steps 100]

Loads PATH exactly as training does (so the decode cache is filled for it) and prints
what was found, skipped, labelled and how long it took. ``dedup`` lists near-duplicate
pairs within and across several sources; ``merge`` writes one labelled source from several
folders, near-duplicates dropped (gan/data/merge.py); ``groups`` writes one source labelled by
ethnicity, gender and age group (gan/data/groups.py); ``reframe`` cuts every photo of a folder
tightly around its face, as UTKFace's are (gan/data/reframe.py); ``speed`` measures the tf.data
pipeline alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from gan.config import RULES as TRAIN_RULES  # light (no TensorFlow); the CLI's, not gan.data's

from . import dedup, groups, merge, reframe
from .dataset import load_faces
from .dedup import DEFAULT_MIN_CORRELATION, DEFAULT_THRESHOLD, find_duplicates, find_pairs
from .preprocess import CROP_MODES, DEFAULT_SIZE, MIN_SIZE
from .sources import IMAGE_EXTENSIONS, detect_source


def main(argv=None) -> int:
    """`python -m gan.data PATH` (or a subcommand). A bad path or option is one `error:` line
    and exit status 2, said before any photo is decoded where it can be."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "dedup":
        return dedup_main(argv[1:])
    if argv and argv[0] == "merge":
        return merge_main(argv[1:])
    if argv and argv[0] == "groups":
        return groups_main(argv[1:])
    if argv and argv[0] == "reframe":
        return reframe_main(argv[1:])
    if argv and argv[0] == "speed":
        return speed(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m gan.data", description=__doc__.split("\n\n")[0])
    ap.add_argument("path", help="folder, .zip, CelebA folder, CSV-labelled folder or UTKFace folder")
    ap.add_argument("--size", type=int, default=DEFAULT_SIZE)
    ap.add_argument("--crop", choices=CROP_MODES, default="face")
    ap.add_argument("--labels", default=None, help='"auto" or names, comma-separated')
    ap.add_argument("--dedup", choices=["off", "report", "drop"], default="off")
    ap.add_argument("--dedup-threshold", type=int, default=DEFAULT_THRESHOLD)
    ap.add_argument("--min-size", type=int, default=MIN_SIZE)
    ap.add_argument("--n-jobs", type=int, default=-1)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--report", help="write the JSON data report here")
    args = ap.parse_args(argv)
    if problem := _size_problem(args.size) or _output_problem("--report", args.report):
        return _error(problem)
    try:
        data = load_faces(
            args.path, size=args.size, crop=args.crop, labels=args.labels,
            dedup={"off": False, "report": "report", "drop": True}[args.dedup],
            dedup_threshold=args.dedup_threshold, min_size=args.min_size, n_jobs=args.n_jobs,
            cache_dir=False if args.no_cache else args.cache_dir, progress=sys.stderr.isatty(),
        )
        _print_summary(data)
        if args.report:
            data.write_report(args.report)
            print(f"report   {args.report}")
    except (KeyboardInterrupt, ValueError, OSError) as e:  # bad path or labels, report unwritable
        return _failed(e)
    c = data.report["counts"]
    if not c["found"]:      # as train.py, which stops on a source without a usable photo
        kinds = ", ".join(IMAGE_EXTENSIONS[:-1]) + " or " + IMAGE_EXTENSIONS[-1]
        other = data.report["source"].get("other_files_ignored") or {}
        others = f"; other files left aside: {', '.join(other)}" if other else ""
        return _error(f"no photos found in {args.path} (no {kinds} files{others})")
    if not c["loaded"]:
        return _error(f"none of the {c['found']} photos in {args.path} can be used (the reasons are above)")
    return 0


def _print_summary(data) -> None:
    """What a source holds, in a few lines."""
    r = data.report
    c = r["counts"]
    print(f"source   {r['source']['path']} ({r['source']['kind']})")
    print(f"images   {c['found']} found, {c['loaded']} loaded, {c['skipped_files']} bad files, "
          f"{c['missing_labels']} missing labels, {c['duplicates_dropped']} duplicates dropped")
    for kind, n in c["skipped_by_reason"].items():
        print(f"  skipped {n:6d}  {kind}")
    if r["face_crop"]:
        fc = r["face_crop"]
        print(f"faces    {fc['faces_found']} found, {fc['center_fallback']} centre-crop fallbacks "
              f"({100 * fc['fallback_fraction']:.1f}%)")
    if data.label_names:
        print(f"labels   {len(data.label_names)} columns: {', '.join(data.label_names[:12])}"
              + (" ..." if len(data.label_names) > 12 else ""))
    if r["duplicates"]["checked"]:
        print(f"dedup    {len(r['duplicates']['pairs'])} near-duplicate pairs (threshold "
              f"{r['duplicates']['threshold']})")
    print(f"cache    {r['cache']['status']}" + (f" ({r['cache'].get('error')})" if r["cache"].get("error") else ""))
    print(f"time     {r['timing']['total_seconds']:.1f} s (decode {r['timing']['decode_seconds']:.1f} s)")
    json.dumps(r)  # the report must stay JSON-serialisable


def dedup_main(argv=None) -> int:
    """`python -m gan.data dedup`: near-duplicate pairs within and across sources. A bad path
    or option is one `error:` line and exit status 2, said before any photo is decoded."""
    import numpy as np

    ap = argparse.ArgumentParser(prog="python -m gan.data dedup", description=dedup.__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", help="folders or zips of photos")
    ap.add_argument("--threshold", type=int, default=DEFAULT_THRESHOLD, help="pHash bits (candidates)")
    ap.add_argument("--min-correlation", type=float, default=DEFAULT_MIN_CORRELATION)
    ap.add_argument("--crop", choices=CROP_MODES, default="face")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--n-jobs", type=int, default=-1)
    ap.add_argument("--json", help="write the pairs here")
    ap.add_argument("--sheet", help="write a side-by-side PNG of the first pairs here")
    ap.add_argument("--sheet-pairs", type=int, default=24)
    args = ap.parse_args(argv)
    if problem := (_size_problem(args.size)
                   or (f"--sheet-pairs must be 1 or more, not {args.sheet_pairs}"
                       if args.sheet_pairs < 1 else None)
                   or _output_problem("--json", args.json)
                   or _output_problem("--sheet", args.sheet, image=True)):
        return _error(problem)

    try:
        for p in args.paths:  # a bad second path is said before the first is decoded
            detect_source(p)
        images, hashes, names = [], [], []
        for p in args.paths:
            data = load_faces(p, size=args.size, crop=args.crop, n_jobs=args.n_jobs)
            images.append(data.images)
            hashes.append(data.hashes)
            names += [f"{p}::{k}" for k in data.keys]
        h = np.concatenate(hashes)
        allimg = np.concatenate(images)
        candidates = find_pairs(h, args.threshold)
        pairs = find_duplicates(allimg, h, args.threshold, args.min_correlation)
        counts = {}
        for i, j, d, _ in pairs:
            counts[d] = counts.get(d, 0) + 1
        print(f"{len(h)} images: {len(candidates)} pHash candidates at <= {args.threshold} bits, "
              f"{len(pairs)} near-duplicate pairs with correlation >= {args.min_correlation}")
        print("pairs by hash distance:", dict(sorted(counts.items())))
        if args.json:
            os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
            with open(args.json, "w") as f:
                json.dump([{"a": names[i], "b": names[j], "distance": d, "correlation": c}
                           for i, j, d, c in pairs], f, indent=1)
        if args.sheet and pairs:
            # Show the least similar pairs first: they are the ones worth checking by eye.
            shown = sorted(pairs, key=lambda p: p[3])[: args.sheet_pairs]
            os.makedirs(os.path.dirname(os.path.abspath(args.sheet)), exist_ok=True)
            _pair_sheet(allimg, shown, args.size).save(args.sheet)
            print("sheet:", args.sheet, "(correlations:", [p[3] for p in shown], ")")
        elif args.sheet:
            print("sheet: none written, there are no pairs to show")
    except (KeyboardInterrupt, ValueError, OSError) as e:  # a bad path, an unwritable file
        return _failed(e)
    return 0


def _pair_sheet(images, shown, s: int):
    """The `shown` pairs side by side, four pairs a row, as a PIL image."""
    import numpy as np
    from PIL import Image

    cols = 4
    rows = (len(shown) + cols - 1) // cols
    sheet = np.full((rows * (s + 4), cols * (2 * s + 12), 3), 255, np.uint8)
    for n, (i, j, _, _) in enumerate(shown):
        r, c = divmod(n, cols)
        y, x = r * (s + 4), c * (2 * s + 12)
        sheet[y : y + s, x : x + s] = images[i]
        sheet[y : y + s, x + s + 2 : x + 2 * s + 2] = images[j]
    return Image.fromarray(sheet)


def merge_main(argv=None) -> int:
    """`python -m gan.data merge`: several folders -> one deduplicated, labelled source.
    Every failure is one `error:` line and exit status 2; the output is then untouched."""
    from gan.sliders import classifier as attribute_classifier  # loads TensorFlow: merge only

    ap = argparse.ArgumentParser(prog="python -m gan.data merge", description=merge.__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", help="folders of photos; a labelled one holds a labels CSV")
    ap.add_argument("--out", required=True, help="the merged folder to write (outside the repository)")
    ap.add_argument("--labels", default=None, help="0/1 labels to carry over and predict, e.g. male,smiling")
    ap.add_argument("--no-predict", action="store_true",
                    help="leave the labels of unlabelled photos blank instead of predicting them")
    ap.add_argument("--threshold", type=int, default=DEFAULT_THRESHOLD, help="pHash bits (candidates)")
    ap.add_argument("--min-correlation", type=float, default=DEFAULT_MIN_CORRELATION)
    ap.add_argument("--holdout", type=float, default=merge.DEFAULT_HOLDOUT,
                    help="labelled photos held out (by file-name hash) to score the classifier")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None, help="classifier training epochs")
    ap.add_argument("--link", choices=merge.LINKS, default="symlink")
    ap.add_argument("--size", type=int, default=DEFAULT_SIZE)
    ap.add_argument("--crop", choices=CROP_MODES, default="face")
    ap.add_argument("--n-jobs", type=int, default=-1)
    ap.add_argument("--no-cache", action="store_true", help="decode again and retrain the classifier")
    args = ap.parse_args(argv)
    if problem := _size_problem(args.size):
        return _error(problem)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    try:
        r = merge.merge_sources(
            args.paths, args.out, args.labels, predict=not args.no_predict, threshold=args.threshold,
            min_correlation=args.min_correlation, holdout=args.holdout, seed=args.seed,
            epochs=args.epochs, classifier=attribute_classifier, size=args.size,
            crop=args.crop, link=args.link, n_jobs=args.n_jobs,
            cache_dir=False if args.no_cache else None, use_cache=not args.no_cache,
            progress=sys.stderr.isatty(), log=log)
    except (KeyboardInterrupt, ValueError, OSError) as e:  # MergeError, ReplaceRefused, unreadable files
        return _failed(e)
    c, d = r["counts"], r["duplicates"]
    print(f"in       {c['read']:,} photos read of {c['found']:,} found: "
          + ", ".join(f"{s['name']} {s['read']:,}" for s in r["sources"]))
    print(f"pairs    {c['pairs']} near-duplicate pairs (pHash <= {d['threshold']} bits, thumbnail "
          f"correlation >= {d['min_correlation']}): "
          + ", ".join(f"{k} {v}" for k, v in d["pairs_by_folders"].items()))
    print(f"kept     {c['kept']:,} ({c['dropped_as_duplicates']} duplicates dropped, a labelled copy "
          f"kept where there was one; {len(d['label_conflicts'])} groups with differing labels)")
    if r["options"]["labels"]:
        print(f"labels   {', '.join(r['options']['labels'])}: given {c['labels_given']:,}, predicted "
              f"{c['labels_predicted']:,}, blank {c['labels_missing']:,}")
    if r["classifier"]:
        k = r["classifier"]
        print(f"judge    held-out accuracy "
              + ", ".join(f"{n} {v:.1%}" for n, v in k["heldout_accuracy"].items())
              + f" ({k['held_out']:,} held out, trained on {k['trained_on']:,})")
    labels_file = merge.LABELS_FILE if r["options"]["labels"] else "no labels"
    print(f"wrote    {os.path.abspath(args.out)} ({labels_file}, {merge.MANIFEST_FILE}, "
          f"{merge.REPORT_FILE}; {r['options']['link']}s to the photos)")
    return 0


def _size_problem(size: int) -> str | None:
    """What is wrong with --size, or None. It is refused as train.py refuses --resolution: a
    model trains at no other size, and --size 100000 grew to 15 GB before the kernel killed it."""
    check, want = TRAIN_RULES["resolution"]
    return None if check(size) else f"--size must be {want} (as train.py's --resolution), not {size}"


def _output_problem(flag: str, path: str | None, image: bool = False) -> str | None:
    """Why the file `path` given to `flag` could not be written at the end, found before a
    long decode instead of after it (a missing folder is made then); or None. `image`: the
    name must say an image format Pillow writes."""
    if path is None:
        return None
    if os.path.isdir(path):
        return f"{flag} {path} is a folder: give the name of a file to write"
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        return f"{flag} {path}: {folder} is a file, not a folder"
    if image:
        from PIL import Image

        Image.init()
        if Image.registered_extensions().get(os.path.splitext(path)[1].lower()) not in Image.SAVE:
            return f"{flag} {path}: end the name with an image format's extension, e.g. .png"
    return None


def _error(message: str) -> int:
    """Exit status 2, the one `error:` line said."""
    print("error: " + message, file=sys.stderr)
    return 2


def _failed(e: BaseException) -> int:
    """The exit status of a writing command stopped by `e`, its one line said: 130 for Ctrl-C,
    2 for a refused input or an unreadable file (the output is then untouched)."""
    if isinstance(e, KeyboardInterrupt):
        print("interrupted; nothing was written", file=sys.stderr)
        return 130
    what = f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.filename else str(e)
    print("error: " + " ".join(what.split()), file=sys.stderr)
    return 2


def groups_main(argv=None) -> int:
    """`python -m gan.data groups`: labelled folders -> one source labelled by group. Every
    failure is one `error:` line and exit status 2; the output is then untouched."""
    ap = argparse.ArgumentParser(prog="python -m gan.data groups",
                                 description=groups.__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", help="folders of labelled photos (UTKFace names, or a labels "
                                             "CSV with ethnicity/race, gender, age or age_group)")
    ap.add_argument("--out", required=True, help="the groups folder to write (outside the repository)")
    ap.add_argument("--set", action="append", default=[], metavar="FOLDER.LABEL=VALUE",
                    help="one value for a whole folder (aaf.ethnicity=asian) or a map of its raw "
                         "values (aaf.gender=0:female,1:male); FOLDER is the folder's name")
    ap.add_argument("--age-edges", default=",".join(map(str, groups.AGE_EDGES)),
                    help="ages where a new age group starts (default %(default)s: 0-9, 10-29, "
                         "30-49, 50+)")
    args = ap.parse_args(argv)
    try:
        edges = [int(e) for e in args.age_edges.split(",") if e.strip()]
    except ValueError:
        print(f"error: --age-edges takes whole numbers, e.g. 10,30,50, not {args.age_edges!r}",
              file=sys.stderr)
        return 2
    try:
        r = groups.write_groups(args.paths, args.out, args.set, edges,
                                log=lambda m: print(m, file=sys.stderr, flush=True))
    except (KeyboardInterrupt, ValueError, OSError) as e:  # GroupsError, ReplaceRefused, unreadable files
        return _failed(e)
    lo = r["left_out"]
    print(f"kept     {r['photos']:,} photos ({lo['lacking_a_label']:,} lacking a label, "
          f"{lo['byte_identical']:,} byte-identical copies left out)")
    print(groups.counts_table(r))
    print(f"wrote    {os.path.abspath(args.out)} ({groups.LABELS_FILE}, {groups.REPORT_FILE}; "
          f"links to the photos)")
    return 0


def reframe_main(argv=None) -> int:
    """`python -m gan.data reframe`: a folder of photos cut tightly around each face. Every
    failure is one `error:` line and exit status 2; the output is then untouched."""
    ap = argparse.ArgumentParser(prog="python -m gan.data reframe",
                                 description=reframe.__doc__.split("\n\n")[0])
    ap.add_argument("path", help="a folder of photos (a labels.csv in it comes along)")
    ap.add_argument("--out", required=True, help="the folder to write (outside PATH)")
    ap.add_argument("--labels", help="a labels CSV for PATH's photos, first column the file name "
                                     "(default: PATH/labels.csv, when there is one)")
    ap.add_argument("--fill", type=float, default=reframe.DEFAULT_FILL,
                    help="the face box's width over the cut square's side (default %(default)s: "
                         "framed like UTKFace's photos)")
    args = ap.parse_args(argv)
    try:
        r = reframe.reframe(args.path, args.out, args.fill, args.labels,
                            log=lambda m: print(m, file=sys.stderr, flush=True))
    except (KeyboardInterrupt, ValueError, OSError) as e:  # ReframeError, ReplaceRefused, unreadable
        return _failed(e)
    left = ", ".join(f"{n:,} {why}" for why, n in sorted(r["left_out"].items())) or "none"
    print(f"wrote    {r['written']:,} of {r['photos']:,} photos to {os.path.abspath(args.out)} "
          f"(left out: {left}; {r['labels'] or 'no labels.csv'})")
    return 0


def speed(argv) -> int:
    """Images per second (and CPU ms per image) of make_dataset alone, on random images. A bad
    option is one `error:` line and exit status 2, before TensorFlow loads."""
    import resource
    import time

    import numpy as np

    ap = argparse.ArgumentParser(prog="python -m gan.data speed")
    ap.add_argument("--images", type=int, default=4000)
    ap.add_argument("--size", type=int, default=DEFAULT_SIZE)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args(argv)
    check, want = TRAIN_RULES["batch_size"]
    if problem := (_size_problem(args.size)
                   or (None if check(args.batch) else
                       f"--batch must be {want} (as train.py's --batch-size), not {args.batch}")
                   or next((f"{flag} must be 1 or more, not {v}" for flag, v in
                            (("--images", args.images), ("--steps", args.steps)) if v < 1), None)
                   or _speed_memory_problem(args.images, args.size, args.batch)):
        return _error(problem)
    from .pipeline import make_dataset  # lazy: loads TensorFlow, only `speed` needs it

    imgs = np.random.default_rng(0).integers(0, 256, (args.images, args.size, args.size, 3), dtype=np.uint8)
    labels = np.random.default_rng(1).integers(0, 2, (args.images, 2)).astype(np.float32)

    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    for flip in (True, False):
        it = iter(make_dataset(imgs, labels, args.batch, seed=0, flip=flip))
        for _ in range(5):
            next(it)
        c0, t0 = cpu(), time.perf_counter()
        for _ in range(args.steps):
            next(it)
        dt, dc = time.perf_counter() - t0, cpu() - c0
        n = args.steps * args.batch
        print(f"flip={flip!s:5}  {n / dt:8.0f} img/s  {1000 * dc / n:.3f} ms CPU/img  "
              f"(batch {args.batch}, {args.size}px)")
        del it
    print(f"load average: {' '.join(f'{x:.1f}' for x in __import__('os').getloadavg())}")
    return 0


def _speed_memory_problem(images: int, size: int, batch: int) -> str | None:
    """Why `speed` would not fit in the memory available now, or None: the defaults at
    --size 1024 need 50 GB, and the kernel's answer is to kill a process, maybe another one.
    Beyond TensorFlow's own 0.8 GB, peak memory was about 4x the random images (TensorFlow
    copies them) plus 12x one batch (batches in flight), measured at 256 px on 2026-12-07."""
    need = (4 * images + 12 * batch) * size * size * 3
    have = _available_memory()
    if have is None or need <= have:
        return None
    return (f"--images {images} and --batch {batch} at --size {size} need about "
            f"{need / 1e9:.1f} GB of memory, more than the {have / 1e9:.1f} GB available now: "
            f"lower them")


def _available_memory() -> int | None:
    """MemAvailable in bytes, from /proc/meminfo; None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


if __name__ == "__main__":
    raise SystemExit(main())
