"""Rebuild the detector's GitHub photo sources (docs/detector-sources.json) from local mirrors.

    python bench/detector_sources.py --mirrors /work/.mirror --out /work/data/detector
    python -m gan.detector fit --model models/default --sources /work/data/detector/sources.json

Each repository named in the manifest's `provenance` must already be on this machine as a bare
git directory `MIRRORS/<owner>+<name>/repo` (the tool library's `fetch` puts it there); nothing
is downloaded. Every source is read at the commit its provenance names, with the same file
names, filters and flattening as the fit recorded in docs/detector.md, so a fit samples the same
photos (sources are sampled by a hash of the file name). Writes one folder per source under OUT,
the three FaceGAN folders' `gan.generate` commands to run (printed, not run), and
OUT/sources.json: the manifest with DATA replaced by OUT (and its relative paths made absolute). Data stays outside the repository.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MANIFEST = REPO / "docs" / "detector-sources.json"
IMAGES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
IMFDB = ("HrithikRoshan", "Jayamadhuri", "Dwarakish", "FaridaJalal", "Dileep", "KatrinaKaif",
         "SharmilaTagore", "Avinash")

# folder under DATA: (repository, commit, path in it, how files are kept and named)
SOURCES = {
    "lfw": ("Rees451/faces-fake-vs-real", "69c112d3", "data/raw/LFW_faceswap/real", "plain"),
    "ciplab_real": ("Rees451/faces-fake-vs-real", "69c112d3", "data/raw/real_and_fake_face/real",
                    "plain"),
    "aaf": ("middleyuan/All-Age-Faces-Dataset", "28741a75", "All-Age-Faces Dataset/original images",
            "plain"),
    "facemask_nomask": ("chandrikadeb7/Face-Mask-Detection", "7e500749", "dataset/without_mask",
                        "no_augmented"),
    "hmdghoul_generated": ("hmdghoul/generated-faces", "59ccdc22", "images", "flatten2"),
    "sdfd_sd21": ("gebaltso/SDFD", "3b44460b", "allImages", "plain"),
    "boredhumans_faces": ("BaseMax/FakeFaces", "bb509d99", "faces", "plain"),
    "ffhq_140k": ("zoya2244/AI-Lab-Final-Project-FALL25", "6ba4ed6", "dataset/real", "first1000"),
    "stylegan1_140k": ("zoya2244/AI-Lab-Final-Project-FALL25", "6ba4ed6", "dataset/ai", "first1000"),
    "tpdne_junguler": ("junguler/TPDNE_example_images", "d84b844", ".", "flatten1"),
    "humanfaces_web": ("logicdeveloperTR/Manually-Created-Face-Recognition-Model", "da8cca8",
                       "Humans", "distinct"),
    "imfdb_muxspace": ("muxspace/facial_expressions", "5fb9c13a", "images", "imfdb"),
    "rwmfd_masked": ("X-zhangyang/Real-World-Masked-Face-Dataset", "b677285", "RWMFD_part_1",
                     "rwmfd"),
    # MEBeauty's stock portraits, one source in two folders (female first: duplicates across
    # them are dropped from the second); read blob by blob (the snapshot lacks two large ones)
    "mebeauty": ("fbplab/MEBeauty-database", "7b849562", "original_images/female", "mebeauty"),
    "mebeauty_male": ("fbplab/MEBeauty-database", "7b849562", "original_images/male", "mebeauty"),
}
# not plain photographs (art filters): skipped as the folder is read
MEBEAUTY_NOT_PHOTOS = {"asian/watercolor-1214824_1920.jpg", "caucasian/fantasy-3452327_1920.jpg"}
# the same photo as in another source (humanfaces_web): dropped after the first 1,000
MEBEAUTY_IN_OTHER_SOURCES = {"black/portrait-856125_1920.jpg"}
MEBEAUTY_PER_FOLDER = 1000


def read_tree(git_dir: Path, commit: str, path: str) -> dict[str, bytes]:
    """Every image file under `path` at `commit`, by its path relative to `path`."""
    tar = subprocess.run(["git", "--git-dir", str(git_dir), "archive", "--format=tar", commit, "--",
                          path], capture_output=True, check=True).stdout
    files = {}
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        for m in t.getmembers():
            if m.isfile() and m.name.lower().endswith(IMAGES):
                rel = m.name if path == "." else m.name[len(path.rstrip("/")) + 1:]
                files[rel] = t.extractfile(m).read()
    return files


def read_blobs(git_dir: Path, commit: str, path: str):
    """(relative path, bytes or None when the snapshot lacks the blob) of every image file
    under `path` at `commit`, in git's order."""
    git = ["git", "--git-dir", str(git_dir)]
    listing = subprocess.run(git + ["-c", "core.quotepath=off", "ls-tree", "-r", commit, "--",
                                    path], capture_output=True, check=True, text=True).stdout
    for line in listing.splitlines():
        meta, name = line.split("\t", 1)
        if not name.lower().endswith(IMAGES):
            continue
        blob = subprocess.run(git + ["cat-file", "blob", meta.split()[2]], capture_output=True)
        yield name[len(path.rstrip("/")) + 1:], (blob.stdout if blob.returncode == 0 else None)


