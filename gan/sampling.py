"""Turning a bundle's generator into faces: the one code path the app, the CLIs and the
evaluation use, so "same seed, same faces" holds everywhere.

Latent vectors for a seed are drawn row by row from one NumPy stream, so the first k faces of
seed S are the same whether 4 or 64 are asked for (the app relies on that to keep the faces it
already shows when its slider moves). A conditional bundle's labels follow the same rule from a
stream of their own (`label_matrix`): each face gets a label row as the training drew them,
not a value between the classes that no photo has.
"""
from __future__ import annotations

import numpy as np

from gan.card import label_frequencies, label_groups
from gan.data.preprocess import to_uint8


MAX_TRUNCATION = 2.0     # beyond it faces fall apart; the generate page's slider stops at 1.5


def check_truncation(truncation: float) -> float:
    """`truncation` as a float, or ValueError: it must be above 0 and at most MAX_TRUNCATION
    (NaN or infinity would give flat grey faces without a word)."""
    t = float(truncation)
    if not 0 < t <= MAX_TRUNCATION:
        raise ValueError(f"--truncation must be above 0 and at most {MAX_TRUNCATION:g}, not {t:g}")
    return t


def latents(seed: int, n: int, latent_dim: int, truncation: float = 1.0) -> np.ndarray:
    """n latent vectors for `seed`; `truncation` < 1 scales them towards the mean face
    (fewer odd faces, less variety), > 1 away from it."""
    z = np.random.default_rng(int(seed)).standard_normal((int(n), int(latent_dim)))
    return (z * float(truncation)).astype("float32")


def latent_rows(seed: int, start: int, latent_dim: int, truncation: float = 1.0,
                chunk: int = 64):
    """Rows start, start + 1, ... of `latents(seed, ...)`, yielded `chunk` rows at a time
    without holding the rows before `start` (drawn and dropped): one stream, so a shard of a
    long run far into the seed's range gets exactly the rows a whole run would."""
    rng = np.random.default_rng(int(seed))
    skip = int(start)
    while skip > 0:
        rng.standard_normal((min(skip, 1 << 16), int(latent_dim)))
        skip -= min(skip, 1 << 16)
    while True:
        z = rng.standard_normal((int(chunk), int(latent_dim)))
        yield (z * float(truncation)).astype("float32")


# The labels' own stream beside a seed's latents: numpy default_rng([seed, LABEL_SALT]).
LABEL_SALT = 0x1ABE15

Toward = dict[str, tuple[float, float]]   # label -> (end value, fraction of the way there)


def neutral_labels(bundle) -> np.ndarray | None:
    """The label row [K] that says nothing: 0.5 for binary attributes, an even mix for one-hot
    classes. No training photo has it, so faces made at it look worse; it is what a
    discriminator is given when a photo's labels are unknown."""
    names = bundle.label_names
    if not names:
        return None
    row = np.full(len(names), 0.5, dtype="float32")
    for idx in label_groups(bundle.card).values():
        row[idx] = 1.0 / len(idx)
    return row


def label_matrix(bundle, n: int, labels: dict[str, float] | None = None, seed: int | None = None,
                 start: int = 0, toward: Toward | None = None) -> np.ndarray | None:
    """An [n, K] label array for faces start .. start + n - 1 of `seed` (None for an
    unconditional bundle).

    With `seed` and the card's label frequencies, each face's row is drawn from the training
    photos' rows, as often as the training drew them (the photos' counts, or a balanced run's
    draws; given the `labels` named, when photos have those values): face i's row comes from
    number i of the seed's label stream, so it is the same whatever n and start. Without `seed` (or for a card without frequencies) every face
    gets `neutral_labels`. Then `labels` {name: value} set those values on every face (the other
    classes of a one-hot group named share what is left of 1), and `toward` {name: (end, t)}
    moves each face's value t of the way to `end` (the page's sliders: t = 0 keeps the face's
    own labels, t = 1 reaches the end)."""
    names = bundle.label_names
    if not names:
        return None
    labels = {k: float(v) for k, v in (labels or {}).items()}
    toward = dict(toward or {})
    unknown = (set(labels) | set(toward)) - set(names)
    if unknown:
        raise ValueError(f"unknown labels {sorted(unknown)}; this model knows {names}")
    n = int(n)
    freq = label_frequencies(bundle.card) if seed is not None else None
    if freq is None:
        y = np.repeat(neutral_labels(bundle)[None], n, axis=0)
    else:
        rows, counts = freq
        named = [names.index(k) for k in labels]
        if named:           # rows with the named values, when photos have them
            match = np.all(np.abs(rows[:, named] - np.array([labels[names[j]] for j in named],
                                                             np.float32)) < 1e-3, axis=1)
            if match.any():
                rows, counts = rows[match], counts[match]
        rng = np.random.default_rng([int(seed), LABEL_SALT])
        rng.bit_generator.advance(int(start))   # one 64-bit draw per uniform: skips `start` faces
        u = rng.random(n)
        cdf = np.cumsum(counts)
        pick = np.minimum(np.searchsorted(cdf, u * cdf[-1], side="right"), len(rows) - 1)
        y = rows[pick].astype("float32")
    for idx in label_groups(bundle.card).values():
        given = [j for j in idx if names[j] in labels]
        rest = [j for j in idx if names[j] not in labels]
        if given and rest:
            y[:, rest] = max(0.0, 1.0 - sum(labels[names[j]] for j in given)) / len(rest)
    for name, value in labels.items():
        y[:, names.index(name)] = value
    for name, (end, t) in toward.items():
        j = names.index(name)
        y[:, j] = y[:, j] + float(t) * (float(end) - y[:, j])
    return y


