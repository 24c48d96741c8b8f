"""The photos the detectors are fitted, calibrated and measured on, each part kept apart.

Every part is a set of uint8 faces prepared exactly like an upload (`photos.prepare_files`,
the bundle's size and crop) and, for the parts that are measured, the files themselves, so the
robustness test can change a file (JPEG, resize, crop) and send it through the same path again.

Where each photo goes is decided by a hash of its file name (`FaceData.split`'s rule), never by
load order, so every fit and every report rebuilds the same parts:

- the bundle's own training photos (rebuilt from its card by `gan.data.split`): "train";
  its held-out photos, halved by hash: "calib" and "test" (never trained on by the GAN);
- the other GAN's set (a folder with `real/` and `fake/`): 30% "test" by file name, 20%
  "calib", the rest "train";
- the bundle's own generator: new faces per part, from separate seeds;
- a real source the detectors never see in fitting (UTKFace here): test only, a sample chosen
  by file-name hash, for the false-positive rate on real photos from elsewhere.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gan.data import load_faces
from gan.data.dataset import _unit_hash
from gan.data.preprocess import MIN_SIZE, open_image
from gan.data.split import Split, resolve_source
from gan.detector.photos import FileRef, image_files, prepare_files
from gan.metrics.evaluate import generate_faces

OTHER_GAN_SPLIT_SEED = 7          # hash seed of the other GAN set's split (by file name)
OTHER_GAN_TEST = 0.30             # share of it held out for the report
OTHER_GAN_CALIB = 0.20            # share used to calibrate (never to train)
HELDOUT_SPLIT_SEED = 11           # halves the bundle's held-out photos: calib / test
OWN_SEEDS = {"train": 1001, "calib": 2002, "test": 3003}
OTHER_REAL_SEED = 5               # which files of the unseen real source are sampled
PERTURBATIONS = ("jpeg75", "resize0.5", "crop10")
PERTURBATION_TEXT = {"jpeg75": "JPEG re-saved at quality 75",
                     "resize0.5": "resized to half width and height",
                     "crop10": "cropped by 10% (90% of width and height kept, random offset)"}


class DetectorDataError(ValueError):
    """The photos a fit or report needs are missing; the message says which and what to do."""


@dataclass
class Part:
    """One named set of faces, all real (label 0) or all generated (label 1)."""
    name: str                         # e.g. "celeba_test", "own_test", "stylegan_fake_test"
    label: int                        # 0 real, 1 generated
    images: np.ndarray                # uint8 [n, R, R, 3], prepared like an upload
    description: str                  # in words, for the report
    files: list[FileRef] = field(default_factory=list, repr=False)  # the same images as files
    face_found: np.ndarray | None = None
    pixel_change: float | None = None   # for a perturbed part: mean |difference| to the original

    def __len__(self) -> int:
        return len(self.images)


def unit_hash(seed: int, key: str) -> float:
    return _unit_hash(seed, key)


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


# --------------------------------------------------------------------------- perturbations


def perturb(source: FileRef, kind: str, rng: np.random.Generator) -> bytes:
    """A file changed as people's photos are changed on the way to a detector:
    "jpeg75" (re-saved as JPEG at quality 75), "resize0.5" (half width and height, Lanczos,
    saved losslessly), "crop10" (90% of width and height kept at a random offset)."""
    from PIL import Image

    img = open_image(source)
    buf = io.BytesIO()
    if kind == "jpeg75":
        img.save(buf, format="JPEG", quality=75)
        return buf.getvalue()
    if kind == "resize0.5":
        w, h = img.size
        img = img.resize((max(1, round(w / 2)), max(1, round(h / 2))), Image.Resampling.LANCZOS)
    elif kind == "crop10":
        w, h = img.size
        cw, ch = round(w * 0.9), round(h * 0.9)
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        img = img.crop((x0, y0, x0 + cw, y0 + ch))
    else:
        raise ValueError(f"unknown perturbation {kind!r}; known: {', '.join(PERTURBATIONS)}")
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def augment(images: np.ndarray, seed: int, p_change: float = 0.6) -> np.ndarray:
    """Training-time augmentation on prepared faces, so the forensic detector does not lean on
    traces that a re-save or resize wipes out: per face, with probability `p_change`, one or two
    of JPEG (quality 60-95), down- and up-scaling (to 40-90% of the side) and a crop (85-97% of
    the side, random offset) resized back; a horizontal flip half the time."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = np.empty_like(images)
    R = images.shape[1]
    for i, im in enumerate(images):
        img = Image.fromarray(im)
        if rng.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if rng.random() < p_change:
            kinds = rng.permutation(["jpeg", "scale", "crop"])[: 1 + int(rng.random() < 0.3)]
            for kind in kinds:
                if kind == "jpeg":
                    buf = io.BytesIO()
                    img.save(buf, format="JPEG", quality=int(rng.integers(60, 96)))
                    img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
                elif kind == "scale":
                    s = max(8, round(R * rng.uniform(0.4, 0.9)))
                    img = img.resize((s, s), Image.Resampling.LANCZOS).resize(
                        (R, R), Image.Resampling.LANCZOS)
                else:
                    s = round(R * rng.uniform(0.85, 0.97))
                    x0, y0 = (int(v) for v in rng.integers(0, R - s + 1, 2))
                    img = img.resize((R, R), Image.Resampling.LANCZOS, box=(x0, y0, x0 + s, y0 + s))
        out[i] = np.asarray(img, np.uint8)
    return out


