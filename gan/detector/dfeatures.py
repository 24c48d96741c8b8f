"""The discriminator-feature detector: what the GAN's discriminator sees, read by a classifier
fitted on many sources.

The discriminator's raw score only tells its own generator's faces from its training photos.
Its layers, though, describe a face at 128 px in ways that carry over to other generators
(smeared texture, the look of hair and background), which the photo's fine texture at its own
resolution does not. This detector keeps the discriminator fixed and fits a read-out on its
features, with the forensic detector's protocol: every source left out in turn
(`gan.detector.loso`), the landmark framing every source shares, fit-time variants (size, blur,
colour, JPEG), the re-encoding check and the out-of-distribution check.

Features of one face (`features`): the mean and the spread over positions of every "down*"
convolution's output (how much of each pattern the face holds anywhere), the last layer's
flattened map (where it is), and the raw score. The out-of-distribution check reads the means
only (`ood_columns`): a full covariance of thousands of features would not fit in a bundle.

Stored as `detection/dfeatures.npz` (the forensic detector's container: a classifier and the
out-of-distribution summary, plain arrays) with the SHA-256 of the discriminator it was fitted
on: a bundle whose discriminator changed refuses it.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image

from gan.bundle import BundleError, discriminator_sha256, verify_files
from gan.data.landmarks import FINDERS, FoundFace, aligned_face, aligned_region, find_face
from gan.detector import variants
from gan.detector.forensic import DetectorError, ReadoutModel
from gan.images import rgb_array

FILE = "detection/dfeatures.npz"
KEY = "dfeatures"
FIX = ("Refit it: `python -m gan.detector fit --model {model} --sources SOURCES.json` "
       "(see docs/detector.md).")
DRAFT_SIDE = 1024            # decode a far larger JPEG at 1/2, 1/4 or 1/8 scale, as forensic


def _scaled(face: FoundFace, scale: float) -> FoundFace:
    if scale == 1.0:
        return face
    return dataclasses.replace(face, points=face.points * np.float32(scale),
                               box=tuple(int(round(v * scale)) for v in face.box))


def photo_views(img: Image.Image, size: int = 128, finders: tuple[str, ...] = FINDERS,
                face: FoundFace | None = None, reencoded: list | None = None,
                rgb: np.ndarray | None = None
                ) -> tuple[np.ndarray | None, np.ndarray | None, bool, int]:
    """(face shown, views [1 + len(REENCODINGS), size, size, 3] uint8, face found, faces): the
    landmark-aligned face of the photo as it is and of each re-encoding (the face is found
    once, then followed); ``faces``: how many the finder found in the photo, the largest being
    the one judged (`FoundFace.faces`). No face: (None, None, False, 0). ``finders``: the face
    finders the detector was fitted with (`gan.data.landmarks.find_face`); ``face``: the face
    already found in this photo by them (the fit's describers, so the slow finders run once);
    ``reencoded``: the photo's `variants.reencodings`, when a caller shares them (they must
    cover `reads(face, ...)`); ``rgb``: the photo as a uint8 array, when the caller has it."""
    rgb = rgb if rgb is not None else rgb_array(img)
    face = face if face is not None else find_face(rgb, finders)
    if face is None:
        return None, None, False, 0
    if reencoded is None:
        reencoded = variants.reencodings(img, keep=reads(face, size, *img.size))
    views = [aligned_face(rgb, face, size)]
    for changed, scale in reencoded:
        views.append(aligned_face(rgb_array(changed), _scaled(face, scale), size))
    return views[0], np.stack(views), True, face.faces


def reads(face: FoundFace, size: int, width: int, height: int) -> tuple[int, int, int, int]:
    """The part of a width x height photo that `photo_views` reads for `face`."""
    return aligned_region(face, size, width, height)


def fit_views(img: Image.Image, face: FoundFace, n: int, rng: np.random.Generator,
              size: int = 128) -> np.ndarray:
    """[n, size, size, 3] uint8: the face after `n` fit-time variants of the photo
    (`gan.detector.variants.fit_variant`, the face's side taken from its eye distance)."""
    side = 2.5 * max(face.eye_distance, 1.0)         # about the native face square's side
    out = []
    for _ in range(n):
        v, s = variants.fit_variant(img, side, rng)
        out.append(aligned_face(rgb_array(v), _scaled(face, s), size))
    return np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)


