"""Memorisation check: is each generated face new, or a copy of a training photo?

For each of a few hundred generated faces we find its nearest training photo; for held-out
real photos (never trained on) we do the same. Held-out photos show how close a *new* face of
the same population typically comes to some training photo. A generator that copies training
photos puts many of its faces closer than almost any held-out photo comes: we count the
generated faces closer than the 1st percentile of the held-out distances *and* much closer to
that one photo than to the next-nearest (ratio below the held-out 1st percentile too; about
1 % or less of faces when nothing is copied), and flag "possible memorisation" above 5 %.
The second condition matters: a blurry "average face", which early or collapsed GANs make,
sits near the middle of the photos and so close to many of them at once; it is not a copy.

Feature space: the photos downsampled to 32x32 RGB (area averaging), projected on the first
64 principal components of the training photos, compared by Euclidean distance.
- Copies are close in pixels: a memorised GAN face is a near-exact replay of a training
  photo, and pixel distance is what "looks like the same picture" means. Downsampling
  forgives 1-2 px shifts and the GAN's fine artefacts.
- The PCA basis is fitted on training photos only, so directions photos never use (GAN
  checkerboards, noise) are projected away. Without that, every generated face would sit
  farther from all photos than held-out photos do, whatever it copied, and the check would
  be biased towards "no memorisation".
- It is the same for every model and needs nothing downloaded. The bundle's own
  discriminator features were rejected: that network is trained to put generated faces on
  the other side of a boundary from real photos, so in its feature space generated faces are
  systematically far from every training photo (hiding copies), and an untrained or weak
  discriminator's features mean little.
- Training flips photos left-right, so a memorised face may be a mirror image: each training
  photo is compared both ways round.
"""
from __future__ import annotations

import cv2
import numpy as np

FEATURE_PX = 32
PCA_COMPONENTS = 64
PERCENTILE = 1.0            # of held-out distances: "closer than almost any new photo"
FLAG_FRACTION = 0.05        # flag when more generated faces than this are that close


def pixel_features(images: np.ndarray, px: int = FEATURE_PX) -> np.ndarray:
    """uint8 [n, S, S, 3] -> float32 [n, px*px*3] in [0, 1] (area-downsampled)."""
    images = np.asarray(images)
    if images.shape[1] != px:
        images = np.stack([cv2.resize(im, (px, px), interpolation=cv2.INTER_AREA)
                           for im in images]) if len(images) else np.zeros((0, px, px, 3), np.uint8)
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


class FeatureSpace:
    """Downsampled pixels projected on the training photos' principal components."""

    def __init__(self, train_images: np.ndarray, components: int = PCA_COMPONENTS,
                 px: int = FEATURE_PX):
        x = pixel_features(train_images, px)
        self.px = px
        self.mean = x.mean(axis=0)
        k = int(min(components, len(x) - 1, x.shape[1]))
        if k < 1:
            raise ValueError("the memorisation check needs at least 2 training photos")
        from sklearn.decomposition import PCA

        pca = PCA(n_components=k, svd_solver="randomized", random_state=0).fit(x)
        self.explained = float(pca.explained_variance_ratio_.sum())
        self.basis = pca.components_.T.astype(np.float32)
        self.components = k

    def transform(self, images: np.ndarray) -> np.ndarray:
        return (pixel_features(images, self.px) - self.mean) @ self.basis