# --------------------------------------------------------------------------- parts


def _load(path, bundle, **kw):
    try:
        return load_faces(path, size=bundle.resolution, crop=bundle.crop, progress=False, **kw)
    except (OSError, ValueError) as e:
        raise DetectorDataError(f"cannot read photos from {path}: {e}") from e


def _root(faces, fallback: Path) -> Path:
    src = faces.report.get("source", {}) or {}
    return Path(src.get("path") or fallback)


def bundle_real_parts(bundle, real_path: str | None = None, log=lambda m: None) -> dict[str, Part]:
    """The bundle's training photos ("real_train") and its held-out photos halved by hash into
    "real_calib" and "real_test", rebuilt from the card (`gan.data.split`). With `real_path` (photos the GAN never
    saw, e.g. when the card's source is not here), that folder is split three ways instead."""
    if real_path is None:
        split = Split.from_card(bundle.card)
        why = split.why_no_heldout()
        if why:
            raise DetectorDataError(
                f"no held-out real photos for {bundle.name}: {why} (data.source = "
                f"{split.source!r}). Give --real PATH, a folder of real face photos the "
                f"model was not trained on.")
        try:
            loaded = split.load()
        except (OSError, ValueError) as e:
            raise DetectorDataError(f"cannot read photos from {split.path}: {e}") from e
        faces, train, held = loaded.faces, loaded.train, loaded.heldout
        name = split.name
        held_desc = f"held-out photos of {name} (never trained on)"
        train_desc = f"training photos of {name} (the GAN's own training split)"
    else:
        faces = _load(real_path, bundle)
        u = np.array([unit_hash(HELDOUT_SPLIT_SEED + 1, k) for k in faces.keys])
        train, held = faces.subset(u >= 0.5), faces.subset(u < 0.5)
        name = Path(real_path).name
        held_desc, train_desc = f"photos of {name}", f"photos of {name}"
    if len(held) < 20:
        raise DetectorDataError(f"only {len(held)} held-out real photos for {bundle.name}; at "
                                f"least 20 are needed to calibrate and measure. Give --real PATH.")
    root = _root(faces, Path(real_path or "."))
    u = np.array([unit_hash(HELDOUT_SPLIT_SEED, k) for k in held.keys])
    parts = {"real_train": Part("real_train", 0, np.asarray(train.images), train_desc,
                                face_found=train.face_found)}
    for pname, mask in (("real_calib", u < 0.5), ("real_test", u >= 0.5)):
        sub = held.subset(mask)
        parts[pname] = Part(pname, 0, np.asarray(sub.images), f"{len(sub)} {held_desc}",
                            files=[root / k for k in sub.keys], face_found=sub.face_found)
    log(f"real photos: {len(train)} train, {len(parts['real_calib'])} calib, "
        f"{len(parts['real_test'])} test")
    return parts


