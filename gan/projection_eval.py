"""How good are a bundle's projections? Pixel likeness, identity and edits (issue 20, point 3).

For each face of a set (a photo crop prepared as uploads are, or one of the generator's own
faces) and each method, the projection is scored by:
- `ms_ssim`: pixel MS-SSIM between the crop and the projection (`gan.metrics.msssim`);
- `distance`: dlib's face-recognition distance (`gan.metrics.identity`), `same_person` when
  under 0.6 (dlib's rule); None when dlib finds no face in the photo's crop;
- `seconds`: wall time of the projection (start to face, the encoder's guess included);
- `flips`: per attribute slider, whether the project's attribute judge (`gan.sliders`, the
  classifier `python -m gan.attributes` scores the sliders with) says "no" at the slider's low
  end and "yes" at its high end, the other labels kept at the projection's values: the same
  rule as the sliders' flip rate on generated faces.

Methods (`METHODS`):
- "latent": optimisation of z (and labels) from the mean latent, no encoder: the baseline;
- "encoder": the same optimisation from the bundle encoder's guess (the app's default);
- "features": the "encoder" projection refined in the generator's 16x16 feature map
  (`gan.projection.FeatureProjector`); its edits move the labels under the kept residual.

A `Chance` figure goes with each set: the share of photos dlib calls the same person as the
projection of *another* photo of the set (how often the rule says "same" by accident).

`bench/project_identity.py` is the command line; nothing here is imported by the app.
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

METHODS = ("latent", "encoder", "features")
METHOD_WORDS = {"latent": "optimisation alone (from the mean latent)",
                "encoder": "encoder + optimisation",
                "features": "encoder + optimisation + 16x16 feature map"}
OWN_SEED = 12345            # the own faces' latents: not the encoder fitting's seeds


@dataclass
class FaceSet:
    """Faces to project: a name, per face a key and the uint8 crop, and whether a face was
    found when the photo was prepared (None when not known: generated faces, and photos taken
    from the training decode cache)."""
    name: str
    keys: list[str]
    images: np.ndarray
    face_found: list


def heldout_celeba(bundle, n: int, offset: int = 0) -> FaceSet:
    """Photos `offset` to `offset + n` (by file name) of the bundle's held-out split of its
    training data (`gan.data.split.Split.from_card`: the card's source, fraction and seed),
    prepared as the training photos were (the same decode path as uploads)."""
    from gan.data.split import Split

    split = Split.from_card(bundle.card)
    why = split.why_no_heldout()
    if why:
        raise ValueError(f"no held-out photos for {bundle.name}: {why}")
    held = split.load().heldout
    order = sorted(range(len(held)), key=lambda i: held.keys[i])[offset:offset + n]
    return FaceSet(f"{split.name} held out", [held.keys[i] for i in order],
                   held.images[order], [None] * len(order))   # the decode cache keeps no flag


def own_faces(bundle, n: int, seed: int = OWN_SEED) -> FaceSet:
    """n of the generator's own faces: z ~ N(0, I), binary labels drawn at random."""
    from gan.sampling import generate_from_latents

    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, bundle.latent_dim)).astype(np.float32)
    y = (rng.integers(0, 2, (n, len(bundle.label_names))).astype(np.float32)
         if bundle.conditional else None)
    return FaceSet("own faces", [f"own{i:03d}" for i in range(n)],
                   generate_from_latents(bundle, z, y), [None] * n)


def _natural(p: Path):
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def folder(bundle, path, n: int) -> FaceSet:
    """The first n photos of a folder (natural file-name order) prepared as uploads are;
    files that cannot be used are left out."""
    from gan.data.preprocess import ImageError, prepare_image

    root = Path(path)
    files = sorted((p for p in root.iterdir() if p.suffix.lower() in
                    (".jpg", ".jpeg", ".png", ".webp", ".bmp")), key=_natural)
    keys, images, found = [], [], []
    for p in files:
        if len(keys) >= n:
            break
        try:
            prep = prepare_image(p, size=bundle.resolution, crop=bundle.crop)
        except ImageError:
            continue
        keys.append(p.name)
        images.append(prep.image)
        found.append(prep.face_found)
    return FaceSet(root.name, keys, np.stack(images), found)