def generate_from_latents(bundle, z: np.ndarray, y: np.ndarray | None = None,
                          batch_size: int = 64) -> np.ndarray:
    """uint8 faces [n, R, R, 3] from latent vectors (and labels for a conditional bundle)."""
    out = []
    for i in range(0, len(z), batch_size):
        zb = z[i:i + batch_size]
        inputs = [zb, y[i:i + batch_size]] if bundle.conditional else zb
        if bundle.conditional and y is None:
            raise ValueError("this bundle is conditional: give labels")
        # predict_on_batch: one compiled graph, the same faces as an eager call, faster.
        out.append(to_uint8(np.asarray(bundle.generator.predict_on_batch(inputs))))
    if not out:
        return np.zeros((0, bundle.resolution, bundle.resolution, 3), np.uint8)
    return np.concatenate(out)


def generate(bundle, n: int, seed: int = 0, truncation: float = 1.0,
             labels: dict[str, float] | None = None, batch_size: int = 64,
             toward: Toward | None = None) -> np.ndarray:
    """n uint8 faces for `seed`: the same seed gives the same faces (latents and labels)."""
    z = latents(seed, n, bundle.latent_dim, truncation)
    y = label_matrix(bundle, n, labels, seed=seed, toward=toward)
    return generate_from_latents(bundle, z, y, batch_size)


def slerp(za: np.ndarray, zb: np.ndarray, frames: int) -> np.ndarray:
    """`frames` latents along the spherical path from za to zb (a straight line when they
    point the same way): the path keeps the norm typical of z, where the generator's faces are."""
    za, zb = np.asarray(za, np.float64), np.asarray(zb, np.float64)
    t = np.linspace(0.0, 1.0, int(frames))[:, None]
    cos = np.dot(za, zb) / (np.linalg.norm(za) * np.linalg.norm(zb) + 1e-8)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-4:
        return ((1 - t) * za + t * zb).astype("float32")
    return ((np.sin((1 - t) * omega) * za + np.sin(t * omega) * zb) / np.sin(omega)).astype("float32")


def interpolate(bundle, seed_a: int, seed_b: int, frames: int = 16, truncation: float = 1.0,
                labels: dict[str, float] | None = None,
                z_shift: np.ndarray | None = None, toward: Toward | None = None) -> np.ndarray:
    """Faces along the spherical path between the first face of seed_a and of seed_b, each
    end with its own labels (a conditional bundle's go in a straight line between them);
    `z_shift`, an attribute slider's move in latent space, is added to every frame."""
    za = latents(seed_a, 1, bundle.latent_dim, truncation)[0]
    zb = latents(seed_b, 1, bundle.latent_dim, truncation)[0]
    z = slerp(za, zb, frames)
    if z_shift is not None:
        z = z + np.asarray(z_shift, np.float32)[None]
    y = None
    if bundle.conditional:
        ya = label_matrix(bundle, 1, labels, seed=seed_a, toward=toward)[0]
        yb = label_matrix(bundle, 1, labels, seed=seed_b, toward=toward)[0]
        t = np.linspace(0.0, 1.0, int(frames))[:, None]
        y = ((1 - t) * ya[None] + t * yb[None]).astype("float32")
    return generate_from_latents(bundle, z.astype("float32"), y)


def interpolate_latents(bundle, za: np.ndarray, zb: np.ndarray, frames: int = 16,
                        ya: np.ndarray | None = None, yb: np.ndarray | None = None) -> np.ndarray:
    """Faces from any latent to any other (a projection's to a seed's face, say): z along the
    spherical path, a conditional bundle's labels in a straight line from ya to yb."""
    z = slerp(za, zb, frames)
    y = None
    if bundle.conditional:
        if ya is None or yb is None:
            raise ValueError("this bundle is conditional: give the labels of both ends")
        t = np.linspace(0.0, 1.0, int(frames))[:, None]
        y = ((1 - t) * np.asarray(ya, np.float32)[None] + t * np.asarray(yb, np.float32)[None])
        y = y.astype("float32")
    return generate_from_latents(bundle, z, y)


def variations(z: np.ndarray, n: int, variety: float, seed: int = 0) -> np.ndarray:
    """n latents near z: each sqrt(1 - v^2) z + v e with e ~ N(0, I) and v = `variety` in
    [0, 1], so 0 is z itself and 1 an unrelated face, and a z of the usual norm keeps it (the
    generator draws its best faces there)."""
    v = float(np.clip(variety, 0.0, 1.0))
    e = np.random.default_rng(int(seed)).standard_normal((int(n), len(z)))
    return (np.sqrt(1.0 - v * v) * np.asarray(z, np.float64)[None] + v * e).astype("float32")
