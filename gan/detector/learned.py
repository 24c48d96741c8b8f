"""The learned detector: the discriminator's layers trained on as a real/generated classifier.

The discriminator-feature detector (`gan.detector.dfeatures`) keeps the discriminator fixed and
fits a linear read-out on its features. Here its convolutions are trained on too, as a
classifier of the landmark-aligned faces of every fit source (real photos against the faces of
several generators), starting from the discriminator's weights: it keeps what the discriminator
knows of generated faces and learns what other generators' faces share. It reads what the
discriminator-feature detector reads (`dfeatures.photo_views`: the aligned face at the bundle's
resolution and its re-encodings), so an upload is prepared once for both.

Training (`train`): batches of half real, half generated faces, every source of a kind drawn
equally often, each face as it is or one of its fit-time variants (size, blur, colour, JPEG:
`gan.detector.variants`), mirrored half the time; only the fit half of each source (by file-name
hash, `loso.SourceData.calib_mask`). Platt calibration on the other half, as every detector here.

Measured leave-sources-out in folds (`leave_folds_out`): one training takes minutes, so the
sources are split into FOLDS folds and each source is scored by the model trained without its
fold. Members of a family go to different folds where the family has no more members than there
are folds (`folds`), so "family seen" means what it means in the one-source-out table. The
verdict rule is then chosen on those scores like every other detector's (`loso.choose_rule`).

Its unfamiliar-photo check (`FeatureOOD`) reads the same forward pass: each channel's mean over
the last feature map, a photo unlike every fit source by `gan.detector.ood`'s distance. Fitted
per fold like the score, so the table's "unfamiliar" counts are of sources the check never saw.
Why these features: of the three checks tried for the panel, this one costs no second pass and
flagged almost no real photo of sources never used, while the texture check flagged a fifth of
one; like the others it does not flag a dithered face (docs/detector.md, "An unfamiliar-photo
check for the panel").

Stored as `detection/learned.npz` (weights, `kerasmodels.to_bytes`) and `OOD_FILE` by `python -m gan.detector
fit --learned-steps N`. Fit time
trains it; scoring needs Keras alone.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

from gan.detector import kerasmodels
from gan.detector.forensic import DetectorError

FILE = "detection/learned.npz"
LEGACY_FILE = "detection/learned.keras"     # bundles fitted before weights-only storage
OOD_FILE = "detection/learned_ood.npz"      # its unfamiliar-photo check (absent before 2026-12-07)
KEY = "learned"
STEPS = 4000
BATCH = 64
LEARNING_RATE = 1e-4
FOLDS = 4
DROPOUT = 0.4
FIX = "Refit it: `python -m gan.detector fit --model {model} --sources SOURCES.json`."


class LearnError(ValueError):
    """Training cannot start (no fit photos of a kind); the message says what is missing."""


def build(discriminator):
    """A copy of the discriminator's image layers with a new head: image -> logit (high =
    generated). A conditional discriminator's labels are left out: an upload has none."""
    import keras

    _, x, h = kerasmodels.image_features(discriminator)
    h = keras.layers.Dropout(DROPOUT)(h)
    return keras.Model(x, keras.layers.Dense(1, name="generated_logit", dtype="float32")(h),
                       name="learned")