class Methods:
    """The projectors of one bundle, built once: `run(method, face)` returns (image, z,
    labels, delta or None, seconds)."""

    def __init__(self, bundle, methods=METHODS, steps: int | None = None,
                 feature_steps: int | None = None):
        from gan.projection import DEFAULT_STEPS, FEATURE_STEPS, FeatureProjector, Projector

        self.bundle = bundle
        self.steps = int(steps or DEFAULT_STEPS)
        self.feature_steps = int(feature_steps or FEATURE_STEPS)
        self.latent = Projector(bundle, use_encoder=False) if "latent" in methods else None
        self.encoder = None
        if "encoder" in methods or "features" in methods:
            self.encoder = Projector(bundle)
            if self.encoder.encoder is None:
                raise ValueError(f"{bundle.name}: {self.encoder.start_note}")
        self.features = FeatureProjector(self.encoder) if "features" in methods else None
        self._last = None          # (face bytes, encoder projection): features reuse it

    def run(self, method: str, face: np.ndarray):
        if method == "latent":
            r = self.latent.project(face, steps=self.steps, seed=0)
            return r.image, r.z, r.labels, None, r.seconds
        key = face.tobytes()
        if method == "encoder" or self._last is None or self._last[0] != key:
            r = self.encoder.project(face, steps=self.steps, seed=0)
            self._last = (key, r)
            if method == "encoder":
                return r.image, r.z, r.labels, None, r.seconds
        r = self._last[1]
        f = self.features.project(face, r, steps=self.feature_steps)
        return f.image, f.z, f.labels, f.delta, r.seconds + f.seconds

    def edit_pair(self, z, labels, delta, j: int) -> np.ndarray:
        """The projection with label j at 0 and at 1 (the slider's ends at the card's reach
        of 1), the other labels as projected: uint8 [2, R, R, 3]."""
        from gan.sampling import generate_from_latents
        from gan.sliders.semantics import label_value, slider_reach

        reach = slider_reach(self.bundle.card)
        lo, hi = labels.copy(), labels.copy()
        lo[j], hi[j] = label_value(-1, reach), label_value(1, reach)
        zz = np.stack([z, z]).astype(np.float32)
        if delta is None:
            return generate_from_latents(self.bundle, zz, np.stack([lo, hi]))
        return self.features.faces(zz, np.stack([lo, hi]), delta)


def measure_face(methods: Methods, method: str, face: np.ndarray, judge=None,
                 names: list[str] = ()) -> dict:
    """One face, one method: its scores (see the module's docstring) and dlib vectors."""
    from gan.metrics import identity
    from gan.metrics.msssim import ms_ssim

    image, z, labels, delta, seconds = methods.run(method, face)
    e_photo = identity.embed(face)
    row = {"method": method, "seconds": round(float(seconds), 3),
           "ms_ssim": round(float(ms_ssim(face[None], image[None])[0]), 4),
           "distance": None, "same_person": None, "photo_found": e_photo is not None,
           "projection_found": None, "image": image}
    if e_photo is not None:
        e_proj = identity.embed(image, box=e_photo.box)
        d = identity.distance(e_photo, e_proj)
        row.update(distance=round(d, 4), same_person=bool(d < identity.SAME_PERSON),
                   projection_found=e_proj.found, photo_vector=e_photo.vector.tolist(),
                   projection_vector=e_proj.vector.tolist())
    if judge is not None and labels is not None and names:
        from gan.sliders import classifier as ac

        flips = {}
        for name in names:
            j = methods.bundle.label_names.index(name)
            pair = methods.edit_pair(z, labels, delta, j)
            p = ac.predict(judge, pair)[:, names.index(name)]
            flips[name] = {"flip": bool(p[0] < 0.5 <= p[1]), "p_low": round(float(p[0]), 4),
                           "p_high": round(float(p[1]), 4)}
            if e_photo is not None:
                e_hi = identity.embed(pair[1], box=e_photo.box)
                e_lo = identity.embed(pair[0], box=e_photo.box)
                flips[name]["ends_distance"] = round(identity.distance(e_lo, e_hi), 4)
        row["flips"] = flips
    return row


