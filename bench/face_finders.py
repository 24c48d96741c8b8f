"""How often gan.data.landmarks.find_face finds a face, with which finder, and how fast (a
benchmark, not a test). Per source: N photos (file names sorted, every k-th), decoded first
so only finding is timed; also Haar alone (gan.data.preprocess.detect_face, the crop it
replaces) for comparison.

Usage: python bench/face_finders.py NAME=DIR [NAME=DIR ...] [--n 150] [--finders hog,cnn,haar]
           [--sheet align.png] [--boxes boxes.png] [--timing PHOTO]
--finders: only these finders, in gan.data.landmarks.ALL_FINDERS order (default FINDERS, those
new fits use; hog,cnn,haar are the finders before MTCNN joined, hog,cnn,mtcnn,haar those of
the first MTCNN fit). On a folder of photos without faces, "found %" is the
share of photos in which a "face" was found.
--sheet writes ~40 aligned crops from all sources (labelled source/finder) to look at;
--boxes writes photos with their landmarks and native_box drawn; --timing times find_face on
one photo resized to 1000x1000 and 300x300. --mtcnn-bars 0.8,0.9: for the photos no finder
found a face in, how many MTCNN would find with its confidence bar (MTCNN_MIN_CONFIDENCE)
lowered to each value, and the eye gaps of the faces it would find: what a lower bar would
gain on face photos and cost on photos without a face.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gan.data import landmarks  # noqa: E402
from gan.data.preprocess import detect_face, open_image  # noqa: E402
from gan.data.sources import IMAGE_EXTENSIONS  # noqa: E402


def sample(folder: str, n: int) -> list[str]:
    files = sorted(str(p) for p in Path(folder).rglob("*")
                   if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    return files[::max(1, len(files) // n)][:n]


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def tile(img: np.ndarray, label: str, size: int) -> np.ndarray:
    t = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA) if img.shape[0] != size else img.copy()
    cv2.putText(t, label, (2, size - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.32, (255, 255, 0), 1, cv2.LINE_AA)
    return t


def grid(tiles: list[np.ndarray], cols: int) -> np.ndarray:
    blank = np.zeros_like(tiles[0])
    tiles = tiles + [blank] * (-len(tiles) % cols)
    return np.vstack([np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)])


def save(path: str, rgb: np.ndarray) -> None:
    cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    print(f"wrote {path}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sources", nargs="*", metavar="NAME=DIR")
    ap.add_argument("--n", type=int, default=150)
    ap.add_argument("--sheet", help="PNG of aligned crops to look at")
    ap.add_argument("--boxes", help="PNG of photos with landmarks and native_box drawn")
    ap.add_argument("--timing", help="a photo to time at 1000x1000 and 300x300")
    ap.add_argument("--finders", default=",".join(landmarks.FINDERS),
                    help="comma-separated finders to use (default: those new fits use)")
    ap.add_argument("--mtcnn-bars", default="",
                    help="comma-separated MTCNN confidence bars to try on the photos with no face")
    args = ap.parse_args(argv)
    bars = sorted({float(b) for b in args.mtcnn_bars.split(",") if b.strip()})
    finders = tuple(f.strip() for f in args.finders.split(",") if f.strip())
    if not finders or set(finders) - set(landmarks.ALL_FINDERS):
        ap.error(f"--finders: some of {', '.join(landmarks.ALL_FINDERS)}")
    print(f"finders: {', '.join(f for f in landmarks.ALL_FINDERS if f in finders)}")

    print(load())
    landmarks.find_face(np.zeros((64, 64, 3), np.uint8))  # load the models before timing
    header = ("source", "photos", "found %", *landmarks.ALL_FINDERS, "ms median", "ms p90",
              "ms when HOG missed", "align ms", "Haar alone %")
    rows, crops, boxes = [], [], []
    for spec in args.sources:
        name, _, folder = spec.partition("=")
        if not os.path.isdir(folder):
            print(f"skipped {name}: no folder {folder}")
            continue
        used = {f: 0 for f in landmarks.ALL_FINDERS}
        times, missed_times, align_times, haar_found, found_here = [], [], [], 0, []
        lower = {b: [] for b in bars}          # bar -> eye gaps of the faces MTCNN finds there
        files = sample(folder, args.n)
        for path in files:
            img = open_image(path)
            rgb = np.asarray(img)
            t = time.perf_counter()
            face = landmarks.find_face(rgb, finders)
            times.append(time.perf_counter() - t)
            if face is None or face.finder != "hog":
                missed_times.append(times[-1])
            haar_found += detect_face(img) is not None
            if face is None:
                for b in bars:
                    found = landmarks._mtcnn(rgb, b)
                    if found is not None:
                        lower[b].append(round(found[0][2] / landmarks.NATIVE_BOX_SCALE))
                continue
            used[face.finder] += 1
            t = time.perf_counter()
            crop = landmarks.aligned_face(rgb, face, 128)
            align_times.append(time.perf_counter() - t)
            found_here.append((rgb, face, crop))
        n = len(files)
        rows.append((name, n, f"{100 * sum(used.values()) / n:.1f}",
                     *(str(used[f]) for f in landmarks.ALL_FINDERS),
                     f"{1000 * statistics.median(times):.1f}",
                     f"{1000 * np.percentile(times, 90):.1f}",
                     f"{1000 * statistics.median(missed_times):.0f}" if missed_times else "-",
                     f"{1000 * statistics.median(align_times):.1f}" if align_times else "-",
                     f"{100 * haar_found / n:.1f}"))
        # For the sheets: a few of each source, fallback finds first (they are the doubtful ones).
        found_here.sort(key=lambda r: r[1].finder == "hog")
        for rgb, face, crop in found_here[:5]:
            crops.append(tile(crop, f"{name}/{face.finder}", 128))
            if len(boxes) < 40:
                boxes.append(tile(draw(rgb, face), f"{name}/{face.finder}", 160))
        for b in bars:
            w = sorted(lower[b])
            print(f"{name}: MTCNN bar {b:g} finds a face in {len(w)} of the {n - sum(used.values())} "
                  f"photos with none (eye gaps, px: {w})")
        print(f"{name}: done ({load()})", flush=True)

    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    print()
    for r in [header] + rows:
        print("| " + " | ".join(str(v).ljust(w) for v, w in zip(r, widths)) + " |")
    print(load())
    if args.timing:
        photo = np.asarray(open_image(args.timing))
        for side in (1000, 300):
            rgb = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA if side < photo.shape[0]
                             else cv2.INTER_CUBIC)
            landmarks.find_face(rgb)
            ts = []
            for _ in range(20):
                t = time.perf_counter()
                face = landmarks.find_face(rgb, finders)
                ts.append(time.perf_counter() - t)
            print(f"find_face {side}x{side}: median {1000 * statistics.median(ts):.1f} ms, "
                  f"best {1000 * min(ts):.1f} ms ({face.finder if face else 'none'}; {load()})")
    if args.sheet and crops:
        save(args.sheet, grid(crops[:48], 8))
    if args.boxes and boxes:
        save(args.boxes, grid(boxes, 8))


def draw(rgb: np.ndarray, face) -> np.ndarray:
    out = rgb.copy()
    x0, y0, x1, y1 = landmarks.native_box(face, rgb.shape[1], rgb.shape[0])
    thick = max(1, round(max(rgb.shape[:2]) / 200))
    cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (0, 255, 0), thick)
    for x, y in face.points:
        cv2.circle(out, (int(round(x)), int(round(y))), thick + 1, (255, 0, 0), -1)
    side = max(rgb.shape[:2])
    canvas = np.zeros((side, side, 3), np.uint8)
    canvas[:rgb.shape[0], :rgb.shape[1]] = out
    return canvas


if __name__ == "__main__":
    main()
