"""How long one upload takes to score (a benchmark, not a test): each fitted detector's whole
path (decode, face and landmarks, then for `dfeatures` the aligned face of the photo and of its
two re-encodings through the discriminator's layers, for `learned` the same faces through its
trained layers, for `panel` both those and the discriminator's crops, for `forensic` their
texture; the read-out, the unfamiliar check) beside the discriminator's path (decode, Haar crop of the photo and its
re-encodings, one network call) as the baseline run beside it.

    python bench/detect_speed.py --model models/default [PHOTO ...]

Without photos it makes five from a real photo of ../shared/data (the photo as it is, 1024 px
and 4000 px JPEG upscales with the face filling them, and a 12-megapixel phone-shaped JPEG with
the face a quarter of its width on a blurred copy, so a second face fills the frame, and the
same on a scene of smooth noise and grain without a face). Prints the median wall and CPU time per
upload for each detector, and the ratio of each fitted detector to the discriminator. The
target (issue 17) is under 150 ms per upload on this machine; note the load average printed
beside it.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data" / "stylegan-vs-real" / "real"


def photos_from(args) -> list[tuple[str, bytes]]:
    if args.photos:
        return [(Path(p).name, Path(p).read_bytes()) for p in args.photos]
    import numpy as np
    from PIL import Image, ImageFilter

    src = sorted(SHARED.glob("*.jpg"))[0]
    img = Image.open(src).convert("RGB")
    out = [(f"{src.name} ({img.size[0]}x{img.size[1]})", src.read_bytes())]
    for side in (1024, 4000):
        buf = io.BytesIO()
        img.resize((side, int(side * img.size[1] / img.size[0])), Image.Resampling.BICUBIC) \
            .save(buf, "JPEG", quality=90)
        out.append((f"upscaled JPEG {side} px", buf.getvalue()))
    # A phone photo's shape: 12 megapixels, the face a quarter of its width, on a textured scene.
    scene = img.resize((4032, 3024), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(3))
    face = img.resize((1008, 1008), Image.Resampling.BICUBIC)
    scene.paste(face, (1512, 800))
    buf = io.BytesIO()
    scene.save(buf, "JPEG", quality=90)
    out.append(("12-megapixel JPEG, face 1/4 wide", buf.getvalue()))
    # The same, on a scene without a face: the scene above is the photo itself enlarged and
    # blurred, a second face that fills the frame (OpenCV's Haar cascade frames that one).
    rng = np.random.default_rng(0)
    scene = Image.fromarray(rng.integers(60, 200, (12, 16, 3), dtype=np.uint8)) \
        .resize((4032, 3024), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(3))
    grain = rng.normal(0.0, 4.0, (3024, 4032, 1))
    scene = Image.fromarray(np.clip(np.asarray(scene, np.float64) + grain, 0, 255).astype(np.uint8))
    scene.paste(face, (1512, 800))
    buf = io.BytesIO()
    scene.save(buf, "JPEG", quality=90)
    out.append(("12-megapixel JPEG, face 1/4 wide, no second face", buf.getvalue()))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("photos", nargs="*")
    p.add_argument("--model", default=str(REPO / "models" / "default"))
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args()

    from gan.bundle import load_bundle
    from gan.detector import photos, stored

    bundle = load_bundle(args.model)
    dets, problems = stored.stored_detectors(bundle)
    for k, m in problems.items():
        print(f"{k}: not usable ({m})")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.repeats} warm runs each")
    medians = {}
    for name, data in photos_from(args):
        for det in dets:
            def once():
                face = photos.prepare(data, det)
                return photos.judge(det, [face])[0]
            once()
            walls, cpus = [], []
            for _ in range(args.repeats):
                t, c = time.perf_counter(), time.process_time()
                v = once()
                walls.append(time.perf_counter() - t)
                cpus.append(time.process_time() - c)
            medians[(name, det.key)] = statistics.median(walls)
            print(f"{name:32s} {det.key:14s} wall {1000 * statistics.median(walls):7.1f} ms  "
                  f"CPU {1000 * statistics.median(cpus):7.1f} ms  verdict {v.verdict if v else 'no face'}")
        for key in (d.key for d in dets if d.key != "discriminator"):
            if (name, key) in medians and (name, "discriminator") in medians:
                print(f"{'':32s} ratio {key} / discriminator: "
                      f"{medians[(name, key)] / medians[(name, 'discriminator')]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