def two_nearest(queries: np.ndarray, photos: np.ndarray, mirrors: np.ndarray,
                chunk: int = 512) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each query: distance to its nearest photo, the photo's index, whether the mirror
    image matched, and the distance to the second-nearest *other* photo (each photo counts
    once, whichever way round it is nearer)."""
    refs = np.concatenate([photos, mirrors]).astype(np.float64)
    r2 = np.sum(refs ** 2, axis=1)
    n = len(photos)
    d1, d2 = np.empty(len(queries)), np.empty(len(queries))
    idx, flipped = np.empty(len(queries), np.int64), np.empty(len(queries), bool)
    for s in range(0, len(queries), chunk):
        q = queries[s:s + chunk].astype(np.float64)
        d = np.sqrt(np.clip(np.sum(q ** 2, axis=1)[:, None] - 2.0 * q @ refs.T + r2[None, :], 0, None))
        per_photo = np.minimum(d[:, :n], d[:, n:])
        two = np.argpartition(per_photo, 1, axis=1)[:, :2] if n > 1 else np.zeros((len(q), 2), int)
        rows = np.arange(len(q))
        a, b = per_photo[rows, two[:, 0]], per_photo[rows, two[:, 1]]
        first = np.where(a <= b, two[:, 0], two[:, 1])
        d1[s:s + chunk], d2[s:s + chunk] = np.minimum(a, b), np.maximum(a, b)
        idx[s:s + chunk] = first
        flipped[s:s + chunk] = d[rows, n + first] < d[rows, first]
    return d1, idx, flipped, d2


def check(generated: np.ndarray, train: np.ndarray, heldout: np.ndarray,
          percentile: float = PERCENTILE, flag_fraction: float = FLAG_FRACTION) -> dict:
    """Nearest training photo of every generated and every held-out face, and the verdict.

    A generated face counts as a likely copy when both (a) it is closer to its nearest
    training photo than all but `percentile` % of held-out photos are to theirs, and (b) that
    photo stands out: the ratio nearest / second-nearest distance is also below the held-out
    photos' `percentile` % point. (b) keeps a blurry "average face", which sits close to many
    photos at once, from passing for a copy; a copy is close to one photo only.

    Returns the summary figures plus, under "_arrays", the per-face distances and matches
    (`gen_index` into `train`, `gen_flipped`) that the figures need; "_arrays" is not JSON."""
    if len(train) < 2 or len(heldout) < 2 or len(generated) < 1:
        raise ValueError("the memorisation check needs training photos, held-out photos and "
                         "generated faces")
    space = FeatureSpace(train)
    photos, mirrors = space.transform(train), space.transform(train[:, :, ::-1])
    g_dist, g_idx, g_flip, g_second = two_nearest(space.transform(generated), photos, mirrors)
    h_dist, _, _, h_second = two_nearest(space.transform(heldout), photos, mirrors)
    g_ratio = g_dist / np.maximum(g_second, 1e-12)
    h_ratio = h_dist / np.maximum(h_second, 1e-12)
    threshold = float(np.percentile(h_dist, percentile))
    ratio_threshold = float(np.percentile(h_ratio, percentile))
    copies = (g_dist <= threshold) & (g_ratio <= ratio_threshold)
    closer = float(np.mean(copies))
    flag = bool(closer > flag_fraction)
    ratio = float(np.median(g_dist) / max(np.median(h_dist), 1e-12))
    rule = (f"closer to one training photo than {100 - percentile:g}% of new real photos come "
            f"to any (expected about {percentile / 100:.0%} or less)")
    verdict = (f"possible memorisation: {closer:.0%} of generated faces are {rule}" if flag else
               f"no sign of memorisation: {closer:.1%} of generated faces are {rule}")
    return {
        "feature_space": f"{FEATURE_PX}x{FEATURE_PX} RGB pixels, PCA to {space.components} "
                         f"components of the training photos ({space.explained:.0%} of their "
                         f"variance); training photos also mirrored",
        "generated": int(len(generated)), "heldout": int(len(heldout)), "train": int(len(train)),
        "generated_median": float(np.median(g_dist)), "heldout_median": float(np.median(h_dist)),
        "median_ratio": ratio,
        "heldout_percentile": percentile, "threshold": threshold,
        "ratio_threshold": ratio_threshold,
        "fraction_within_threshold": float(np.mean(g_dist <= threshold)),
        "fraction_closer": closer, "likely_copies": int(copies.sum()),
        "flag_fraction": flag_fraction, "memorisation": flag, "verdict": verdict,
        "_arrays": {"gen_dist": g_dist, "heldout_dist": h_dist, "gen_index": g_idx,
                    "gen_flipped": g_flip, "gen_ratio": g_ratio, "heldout_ratio": h_ratio},
    }


def _embeddings(faces: np.ndarray, log=lambda m: None, what: str = "faces") -> np.ndarray:
    """[n, 128] dlib identity vectors, NaN rows where dlib finds no face."""
    from gan.metrics import identity

    out = np.full((len(faces), 128), np.nan, np.float32)
    for i, face in enumerate(faces):
        e = identity.embed(face)
        if e is not None:
            out[i] = e.vector
        if (i + 1) % 1000 == 0:
            log(f"identity: {i + 1} of {len(faces)} {what}")
    return out


def identity_check(generated: np.ndarray, train: np.ndarray, heldout: np.ndarray,
                   flag_fraction: float = FLAG_FRACTION, log=lambda m: None) -> dict:
    """Copying of *people*, not pictures: the share of generated faces within dlib's
    same-person distance (`gan.metrics.identity.SAME_PERSON`) of some training photo, beside
    the same share for held-out photos. Why beside: the held-out photos are new pictures, but
    many of their people are also in the training photos (CelebA splits by photo, not by
    person), so their share is what "new faces of this population" gives; a generator that
    reproduces training people exceeds it. Faces dlib finds no face in are counted apart.
    Flags possible identity copying when the generated share exceeds both `flag_fraction` and
    twice the held-out share, or when more than `flag_fraction` of generated faces are nearer a
    training person than all but PERCENTILE % of held-out photos. Needs dlib
    (`gan.metrics.identity` says what to install); {"skipped": why} when dlib reads no
    training photo (faces too small)."""
    from gan.metrics.identity import SAME_PERSON

    if len(train) < 1 or len(heldout) < 1 or len(generated) < 1:
        raise ValueError("the identity check needs training photos, held-out photos and "
                         "generated faces")
    t = _embeddings(train, log, "training photos")
    t = t[np.all(np.isfinite(t), axis=1)]
    if len(t) == 0:
        return {"skipped": f"dlib found no face in any of the {len(train)} training photos "
                           f"(it needs faces of about 40 px or more)"}
    out = {"threshold": SAME_PERSON, "train": int(len(train)), "train_embedded": int(len(t))}
    dist = {}
    for key, faces in (("generated", generated), ("heldout", heldout)):
        e = _embeddings(faces, log, key)
        ok = np.all(np.isfinite(e), axis=1)
        # two_nearest with the photos as their own mirrors: just the nearest distance
        dist[key] = d = two_nearest(e[ok], t, t)[0] if ok.any() else np.zeros(0)
        within = int((d < SAME_PERSON).sum())
        out[key] = {"faces": int(len(faces)), "embedded": int(ok.sum()), "within": within,
                    "share": within / int(ok.sum()) if ok.any() else None,
                    "median_distance": float(np.median(d)) if len(d) else None}
    g, h = out["generated"]["share"], out["heldout"]["share"]
    # With thousands of training people, most new faces have *someone* within 0.6; closer
    # than almost any held-out photo comes is the sharper sign, as in the pixel check.
    closer = None
    if len(dist["heldout"]) >= 2 and len(dist["generated"]):
        point = float(np.percentile(dist["heldout"], PERCENTILE))
        closer = float(np.mean(dist["generated"] < point))
        out["heldout_percentile_distance"] = point
    out["fraction_closer"] = closer
    flag = ((g is not None and h is not None and g > flag_fraction and g > 2 * h)
            or (closer is not None and closer > flag_fraction))
    out["flag"] = bool(flag)
    share = "-" if g is None else f"{g:.1%}"
    held = "-" if h is None else f"{h:.1%}"
    nearer = "" if closer is None else (
        f"; {closer:.1%} are nearer a training person than {100 - PERCENTILE:g}% of held-out "
        f"photos come (about {PERCENTILE / 100:.0%} expected)")
    out["verdict"] = (f"{'possible copying of training people' if flag else 'no sign of copying people'}: "
                      f"{share} of generated faces are within dlib's same-person distance "
                      f"({SAME_PERSON}) of a training photo, against {held} of held-out photos"
                      f"{nearer}")
    return out
