"""The photo sources the forensic detector is fitted and measured on, and what it sees of each.

A source is one collection of real photos or one generator's faces (a folder, or several),
named in a manifest (JSON: a list of objects):

    {"name": "lfw", "kind": "real", "origin": "LFW", "path": "/data/lfw",
     "provenance": "github Rees451/faces-fake-vs-real data/raw/LFW_faceswap/real"}

`paths` (a list, globs allowed) may replace `path`; `family` groups generated sources of one
generator family (two FaceGAN truncations, two StyleGAN crawls), so a left-out source can be
reported as a new collection of a known generator or as a generator never seen. Data stays
outside the repository; the card lists every source with its counts.

Each source is sampled by a hash of the file's path inside it (never by load order), and each
photo is described once (`describe`) and cached, keyed by the file list and the feature and
variant versions: the texture features of the photo as it is, of its re-encodings (the verdict's
check) and of the fit-time variants, its 8x8 thumbnail (the shortcut control), and which face
finder found the face.
"""
from __future__ import annotations

import glob
import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gan.bundle import discriminator_sha256
from gan.data.landmarks import FINDERS, FINDERS_BEFORE_MTCNN, find_face
from gan.data.preprocess import ImageError, open_image
from gan.data.sources import IMAGE_EXTENSIONS
from gan.detector import texture, variants
from gan.detector.forensic import DRAFT_SIDE, face_features
from gan.images import rgb_array

KINDS = ("real", "generated")
FIT_VARIANTS = 3                # fit-time variants described per photo
DESCRIBE_VERSION = 1            # bump when every description changes what it stores
TEXTURE_ROWS_VERSION = 2        # `describe`'s rows; 2: faces too small to read are rows


class ManifestError(ValueError):
    """The sources manifest is missing, malformed or names folders without photos."""


@dataclass
class Source:
    name: str
    kind: str                   # "real" or "generated"
    origin: str
    family: str                 # generator family / collection; sources sharing it are related
    folders: list[Path]
    provenance: str = ""
    files: list[Path] = field(default_factory=list, repr=False)

    @property
    def label(self) -> int:
        return int(self.kind == "generated")

    def sample(self, n: int | None, seed: int = 0) -> list[Path]:
        """Up to `n` files chosen by a hash of their path inside the source (all when None)."""
        def key(f: Path) -> str:
            rel = next((str(f.relative_to(d)) for d in self.folders if f.is_relative_to(d)), f.name)
            return hashlib.sha1(f"{seed}:{rel}".encode()).hexdigest()
        ranked = sorted(self.files, key=key)
        return ranked if n is None else ranked[:n]


def _files(folders: list[Path]) -> list[Path]:
    out = []
    for d in folders:
        out += [f for f in d.rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS and f.is_file()]
    return sorted(set(out))


def load_manifest(path: str | Path) -> list[Source]:
    """Sources of a manifest file, each with its photo files; ManifestError says what is wrong."""
    path = Path(path)
    try:
        entries = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"no sources manifest at {path}") from None
    except (OSError, ValueError) as e:
        raise ManifestError(f"{path} is not a readable JSON file ({e})") from None
    if not isinstance(entries, list) or not entries:
        raise ManifestError(f"{path} must hold a non-empty JSON list of sources")
    sources, seen = [], set()
    for i, e in enumerate(entries):
        where = f"{path}, entry {i + 1}"
        if not isinstance(e, dict):
            raise ManifestError(f"{where} is not an object")
        name, kind = e.get("name"), e.get("kind")
        if not isinstance(name, str) or not name or name in seen:
            raise ManifestError(f"{where}: 'name' must be a new, non-empty string (got {name!r})")
        if kind not in KINDS:
            raise ManifestError(f"{where} ({name}): 'kind' must be 'real' or 'generated', not {kind!r}")
        raw = e.get("paths", [e["path"]] if "path" in e else None)
        if not isinstance(raw, list) or not raw or not all(isinstance(p, str) for p in raw):
            raise ManifestError(f"{where} ({name}): give 'path' (a folder) or 'paths' (a list)")
        folders = []
        for p in raw:
            hits = sorted(glob.glob(str(Path(p).expanduser()))) if any(c in p for c in "*?[") else [p]
            folders += [Path(h) for h in hits if Path(h).is_dir()]
        src = Source(name=name, kind=kind, origin=str(e.get("origin") or name),
                     family=str(e.get("family") or e.get("origin") or name), folders=folders,
                     provenance=str(e.get("provenance") or ""))
        src.files = _files(folders)
        if not src.files:
            raise ManifestError(f"{where} ({name}): no photos in {', '.join(raw)}")
        seen.add(name)
        sources.append(src)
    return sources