def other_gan_parts(path: str | Path, bundle, log=lambda m: None) -> dict[str, Part]:
    """A folder with `real/` and `fake/` (another GAN's faces and real portraits), split by file
    name: 30% test, 20% calib, 50% train, for each side."""
    path = Path(path)
    if not (path / "real").is_dir() or not (path / "fake").is_dir():
        raise DetectorDataError(f"{path} needs a real/ and a fake/ folder (another GAN's faces "
                                f"and real photos), as ../shared/data/stylegan-vs-real has.")
    parts = {}
    for side, label in (("real", 0), ("fake", 1)):
        faces = _load(path / side, bundle)
        root = _root(faces, path / side)
        u = np.array([unit_hash(OTHER_GAN_SPLIT_SEED, k) for k in faces.keys])
        for split, mask in (("test", u < OTHER_GAN_TEST),
                            ("calib", (u >= OTHER_GAN_TEST) & (u < OTHER_GAN_TEST + OTHER_GAN_CALIB)),
                            ("train", u >= OTHER_GAN_TEST + OTHER_GAN_CALIB)):
            sub = faces.subset(mask)
            what = "real photos" if label == 0 else "faces of another GAN"
            name = f"other_{side}_{split}"
            parts[name] = Part(name, label, np.asarray(sub.images),
                               f"{len(sub)} {what} ({path.name}/{side}, {split} split by file name)",
                               files=[root / k for k in sub.keys], face_found=sub.face_found)
    log("other GAN set: " + ", ".join(f"{k} {len(v)}" for k, v in parts.items()))
    return parts


def own_part(bundle, name: str, n: int, seed: int, as_files: bool = True) -> Part:
    """`n` new faces of the bundle's generator (random definite labels for a conditional one).
    With `as_files`, each is saved as PNG and prepared like an upload (what a visitor's
    download goes through on its way back in); otherwise, and for bundles below the smallest
    upload size (`MIN_SIZE`), as the generator made them."""
    raw = generate_faces(bundle, n, seed)
    if as_files and bundle.resolution < MIN_SIZE:   # uploads this small are refused: as made
        as_files = False
    if not as_files:
        return Part(name, 1, raw, f"{n} faces of {bundle.name}'s generator (seed {seed}), as made")
    files = [_png(im) for im in raw]
    images, found, kept = prepare_files(files, bundle.resolution, bundle.crop)
    return Part(name, 1, images, f"{len(kept)} faces of {bundle.name}'s generator (seed {seed}), "
                                 f"saved as PNG and prepared like an upload",
                files=[files[i] for i in kept], face_found=found)


def sample_files(path: str | Path, n: int, seed: int = OTHER_REAL_SEED) -> list[Path]:
    """`n` image files of a folder, the same ones every time (lowest hash of the file name)."""
    path = Path(path)
    files = image_files(path)
    if not files:
        raise DetectorDataError(f"no image files in {path}")
    files.sort(key=lambda p: unit_hash(seed, p.relative_to(path).as_posix()))
    return files[:n]


def other_real_part(path: str | Path, bundle, n: int, log=lambda m: None) -> Part:
    """Real photos from a source no detector is fitted on (test only)."""
    files = sample_files(path, n)
    images, found, kept = prepare_files(files, bundle.resolution, bundle.crop, log=log)
    name = Path(path).name
    return Part("unseen_real_test", 0, images,
                f"{len(kept)} real photos of {name} (a source never used in fitting; a sample "
                f"chosen by file name)", files=[files[i] for i in kept], face_found=found)