def run(face_set: FaceSet, methods: Methods, method_names, rows_path: Path, judge=None,
        names: list[str] = (), log: Callable[[str], None] = lambda m: None,
        images_dir: Path | None = None) -> list[dict]:
    """Measure every face of the set by every method, appending one JSON line per (face,
    method) to `rows_path` (a rerun skips the lines already there, so a stopped measurement
    resumes). Projections are saved as PNG in `images_dir` for the figures."""
    from gan.images import png_bytes

    done = {}
    if rows_path.exists():
        for line in rows_path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done[(r["set"], r["key"], r["method"])] = r
    rows_path.parent.mkdir(parents=True, exist_ok=True)
    if images_dir is not None:
        images_dir.mkdir(parents=True, exist_ok=True)
    out = []
    with rows_path.open("a") as f:
        for i, (key, face, found) in enumerate(zip(face_set.keys, face_set.images,
                                                   face_set.face_found)):
            for m in method_names:
                if (face_set.name, key, m) in done:
                    out.append(done[(face_set.name, key, m)])
                    continue
                row = measure_face(methods, m, face, judge, names)
                image = row.pop("image")
                if images_dir is not None:
                    stem = _stem(face_set.name, key)
                    (images_dir / f"{stem}.photo.png").write_bytes(png_bytes(face))
                    (images_dir / f"{stem}.{m}.png").write_bytes(png_bytes(image))
                row.update(set=face_set.name, key=key, face_found=found)
                f.write(json.dumps(row) + "\n")
                f.flush()
                out.append(row)
                d = row["distance"]
                log(f"{face_set.name} {i + 1}/{len(face_set.keys)} {key} {m}: MS-SSIM "
                    f"{row['ms_ssim']:.3f}, dlib {'-' if d is None else f'{d:.3f}'}, "
                    f"{row['seconds']:.1f} s"
                    + ("".join(f", {k} {'flips' if v['flip'] else 'no flip'}"
                               for k, v in row.get("flips", {}).items())))
    return out


def _stem(set_name: str, key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{set_name}__{key}")


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson interval of a share k / n."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def chance_share(rows: list[dict], threshold: float, shift: int = 1) -> float | None:
    """Share of photos dlib calls the same person as another photo's projection (each
    photo against the projection of the next one in the set): the rule's accidental 'same'."""
    have = [r for r in rows if r.get("photo_vector") is not None]
    if len(have) < 2:
        return None
    a = np.asarray([r["photo_vector"] for r in have])
    b = np.roll(np.asarray([r["projection_vector"] for r in have]), shift, axis=0)
    return float((np.linalg.norm(a - b, axis=1) < threshold).mean())


def summarise(rows: list[dict]) -> list[dict]:
    """Per (set, method): faces, medians of MS-SSIM, dlib distance and seconds, the share
    called the same person (with its 95 % interval), flip rates, the chance share."""
    from gan.metrics.identity import SAME_PERSON

    out = []
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["set"], r["method"]), []).append(r)
    for (set_name, method), rs in groups.items():
        judged = [r for r in rs if r["distance"] is not None]
        k = sum(bool(r["same_person"]) for r in judged)
        s = {"set": set_name, "method": method, "faces": len(rs),
             "ms_ssim_median": statistics.median(r["ms_ssim"] for r in rs),
             "ms_ssim_mean": statistics.fmean(r["ms_ssim"] for r in rs),
             "seconds_median": statistics.median(r["seconds"] for r in rs),
             "dlib_judged": len(judged),
             "projection_face_found": sum(bool(r["projection_found"]) for r in judged),
             "same_person": k,
             "same_person_share": k / len(judged) if judged else None,
             "same_person_interval": wilson(k, len(judged)),
             "distance_median": (statistics.median(r["distance"] for r in judged)
                                 if judged else None),
             "chance_share": chance_share(judged, SAME_PERSON)}
        flips = [r["flips"] for r in rs if r.get("flips")]
        if flips:
            s["flip_rate"] = {n: sum(f[n]["flip"] for f in flips) / len(flips)
                              for n in flips[0]}
            s["flip_faces"] = len(flips)
            ends = {n: [f[n]["ends_distance"] for f in flips if "ends_distance" in f[n]]
                    for n in flips[0]}
            s["edit_ends_distance_median"] = {n: statistics.median(v) for n, v in ends.items()
                                              if v}
        out.append(s)
    return out