# --------------------------------------------------------------------------- description


@dataclass
class Described:
    """What the detector sees of a set of photos (rows in file order; photos without a face
    are kept with found False and NaN features, a face too small to read with found True and
    NaN features; files that cannot be read are left out)."""
    files: list[str]
    found: np.ndarray           # bool [n]
    finder: list[str]           # one of gan.data.landmarks.ALL_FINDERS, or "" (none)
    X: np.ndarray               # float32 [n, D]: the photo as it is
    R: np.ndarray               # float32 [n, len(REENCODINGS), D]: its re-encodings
    A: np.ndarray               # float32 [n, FIT_VARIANTS, D]: fit-time variants
    T: np.ndarray               # float32 [n, 192]: 8x8 thumbnails (the shortcut control)

    def __len__(self) -> int:
        return len(self.files)

    def subset(self, mask: np.ndarray) -> "Described":
        idx = np.flatnonzero(mask)
        return Described([self.files[i] for i in idx], self.found[idx],
                         [self.finder[i] for i in idx], self.X[idx], self.R[idx], self.A[idx],
                         self.T[idx])


def _stamps(names: list[str]) -> np.ndarray:
    """[n, 20] uint8: a digest of each file's bytes (zeros for a file that cannot be read). A
    description is kept under a key of the files' names, so a file written anew under the same
    name (a generator's faces made again for a new model) must not be read from it; contents,
    not modification times, because a collection copied in again keeps its photos."""
    out = np.zeros((len(names), 20), np.uint8)
    for i, name in enumerate(names):
        try:
            with open(name, "rb") as f:
                out[i] = np.frombuffer(hashlib.file_digest(f, "sha1").digest(), np.uint8)
        except OSError:
            continue
    return out