# --------------------------------------------------------------------------- everything

DEFAULT_OTHER_GAN = "../shared/data/stylegan-vs-real"
DEFAULT_UNSEEN_REAL = "../shared/data/utkface"
SIZES = {"real_train": 2000, "own_train": 1000, "own_train_raw": 1000, "own_calib": 250,
         "own_test": 300, "unseen_real_test": 600}


def resolve(path: str | Path | None) -> Path | None:
    """A data path as given (absolute or from the working directory), else from the repository
    root; None when neither exists."""
    if path is None:
        return None

    return resolve_source(str(path))


def build_parts(bundle, *, real: str | None = None, other_gan: str | Path | None = None,
                unseen_real: str | Path | None = None, sizes: dict[str, int] | None = None,
                fit: bool = True, test: bool = True, log=lambda m: None) -> dict[str, Part]:
    """All the parts a fit (`fit`: the train and calib parts) and a report (`test`: the test
    parts, and the train parts its shortcut baseline needs) use. `other_gan` / `unseen_real`:
    folders, or None to go without them."""
    sizes = {**SIZES, **(sizes or {})}
    parts = bundle_real_parts(bundle, real, log=log)
    if len(parts["real_train"]) > sizes["real_train"]:
        pick = np.sort(np.random.default_rng(0).choice(len(parts["real_train"]),
                                                       sizes["real_train"], replace=False))
        p = parts["real_train"]
        parts["real_train"] = Part(p.name, 0, np.asarray(p.images[pick]),
                                   f"{len(pick)} of the {len(p)} {p.description}",
                                   face_found=None if p.face_found is None else p.face_found[pick])
    if other_gan is not None:
        for k, v in other_gan_parts(other_gan, bundle, log=log).items():
            if (fit or not k.endswith("_calib")) and (test or not k.endswith("_test")):
                parts[k] = v
    # A report without a fit still gets the cheap training parts: the shortcut baseline is
    # trained on them (report.BASELINE_TRAIN).
    wanted = (["own_train", "own_calib"] if fit else []) + ["own_train_raw"] \
        + (["own_test"] if test else [])
    for k in wanted:
        raw = k.endswith("_raw")
        seed = OWN_SEEDS[k.split("_")[1]] + (1 if raw else 0)
        log(f"generating {sizes[k]} faces for {k}" + ("" if raw else " (saved as PNG, prepared "
                                                           "like an upload)"))
        parts[k] = own_part(bundle, k, sizes[k], seed, as_files=not raw)
    if test:
        # The same test faces as the generator made them (what the app's "try it" scores).
        log("own_test_raw: the test faces as made")
        parts["own_test_raw"] = own_part(bundle, "own_test_raw", sizes["own_test"],
                                         OWN_SEEDS["test"], as_files=False)
    if test and unseen_real is not None:
        log(f"sampling {sizes['unseen_real_test']} photos of {unseen_real}")
        parts["unseen_real_test"] = other_real_part(unseen_real, bundle,
                                                    sizes["unseen_real_test"], log=log)
    if not test:
        parts = {k: v for k, v in parts.items() if not k.endswith("_test")}
    return parts


KNOWN_NAMES = {"stylegan-vs-real": "StyleGAN2", "utkface": "UTKFace", "celeba-5k": "CelebA",
               "celeba-identities": "CelebA"}


def source_names(bundle, real: str | None, other_gan: Path | None, unseen_real: Path | None) -> dict:
    """Short names of the sources, for the report's plain words ("CelebA", "StyleGAN2")."""
    def name(p):
        return None if p is None else KNOWN_NAMES.get(Path(str(p)).name, Path(str(p)).name)

    return {"training": name(real or (bundle.card.get("data") or {}).get("source")),
            "other_gan": name(other_gan), "unseen_real": name(unseen_real)}