def mebeauty(blobs, seen: set) -> dict[str, bytes]:
    """The first MEBEAUTY_PER_FOLDER square photos in git's order, exact duplicates (also of
    the other folder's, via `seen`: build both folders in one run) and MEBEAUTY_NOT_PHOTOS
    skipped, then MEBEAUTY_IN_OTHER_SOURCES dropped; named <ethnicity>_<file>."""
    from PIL import Image

    out = {}
    for rel, data in blobs:
        if len(out) == MEBEAUTY_PER_FOLDER:
            break
        if data is None or rel in MEBEAUTY_NOT_PHOTOS:
            continue
        key = hashlib.sha256(data).hexdigest()
        with Image.open(io.BytesIO(data)) as im:
            square = im.size[0] == im.size[1]
        if key in seen or not square:
            continue
        seen.add(key)
        out[rel] = data
    return {rel.replace("/", "_"): d for rel, d in out.items() if rel not in MEBEAUTY_IN_OTHER_SOURCES}


def short_side(data: bytes) -> int:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return min(im.size)


def select(rule: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """The files a source keeps, under the names the fit used."""
    names = sorted(files)
    if rule == "plain":
        return {n: files[n] for n in names if "/" not in n}
    if rule == "no_augmented":
        return {n: files[n] for n in names if "/" not in n and not n.startswith("augmented_")}
    if rule == "first1000":
        return {n: files[n] for n in [n for n in names if "/" not in n][:1000]}
    if rule in ("flatten1", "flatten2"):         # <folder>_<file>, <gender>_<group>_<file>
        return {n.replace("/", "_"): files[n] for n in names}
    if rule == "imfdb":
        return {n: files[n] for n in names if "/" not in n and n.split("_")[0] in IMFDB}
    if rule in ("distinct", "rwmfd"):           # exact duplicates dropped, first by name kept
        seen, out = set(), {}
        for n in names:
            data = files[n]
            key = hashlib.sha256(data).hexdigest()
            if key in seen or (rule == "rwmfd" and short_side(data) < 96):
                continue
            seen.add(key)
            out[n.replace("/", "_")] = data
        return out
    raise ValueError(rule)


def _absolute(path: str) -> str:
    return path if Path(path).is_absolute() else str((REPO / path).resolve())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mirrors", required=True, help="folder holding <owner>+<name>/repo git dirs")
    p.add_argument("--out", required=True, help="folder to write the sources into (outside git)")
    p.add_argument("--only", help="comma-separated folder names (default: all)")
    args = p.parse_args(argv)
    mirrors, out = Path(args.mirrors), Path(args.out).resolve()
    wanted = args.only.split(",") if args.only else list(SOURCES)
    missing = []
    mebeauty_seen: set = set()
    for name in wanted:
        if name not in SOURCES:
            print(f"error: unknown source folder {name!r}; known: {', '.join(SOURCES)}",
                  file=sys.stderr)
            return 2
        repo, commit, path, rule = SOURCES[name]
        git_dir = mirrors / repo.replace("/", "+") / "repo"
        if not git_dir.is_dir():
            missing.append(repo)
            continue
        try:
            if rule == "mebeauty":
                gender = "male" if path.endswith("male") and not path.endswith("female") else "female"
                kept = {f"{gender}_{n}": d for n, d in
                        mebeauty(read_blobs(git_dir, commit, path), mebeauty_seen).items()}
            else:
                kept = select(rule, read_tree(git_dir, commit, path))
        except subprocess.CalledProcessError as e:
            print(f"error: {repo} @{commit} {path}: {e.stderr.decode()[-300:].strip()}",
                  file=sys.stderr)
            return 1
        dest = out / name
        dest.mkdir(parents=True, exist_ok=True)
        for n, data in kept.items():
            (dest / n).write_bytes(data)
        print(f"{name:<20} {len(kept):>5} files  ({repo} @{commit} {path})", flush=True)
    manifest = json.loads(MANIFEST.read_text().replace('"DATA/', f'"{out}/'))
    for entry in manifest:                      # ../shared paths: made absolute, so the
        for key in ("path", "paths"):           # manifest works from any folder
            if key in entry:
                v = entry[key]
                entry[key] = [_absolute(x) for x in v] if isinstance(v, list) else _absolute(v)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sources.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print("\nThe FaceGAN sources are made with this project's generator (seeds as in "
          "docs/detector.md):")
    for t, seed in (("1.0", 5001), ("0.7", 5002), ("0.5", 5003)):
        print(f"  python -m gan.generate --model models/default --n 500 --truncation {t} "
              f"--seed {seed} --out {out}/facegan_default_t{t}")
    print(f"Manifest: {out / 'sources.json'}")
    if missing:
        print("not on this machine (fetch them first): " + ", ".join(sorted(set(missing))),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