def _read_cache(path: Path | None, stamps: np.ndarray | None) -> Described | None:
    """The kept description, or None when there is none, it is damaged, or any file has
    changed since it was made (or it was made before descriptions kept the files' stamps)."""
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if "stamps" not in z.files or not np.array_equal(z["stamps"], stamps):
                return None
            return Described(list(z["files"]), z["found"], list(z["finder"]), z["X"], z["R"],
                             z["A"], z["T"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def _write_cache(path: Path, d: Described, stamps: np.ndarray) -> None:
    """Written under a temporary name, then renamed: a stopped fit never leaves half a cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, files=np.array(d.files), found=d.found, finder=np.array(d.finder),
             X=d.X, R=d.R, A=d.A, T=d.T, stamps=stamps)
    tmp.replace(path)


def _finders_key() -> list:
    """Part of the cache keys of descriptions of landmark-framed faces: which face finders
    framed them (empty for the finders of the caches made before MTCNN joined, so those
    caches stay valid for them)."""
    return [] if FINDERS == FINDERS_BEFORE_MTCNN else [list(FINDERS)]


def _seed(file: str) -> int:
    return int(hashlib.sha1(file.encode()).hexdigest()[:8], 16)


def describe_one(file: str, n_variants: int = FIT_VARIANTS):
    """(found, finder, x, r, a, t) of one photo; None when it cannot be read. A face too small
    to read is kept (found, NaN features), so the figures can count it."""
    try:
        img = open_image(file, draft_side=DRAFT_SIDE)   # as an upload is opened
    except ImageError:
        return None
    rgb = np.asarray(img)
    face = find_face(rgb)
    dim = texture.DIM
    nan = np.full(dim, np.nan, np.float32)
    if face is None:
        return False, "", nan, np.stack([nan] * len(variants.REENCODINGS)), \
            np.stack([nan] * n_variants), np.full(192, np.nan, np.float32)
    region, views = face_features(img, rgb, face)
    if region is None:
        return True, face.finder, nan, np.stack([nan] * len(variants.REENCODINGS)), \
            np.stack([nan] * n_variants), np.full(192, np.nan, np.float32)
    x, r = views[0], views[1:]
    rng = np.random.default_rng(_seed(Path(file).name))
    side = float(region.shape[0])
    a = []
    for _ in range(n_variants):
        v, s = variants.fit_variant(img, side, rng)
        reg = texture.face_square(np.asarray(v), face, s)
        a.append(nan if reg is None else texture.texture_features(reg))
    return True, face.finder, x, r, np.stack(a), texture.thumbnail(region)


def describe(files: list[Path], cache_dir: Path | None = None, jobs: int = 2,
             log=lambda m: None) -> Described:
    """Every file described (see the module docstring), from the cache when it is there."""
    names = [str(f) for f in files]
    key = hashlib.sha1(json.dumps([DESCRIBE_VERSION, TEXTURE_ROWS_VERSION, texture.TEXTURE_VERSION,
                                   FIT_VARIANTS, *_finders_key(), names]).encode()).hexdigest()[:16]
    cached = Path(cache_dir) / f"described-{key}.npz" if cache_dir else None
    stamps = _stamps(names) if cached is not None else None
    if (kept_before := _read_cache(cached, stamps)) is not None:
        return kept_before
    from joblib import Parallel, delayed

    rows = Parallel(n_jobs=jobs, batch_size=16)(delayed(describe_one)(f) for f in names)
    kept = [(f, r) for f, r in zip(names, rows) if r is not None]
    if len(kept) < len(names):
        log(f"{len(names) - len(kept)} of {len(names)} files could not be read")
    d = Described([f for f, _ in kept], np.array([r[0] for _, r in kept], bool),
                  [r[1] for _, r in kept],
                  np.stack([r[2] for _, r in kept]) if kept else np.zeros((0, texture.DIM), np.float32),
                  np.stack([r[3] for _, r in kept]) if kept else np.zeros((0, 2, texture.DIM), np.float32),
                  np.stack([r[4] for _, r in kept]) if kept else np.zeros((0, FIT_VARIANTS, texture.DIM), np.float32),
                  np.stack([r[5] for _, r in kept]) if kept else np.zeros((0, 192), np.float32))
    if cached is not None:
        _write_cache(cached, d, stamps)
    return d


def _discriminator_one(file: str, bundle_size: int, crop: str):
    from types import SimpleNamespace

    from gan.data.preprocess import DRAFT_FACTOR
    from gan.detector.stored import discriminator_views

    try:
        img = open_image(file, draft_side=DRAFT_FACTOR * bundle_size)
    except ImageError:
        return None
    _, views, found = discriminator_views(SimpleNamespace(crop=crop, resolution=bundle_size), img)
    return bool(found) if found is not None else True, views


def describe_discriminator(files: list[Path], bundle, cache_dir: Path | None = None, jobs: int = 2,
                           log=lambda m: None, scorer=None) -> Described:
    """The discriminator's view of the same photos, in the same shape as `describe` (one
    feature: its raw score), so the same leave-one-source-out protocol measures it: its crop
    of the photo as it is (X) and of each re-encoding (R); no fit variants (nothing is fitted
    but its calibration). `scorer`: (an identity for the cache, views -> raw scores) to score
    with instead of the bundle's discriminator (the trained-on one, `gan.detector.tuned`)."""
    from gan.detector.stored import discriminator_scores

    names = [str(f) for f in files]
    d_sha = discriminator_sha256(bundle.card) if scorer is None else scorer[0]
    score = (lambda x: discriminator_scores(bundle, x)) if scorer is None else scorer[1]
    key = hashlib.sha1(json.dumps([DESCRIBE_VERSION, "discriminator", d_sha, bundle.crop,
                                   names]).encode()).hexdigest()[:16]
    cached = Path(cache_dir) / f"discriminator-{key}.npz" if cache_dir else None
    stamps = _stamps(names) if cached is not None else None
    if (kept_before := _read_cache(cached, stamps)) is not None:
        return kept_before
    from joblib import Parallel, delayed

    rows = Parallel(n_jobs=jobs, batch_size=16)(
        delayed(_discriminator_one)(f, bundle.resolution, bundle.crop) for f in names)
    kept = [(f, r) for f, r in zip(names, rows) if r is not None]
    views = np.stack([r[1] for _, r in kept]) if kept else np.zeros((0, 3, bundle.resolution, bundle.resolution, 3), np.uint8)
    n, k = views.shape[:2]
    scores = score(views.reshape(n * k, *views.shape[2:])).reshape(n, k)
    d = Described([f for f, _ in kept], np.array([r[0] for _, r in kept], bool),
                  ["haar" if r[0] else "" for _, r in kept],
                  scores[:, :1].astype(np.float32), scores[:, 1:, None].astype(np.float32),
                  np.zeros((n, 0, 1), np.float32),
                  np.stack([texture.thumbnail(v[0]) for v in views]) if n else np.zeros((0, 192), np.float32))
    if cached is not None:
        _write_cache(cached, d, stamps)
    return d


DFEATURE_VARIANTS = 2           # fit-time variants per photo for the discriminator-feature detector


def _dfeature_views_one(file: str, size: int, n_variants: int):
    """(found, finder, views [1 + len(REENCODINGS) + n_variants, size, size, 3] or None)."""
    from gan.detector import dfeatures

    try:
        img = open_image(file, draft_side=dfeatures.DRAFT_SIDE)    # as an upload is opened
    except ImageError:
        return None
    face = find_face(rgb_array(img))
    if face is None:
        return False, "", None
    views = dfeatures.photo_views(img, size, face=face)[1]
    rng = np.random.default_rng(_seed(Path(file).name))
    return True, face.finder, np.concatenate([views, dfeatures.fit_views(img, face, n_variants, rng, size)])


def describe_views(files: list[Path], size: int, cache_dir: Path | None = None, jobs: int = 2,
                   log=lambda m: None) -> Described:
    """The landmark-aligned faces themselves at `size` px, in `describe`'s shape: each row a
    flattened uint8 face (zeros where no face was found), X as it is, R its re-encodings, A
    DFEATURE_VARIANTS fit-time variants, T the 8x8 thumbnail. The discriminator-feature
    detector turns them into features; the learned detector reads them as they are."""
    names = [str(f) for f in files]
    key = hashlib.sha1(json.dumps([DESCRIBE_VERSION, "views", size, DFEATURE_VARIANTS,
                                   *_finders_key(), names]).encode()).hexdigest()[:16]
    cached = Path(cache_dir) / f"views-{key}.npz" if cache_dir else None
    stamps = _stamps(names) if cached is not None else None
    if (kept_before := _read_cache(cached, stamps)) is not None:
        return kept_before
    from joblib import Parallel, delayed

    rows = Parallel(n_jobs=jobs, batch_size=16)(
        delayed(_dfeature_views_one)(f, size, DFEATURE_VARIANTS) for f in names)
    kept = [(f, r) for f, r in zip(names, rows) if r is not None]
    if len(kept) < len(names):
        log(f"{len(names) - len(kept)} of {len(names)} files could not be read")
    k = 1 + len(variants.REENCODINGS)
    V = np.zeros((len(kept), k + DFEATURE_VARIANTS, size * size * 3), np.uint8)
    thumbs = np.full((len(kept), 192), np.nan, np.float32)
    for i, (_, r) in enumerate(kept):
        if r[2] is not None:
            V[i] = r[2].reshape(len(V[i]), -1)
            thumbs[i] = texture.thumbnail(r[2][0])
    d = Described([f for f, _ in kept], np.array([r[0] for _, r in kept], bool),
                  [r[1] for _, r in kept], V[:, 0], V[:, 1:k], V[:, k:], thumbs)
    if cached is not None:
        _write_cache(cached, d, stamps)
    return d


def faces_of(d: Described, size: int) -> np.ndarray:
    """[n, 1 + len(REENCODINGS) + DFEATURE_VARIANTS, size, size, 3] uint8: every view of the
    photos of `describe_views`."""
    return np.concatenate([d.X[:, None], d.R, d.A], axis=1).reshape(len(d), -1, size, size, 3)


def describe_dfeatures(files: list[Path], bundle, cache_dir: Path | None = None, jobs: int = 2,
                       log=lambda m: None) -> Described:
    """What the discriminator-feature detector sees of the photos, in `describe`'s shape: the
    features of the landmark-aligned face as it is (X), of its re-encodings (R) and of
    DFEATURE_VARIANTS fit-time variants (A), and the 8x8 thumbnail of that face (T)."""
    from gan.detector import dfeatures

    names = [str(f) for f in files]
    d_sha = discriminator_sha256(bundle.card)
    key = hashlib.sha1(json.dumps([DESCRIBE_VERSION, "dfeatures", d_sha, DFEATURE_VARIANTS,
                                   *_finders_key(), names]).encode()).hexdigest()[:16]
    cached = Path(cache_dir) / f"dfeatures-{key}.npz" if cache_dir else None
    stamps = _stamps(names) if cached is not None else None
    if (kept_before := _read_cache(cached, stamps)) is not None:
        return kept_before
    size = bundle.resolution
    v = describe_views(files, size, cache_dir, jobs=jobs, log=log)
    faces = faces_of(v, size)[v.found]
    n_views = faces.shape[1] if len(faces) else 1
    F = dfeatures.features(bundle, faces.reshape(-1, size, size, 3)) if len(faces) else None
    dim = F.shape[1] if F is not None else 1
    out = np.full((len(v), n_views, dim), np.nan, np.float32)
    if F is not None:
        out[v.found] = F.reshape(len(faces), n_views, dim)
    k = 1 + len(variants.REENCODINGS)
    d = Described(v.files, v.found, v.finder, out[:, 0], out[:, 1:k], out[:, k:], v.T)
    if cached is not None:
        _write_cache(cached, d, stamps)
    return d