def scores(model, faces_uint8: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Raw scores [n] (the logit: higher = generated) of prepared faces [n, R, R, 3] uint8."""
    return scores_and_features(model, faces_uint8, batch_size)[0]


_BOTH: list[tuple] = []          # the last few models' two-output copies (a fit has five)


def _both(model):
    """(a model giving the logit and the flattened last feature map in one pass, its channel
    count), made once per model (for the last few models used)."""
    import keras

    for kept in _BOTH:
        if kept[0] is model:
            return kept[1:]
    drop = next(layer for layer in model.layers if isinstance(layer, keras.layers.Dropout))
    inner = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    channels = int(inner.get_layer("features").input.shape[-1])
    _BOTH.insert(0, (model, keras.Model(model.inputs, [model.outputs[0], drop.input]), channels))
    del _BOTH[8:]
    return _BOTH[0][1:]


def scores_and_features(model, faces_uint8: np.ndarray, batch_size: int = 64):
    """(raw scores [n], features [n, C]: each channel's mean over the last feature map) of
    prepared faces [n, R, R, 3] uint8, from one forward pass."""
    from gan.data.preprocess import to_model_input

    both, channels = _both(model)
    logits, feats = [], []
    for i in range(0, len(faces_uint8), batch_size):
        out, flat = both.predict_on_batch(to_model_input(faces_uint8[i:i + batch_size]))
        logits.append(np.asarray(out, np.float64).reshape(-1))
        flat = np.asarray(flat, np.float64)
        feats.append(flat.reshape(len(flat), -1, channels).mean(axis=1))
    if not logits:
        return np.zeros((0,), np.float64), np.zeros((0, channels), np.float64)
    return np.concatenate(logits), np.concatenate(feats)


def features(model, faces_uint8: np.ndarray, batch_size: int = 64) -> np.ndarray:
    return scores_and_features(model, faces_uint8, batch_size)[1]


@dataclasses.dataclass
class FeatureOOD:
    """The unfamiliar-photo check on the model's features (see the module docstring):
    `unfamiliar` of flattened faces, as `loso` and the report call a fitted detector's check."""
    model: object
    size: int
    mean: np.ndarray
    scale: np.ndarray
    check: object               # ood.OOD on `standardise`d features

    def standardise(self, F: np.ndarray) -> np.ndarray:
        return (np.asarray(F, np.float64) - self.mean) / self.scale

    def unfamiliar_faces(self, faces_uint8: np.ndarray) -> np.ndarray:
        faces = np.asarray(faces_uint8, np.uint8)
        if not len(faces):
            return np.zeros(0, bool)
        return self.check.unfamiliar(features(self.model, faces))

    def unfamiliar(self, X: np.ndarray) -> np.ndarray:
        return self.unfamiliar_faces(np.asarray(X, np.uint8).reshape(-1, self.size, self.size, 3))

    def to_bytes(self) -> bytes:
        import io

        buf = io.BytesIO()
        np.savez(buf, mean=self.mean, scale=self.scale, **self.check.arrays())
        return buf.getvalue()


def fit_ood(model, sets, size: int) -> FeatureOOD:
    """The check of `model`: centres and spread from each source's fit half, the limit from its
    calibration half (`gan.detector.ood.fit`), features standardised on the fit halves."""
    from gan.detector import ood

    def faces(s, calib: bool):
        m = s.data.found & (s.calib_mask if calib else ~s.calib_mask)
        return s.data.X[m].reshape(-1, size, size, 3)

    fit_f = [features(model, faces(s, False)) for s in sets]
    held_f = [features(model, faces(s, True)) for s in sets]
    allf = np.concatenate([f for f in fit_f if len(f)])
    out = FeatureOOD(model, size, allf.mean(axis=0), allf.std(axis=0) + 1e-6, None)
    out.check = ood.fit(out.standardise, fit_f, held_f)
    return out


class Scorer:
    """The app's learned detector: `raw` of faces, and `unfamiliar` of faces it scored last
    read from that same pass (a judge asks for every view's score, then the check of the
    photos as they are), so the check costs no second pass. Faces are matched by their bytes:
    a face not among the last scored (another thread's, another batch) is passed again."""

    def __init__(self, model, check: "FeatureOOD | None"):
        self.model, self.check = model, check
        self._last: tuple[dict, np.ndarray] | None = None

    def raw(self, faces_uint8: np.ndarray) -> np.ndarray:
        faces = np.ascontiguousarray(faces_uint8, np.uint8)
        s, f = scores_and_features(self.model, faces)
        if self.check is not None:
            self._last = ({faces[i].tobytes(): i for i in range(len(faces))}, f)
        return s

    def unfamiliar(self, faces_uint8: np.ndarray) -> np.ndarray:
        faces = np.ascontiguousarray(faces_uint8, np.uint8)
        if self.check is None or not len(faces):
            return np.zeros(len(faces), bool)
        last = self._last
        at = [None if last is None else last[0].get(face.tobytes()) for face in faces]
        if any(i is None for i in at):
            return self.check.unfamiliar_faces(faces)
        return self.check.check.unfamiliar(last[1][at])


def ood_from_bytes(data: bytes, model, size: int, where: str) -> FeatureOOD:
    """A stored check; DetectorError when the file is damaged or not of this model."""
    import io

    from gan.detector import ood

    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        mean = np.asarray(arrays["mean"], np.float64)
        scale = np.asarray(arrays["scale"], np.float64)
        channels = _both(model)[1]
        if mean.shape != (channels,) or scale.shape != (channels,) or np.any(scale <= 0):
            raise ValueError(f"it is not of this model's {channels} features")
        out = FeatureOOD(model, size, mean, scale, None)
        out.check = check = ood.from_arrays(arrays, out.standardise)
        if check.centres.shape[1] != channels or not all(
                np.all(np.isfinite(a)) for a in (check.centres, check.precision, check.limit)):
            raise ValueError("its arrays are damaged")
    except Exception as e:  # noqa: BLE001 - any failure to parse is a damaged file
        raise DetectorError(f"{where} cannot be read ({type(e).__name__}: {e}).") from e
    return out


@dataclasses.dataclass
class Readout:
    """A trained model as `gan.detector.loso` reads a classifier: decision() of flattened
    faces (rows of `collections.describe_views`) -> raw score."""
    model: object
    size: int

    def decision(self, X: np.ndarray) -> np.ndarray:
        return scores(self.model, np.asarray(X, np.uint8).reshape(-1, self.size, self.size, 3))


def _pools(sets, size: int) -> dict[int, list[np.ndarray]]:
    """{label: [faces of one source's fit half, [n, views, R, R, 3]]}: as is and fit variants."""
    pools: dict[int, list[np.ndarray]] = {0: [], 1: []}
    for s in sets:
        d = s.data
        m = d.found & ~s.calib_mask
        if m.any():
            faces = np.concatenate([d.X[m][:, None], d.A[m]], axis=1)
            pools[s.source.label].append(faces.reshape(int(m.sum()), -1, size, size, 3))
    return pools


def train(discriminator, sets, size: int, steps: int = STEPS, seed: int = 0, batch: int = BATCH,
          learning_rate: float = LEARNING_RATE, log=lambda m: None, progress: Path | None = None):
    """The classifier trained for `steps` batches on the fit halves of `sets`
    (`loso.SourceData` of `collections.describe_views`); mid-way state kept at `progress`
    (`kerasmodels.resumable_steps`)."""
    import keras

    pools = _pools(sets, size)
    for label, kind in ((0, "real"), (1, "generated")):
        if not pools[label]:
            raise LearnError(f"the learned detector needs {kind} photos with a face to train on")
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model = kerasmodels.trainable(build(discriminator))
    train_step = kerasmodels.train_step(model, learning_rate)
    half = max(1, batch // 2)
    targets = np.r_[np.zeros(half), np.ones(half)].astype(np.float32)[:, None]

    def draw(pool_list):
        out = []
        for p in (pool_list[i] for i in rng.integers(len(pool_list), size=half)):
            out.append(p[rng.integers(len(p)), rng.integers(p.shape[1])])
        return out

    for step in kerasmodels.resumable_steps(steps, train_step, rng, progress, log):
        value = train_step(np.stack(draw(pools[0]) + draw(pools[1])), targets, rng)
        if step % 250 == 0 or step == steps:
            log(f"learned detector: step {step}/{steps}, loss {value:.3f}")
    return model


def _cache_file(cache_dir, discriminator, sets, size: int, steps: int) -> Path | None:
    """Where a training on exactly these faces (their pixels, not only their file names: a
    change in framing or variants trains anew), from exactly these weights, is kept: a refit
    that only adds a detector or a report does not train the folds again."""
    if cache_dir is None:
        return None
    h = hashlib.sha1(json.dumps([3, size, steps, BATCH, LEARNING_RATE, DROPOUT,
                                 [[s.source.name, s.source.kind, s.data.files] for s in sets]]).encode())
    for s in sets:
        for part in (s.data.found, s.data.X, s.data.A):
            h.update(np.ascontiguousarray(part).tobytes())
    for w in discriminator.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return Path(cache_dir) / f"learned-{h.hexdigest()[:16]}.npz"


def trained(discriminator, sets, size: int, steps: int = STEPS, cache_dir=None,
            log=lambda m: None):
    """`train`, or the model a training with the same inputs left in `cache_dir`."""
    return kerasmodels.stored_or_trained(
        _cache_file(cache_dir, discriminator, sets, size, steps), lambda: build(discriminator),
        lambda progress: train(discriminator, sets, size, steps, log=log, progress=progress), log,
        "learned detector: trained model")[1]


def fit(discriminator, sets, size: int, steps: int = STEPS, log=lambda m: None, cache_dir=None):
    """A `loso.Fitted`: trained on the fit halves, Platt-calibrated on the calib halves, with
    its unfamiliar-photo check (`fit_ood`)."""
    from gan.detector import calibrate, loso

    readout = Readout(trained(discriminator, sets, size, steps, cache_dir, log), size)
    Xc, yc, wc = loso.fit_rows(sets, "calib", use_variants=False)
    a, b = calibrate.platt_fit(readout.decision(Xc), yc, weights=wc * len(wc))
    return loso.Fitted(readout, {"method": "platt", "a": a, "b": b, "input": "score"},
                       fit_ood(readout.model, sets, size))


def folds(sources, k: int = FOLDS) -> list[int]:
    """The fold of each source: each kind dealt round the folds in turn (sorted by family, so
    a family's members land in different folds), the second kind carrying on where the first
    stopped, so folds hold about as many sources of each kind."""
    order = sorted(range(len(sources)),
                   key=lambda i: (sources[i].kind != "real", sources[i].family, sources[i].name))
    out = [0] * len(sources)
    for turn, i in enumerate(order):
        out[i] = turn % k
    return out


def leave_folds_out(discriminator, sets, size: int, k: int = FOLDS, steps: int = STEPS,
                    log=lambda m: None, cache_dir=None):
    """[loso.LeftOut] in the order of `sets`: each source scored by the model trained and
    calibrated without its fold (and the thumbnail control fitted on the same sources)."""
    from gan.detector import loso

    fold_of = folds([s.source for s in sets], k)
    out: dict[int, object] = {}
    for f in sorted(set(fold_of)):
        held = [i for i, g in enumerate(fold_of) if g == f]
        rest = [s for i, s in enumerate(sets) if i not in held]
        log(f"learned detector: training without {', '.join(sets[i].source.name for i in held)} "
            f"(fold {f + 1}/{len(set(fold_of))})")
        fitted = fit(discriminator, rest, size, steps, log=log, cache_dir=cache_dir)
        thumb = loso.fit(rest, thumbs=True)
        for i in held:
            out[i] = loso.left_out(sets[i], rest, fitted, thumb)
    return [out[i] for i in range(len(sets))]


def settings(card: dict) -> dict | None:
    s = (card.get("detector") or {}).get(KEY)
    return s if isinstance(s, dict) and s.get("file") else None


def load(bundle):
    """The bundle's learned detector model, checked against the card. Raises DetectorError
    saying what is wrong."""
    s = settings(bundle.card)
    fix = FIX.format(model=bundle.path)
    if s is None:
        raise DetectorError(f"{bundle.name} has no learned detector. {fix}")
    return kerasmodels.load(bundle, s["file"], "learned detector", fix, build)


def load_ood(bundle, model) -> FeatureOOD | None:
    """The bundle's stored unfamiliar-photo check of `model` (its learned detector), checked
    against the card; None for a card fitted before the check existed. Raises DetectorError."""
    from gan.bundle import BundleError, verify_files

    name = (settings(bundle.card) or {}).get("ood_file")
    if not name:
        return None
    cache = bundle.__dict__.setdefault("_learned_ood", {})
    key = (name, (bundle.card.get("files", {}).get(name) or {}).get("sha256"), id(model))
    if key not in cache:
        what = f"The learned detector's unfamiliar-photo check of {bundle.name}"
        fix = FIX.format(model=bundle.path)
        try:
            verify_files(bundle.path, bundle.card, names=[name])
            cache[key] = ood_from_bytes((Path(bundle.path) / name).read_bytes(), model,
                                        bundle.resolution, f"{what} ({name})")
        except BundleError as e:
            cache[key] = DetectorError(f"{what} cannot be used: "
                                       f"{str(e).split(' Get a working bundle')[0]} {fix}")
        except DetectorError as e:
            cache[key] = DetectorError(f"{e} {fix}")
    if isinstance(cache[key], Exception):
        raise cache[key]
    return cache[key]