def _conv_names(discriminator) -> list[str]:
    return [layer.name for layer in discriminator.layers
            if layer.name.startswith("down") and type(layer).__name__ == "Conv2D"]


def _model(bundle):
    """The discriminator up to its convolutions and flattened features, built once per bundle
    object (the labels of a conditional discriminator enter after these layers)."""
    cache = bundle.__dict__.setdefault("_dfeatures_model", {})
    if "m" not in cache:
        import keras

        d = bundle.discriminator
        names = _conv_names(d)
        if not names:
            raise DetectorError(f"the discriminator of {bundle.name} has no 'down*' convolutions "
                                f"to read features from")
        cache["m"] = keras.Model(d.inputs[0], [d.get_layer(n).output for n in names]
                                 + [d.get_layer("features").output], name="d_feature_maps")
        cache["means"] = int(sum(d.get_layer(n).output.shape[-1] for n in names))
    return cache["m"], cache["means"]


def ood_columns(bundle) -> int:
    """How many leading feature columns the out-of-distribution check reads (the means)."""
    return _model(bundle)[1]


def features(bundle, views_uint8: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """float32 [n, D] of prepared faces [n, R, R, 3]: conv means, conv spreads, the flattened
    last map, the raw score (minus the logit, neutral labels)."""
    from gan.data.preprocess import to_model_input
    from gan.detector.stored import discriminator_scores

    model, _ = _model(bundle)
    views_uint8 = np.asarray(views_uint8)
    out = []
    for i in range(0, len(views_uint8), batch_size):
        chunk = views_uint8[i:i + batch_size]
        # A compiled graph, as kerasmodels.logits: the same maps, faster than an eager call.
        maps = [np.asarray(t, np.float32) for t in model.predict_on_batch(to_model_input(chunk))]
        convs, flat = maps[:-1], maps[-1]
        out.append(np.concatenate([m.mean(axis=(1, 2)) for m in convs]
                                  + [m.std(axis=(1, 2)) for m in convs]
                                  + [flat.reshape(len(chunk), -1),
                                     discriminator_scores(bundle, chunk)[:, None].astype(np.float32)],
                                  axis=1))
    if not out:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(out)


def settings(card: dict) -> dict | None:
    s = (card.get("detector") or {}).get(KEY)
    return s if isinstance(s, dict) and s.get("file") else None


@dataclasses.dataclass
class DFeaturesDetector:
    bundle: object
    model: ReadoutModel
    settings: dict

    def scores(self, views: np.ndarray) -> np.ndarray:
        if len(views) == 0:
            return np.zeros((0,), np.float64)
        return self.model.classifier.decision(features(self.bundle, views))

    def unfamiliar(self, views: np.ndarray) -> np.ndarray:
        if len(views) == 0:
            return np.zeros(0, bool)
        return self.model.ood.unfamiliar(features(self.bundle, views))


def load(bundle) -> DFeaturesDetector:
    """The bundle's discriminator-feature detector, checked against the card (size, SHA-256)
    and the discriminator it was fitted on. Raises DetectorError saying what is wrong."""
    card = bundle.card
    s = settings(card)
    fix = FIX.format(model=bundle.path)
    if s is None:
        raise DetectorError(f"{bundle.name} has no discriminator-feature detector. {fix}")
    try:
        verify_files(bundle.path, card, names=[s["file"]])
    except BundleError as e:
        msg = str(e).split(" Get a working bundle")[0]
        raise DetectorError(f"The discriminator-feature detector of {bundle.name} cannot be "
                            f"used: {msg} {fix}") from e
    path = Path(bundle.path) / s["file"]
    model = ReadoutModel.from_bytes(path.read_bytes(), where=str(path))
    d_sha = discriminator_sha256(card)
    if model.meta.get("discriminator_sha256") != d_sha:
        raise DetectorError(f"The discriminator-feature detector of {bundle.name} was fitted on "
                            f"another discriminator than the one in the bundle. {fix}")
    return DFeaturesDetector(bundle, model, s)