def table(summary: list[dict]) -> str:
    """The summary as a Markdown table."""
    lines = ["| faces | method | n | MS-SSIM median | dlib distance median | same person (< 0.6) "
             "| 95 % interval | by chance | s per projection (median) | sliders flip |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in summary:
        share = s["same_person_share"]
        lo, hi = s["same_person_interval"]
        flips = ", ".join(f"{n} {v:.0%}" for n, v in s.get("flip_rate", {}).items()) or "-"
        chance = s["chance_share"]
        lines.append(
            f"| {s['set']} | {METHOD_WORDS.get(s['method'], s['method'])} | {s['faces']} "
            f"| {s['ms_ssim_median']:.3f} | "
            + ("-" if s["distance_median"] is None else f"{s['distance_median']:.3f}")
            + f" | {s['same_person']}/{s['dlib_judged']} = "
            + ("-" if share is None else f"{share:.1%}")
            + (" | - | " if share is None else f" | {lo:.1%}-{hi:.1%} | ")
            + ("-" if chance is None else f"{chance:.1%}")
            + f" | {s['seconds_median']:.1f} | {flips} |")
    return "\n".join(lines)


def cases_figure(rows: list[dict], images_dir: Path, set_name: str, rank_by: str,
                 methods: list[str], per: int = 2, title: str = "") -> bytes:
    """PNG: the `per` best, median and worst faces of a set by `rank_by`'s dlib distance,
    one row each: the photo's crop, then each method's projection with its distance and
    MS-SSIM."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    by = {(r["key"], r["method"]): r for r in rows if r["set"] == set_name}
    ranked = sorted((r for r in rows if r["set"] == set_name and r["method"] == rank_by
                     and r["distance"] is not None), key=lambda r: r["distance"])
    if not ranked:
        raise ValueError(f"no dlib-judged faces of {set_name} by {rank_by}")
    mid = len(ranked) // 2 - per // 2
    picks = ([("best", r) for r in ranked[:per]]
             + [("median", r) for r in ranked[mid:mid + per]]
             + [("worst", r) for r in ranked[-per:]])
    cols = 1 + len(methods)
    fig, axes = plt.subplots(len(picks), cols, figsize=(1.9 * cols, 2.15 * len(picks)),
                             squeeze=False)
    for i, (what, r) in enumerate(picks):
        stem = _stem(set_name, r["key"])
        axes[i][0].imshow(Image.open(images_dir / f"{stem}.photo.png"))
        axes[i][0].set_title(f"{what}: photo", fontsize=8)
        for c, m in enumerate(methods, start=1):
            rr = by.get((r["key"], m))
            axes[i][c].imshow(Image.open(images_dir / f"{stem}.{m}.png"))
            d = "-" if rr is None or rr["distance"] is None else f"{rr['distance']:.2f}"
            ms = "-" if rr is None else f"{rr['ms_ssim']:.2f}"
            axes[i][c].set_title(f"{m}: dlib {d}, MS-SSIM {ms}", fontsize=7)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(title or f"{set_name}: best, median and worst by the dlib distance of "
                          f"method '{rank_by}'", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def edits_figure(methods: Methods, face_set: FaceSet, n: int, judge=None,
                 names: list[str] = ()) -> bytes:
    """PNG: n faces of the set (evenly spaced, not picked), two rows each: the encoder's latent
    projection and its feature-map refinement, each followed by every slider's two ends (the
    judge's probability of the attribute under each)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gan.sliders.semantics import ends

    idx = np.unique(np.linspace(0, len(face_set.keys) - 1, n).round().astype(int))
    cols = 2 + 2 * len(names)
    fig, axes = plt.subplots(2 * len(idx), cols, figsize=(1.55 * cols, 1.75 * 2 * len(idx)),
                             squeeze=False)
    for r, i in enumerate(idx):
        face = face_set.images[i]
        for k, method in enumerate(("encoder", "features")):
            image, z, labels, delta, _ = methods.run(method, face)
            row = axes[2 * r + k]
            row[0].imshow(face)
            row[0].set_title(f"{face_set.keys[i]}", fontsize=6)
            row[1].imshow(image)
            row[1].set_title("latent" if method == "encoder" else "feature map", fontsize=7)
            for a, name in enumerate(names):
                j = methods.bundle.label_names.index(name)
                pair = methods.edit_pair(z, labels, delta, j)
                p = None
                if judge is not None:
                    from gan.sliders import classifier as ac

                    p = ac.predict(judge, pair)[:, names.index(name)]
                for e in range(2):
                    ax = row[2 + 2 * a + e]
                    ax.imshow(pair[e])
                    word = ends(name)[e]
                    ax.set_title(word + ("" if p is None else f" (p {p[e]:.2f})"), fontsize=6)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(f"{face_set.name}: the sliders' ends on the latent projection and on its "
                 "feature-map refinement (p: the attribute judge)", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def non_faces(face_set: FaceSet, n: int = 3) -> FaceSet:
    """Images that are not upright faces, to see what a method draws besides faces: the first
    n faces of a set upside down, and n horizontal stripe patterns (periods 2 pi x 2, 3, 5 px)."""
    size = face_set.images.shape[1]
    ups = [face_set.images[i][::-1].copy() for i in range(min(n, len(face_set.keys)))]
    rows = np.arange(size)[:, None, None]
    stripes = [np.tile((np.sin(rows / s) * 100 + 128).astype(np.uint8), (1, size, 3))
               for s in (2, 3, 5)[:n]]
    keys = ([f"upside-down {face_set.keys[i]}" for i in range(len(ups))]
            + [f"stripes {s}" for s in (2, 3, 5)[:n]])
    return FaceSet("not faces", keys, np.stack(ups + stripes), [None] * len(keys))


def non_faces_figure(rows: list[dict], images_dir: Path, methods: list[str]) -> bytes:
    """PNG: each non-face image and what each method drew for it, with MS-SSIM."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    keys = list(dict.fromkeys(r["key"] for r in rows if r["set"] == "not faces"))
    by = {(r["key"], r["method"]): r for r in rows if r["set"] == "not faces"}
    fig, axes = plt.subplots(1 + len(methods), len(keys),
                             figsize=(1.6 * len(keys), 1.8 * (1 + len(methods))), squeeze=False)
    for c, key in enumerate(keys):
        stem = _stem("not faces", key)
        axes[0][c].imshow(Image.open(images_dir / f"{stem}.photo.png"))
        axes[0][c].set_title(key.split(" img/")[0], fontsize=7)
        for r, m in enumerate(methods, start=1):
            axes[r][c].imshow(Image.open(images_dir / f"{stem}.{m}.png"))
            row = by.get((key, m))
            score = "-" if row is None else f"{row['ms_ssim']:.2f}"
            axes[r][c].set_title(f"{m}: {score}", fontsize=7)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle("What each method draws for images that are not faces (MS-SSIM)", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()
