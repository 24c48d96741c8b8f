"""Where face photos come from: source detection, file listing and raw labels.

A *source* is a folder or a ``.zip`` of one (read in place, never unpacked), holding
image files (searched recursively: jpg, jpeg, png, webp, bmp) and, optionally, labels:

* ``celeba``  -- ``list_attr_celeba.txt`` (40 attributes, -1/1) in the folder or beside it;
* ``csv``     -- a CSV ``image,<label>,<label>...`` in the folder or beside it
  (e.g. ``celeba-5k/labels.csv`` + ``celeba-5k/img/``);
* ``utkface`` -- UTKFace names ``AGE_GENDER_RACE_DATE...jpg`` give age, gender, race (and
  ``age_group``, the age in the bands of ``AGE_EDGES``);
* ``folder`` / ``zip`` -- no label file: the top-level subfolder is the ``class`` label.

:func:`detect_source` returns a :class:`Source`: the image items (stable keys and
file identities for the cache) and the raw labels per image key. Encoding the labels
as model conditioning vectors is :func:`gan.data.dataset.encode_labels`' job.
"""

from __future__ import annotations

import csv
import io
import os
import posixpath
import re
import stat
import zipfile
from dataclasses import dataclass, field

from .preprocess import read_file_bytes

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
CELEBA_ATTR_FILE = "list_attr_celeba.txt"
# First CSV column names accepted as "the image file" column.
CSV_IMAGE_COLUMNS = ("image", "image_id", "img", "file", "filename", "file_name", "path", "name")
# Fraction of the images whose names must parse as UTKFace names to read them as such.
UTKFACE_MIN_FRACTION = 0.9
UTKFACE_GENDERS = ("male", "female")  # 0, 1 in the file name
UTKFACE_RACES = ("white", "black", "asian", "indian", "other")  # 0..4
# Numeric labels are scaled to about [0, 1]: UTKFace age by this fixed divisor.
UTKFACE_AGE_SCALE = 100.0
MISSING_VALUES = ("", "na", "n/a", "nan", "none", "null", "?")
# Age groups: a band starts at each edge (0-9, 10-29, 30-49, 50+). The one definition of the
# bands, used by UTKFace's `age_group` label and by `python -m gan.data groups`; docs/groups.md
# has the counts per band that chose them.
AGE_EDGES = (10, 30, 50)


def age_band_names(edges=AGE_EDGES) -> list:
    """The bands' names in age order: (10, 30, 50) -> ["0-9", "10-29", "30-49", "50+"]."""
    edges = [int(e) for e in edges]
    if not edges or edges != sorted(set(edges)) or edges[0] < 1:
        raise ValueError(f"age band edges must be increasing whole numbers from 1 up, not {edges}")
    lows = [0] + edges
    return [f"{lo}-{hi - 1}" for lo, hi in zip(lows, edges)] + [f"{edges[-1]}+"]


def age_band(age: float, edges=AGE_EDGES) -> str:
    """The band of one age in years, e.g. 34 -> "30-49"."""
    names = age_band_names(edges)
    return names[sum(float(age) >= e for e in edges)]


@dataclass(frozen=True)
class Item:
    """One image file of a source."""

    key: str  # stable id: POSIX path relative to the source root (inside the zip for zips)
    ref: str  # absolute path on disk, or the member name inside the zip
    size: int  # bytes (uncompressed size for zip members)
    stamp: int  # mtime in ns for files; CRC-32 for zip members


@dataclass
class LabelSpec:
    """One raw label of a source: its kind and its value per image key."""

    name: str  # lower-case label name, e.g. "male", "race", "class"
    kind: str  # "binary" (0/1) | "categorical" | "numeric"
    values: dict  # key -> 0/1 (binary), category string (categorical), float (numeric)
    categories: list = field(default_factory=list)  # categorical: column order
    offset: float = 0.0  # numeric: encoded value = (raw - offset) / scale
    scale: float = 1.0


@dataclass
class Source:
    path: str  # the path the user gave, absolute
    kind: str  # "folder" | "zip" | "celeba" | "csv" | "utkface"
    container: str  # "folder" | "zip"
    root: str  # folder root on disk, or the .zip file
    prefix: str  # zip only: member-name prefix of the root ("" or "dir/")
    items: list  # list[Item], sorted by key
    labels: dict  # name -> LabelSpec, in the source's column order
    auto_labels: list  # label names that labels="auto" selects
    label_file: str | None = None
    notes: dict = field(default_factory=dict)  # ignored files, unmatched label rows ...

    def identity(self) -> list:
        """(key, size, stamp) per item: what the decode cache is keyed on."""
        return [[it.key, it.size, it.stamp] for it in self.items]


# --------------------------------------------------------------------------- listing


def _hidden(parts) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _ext(name: str) -> str:
    ext = posixpath.splitext(name)[1].lower()
    return ext or "(none)"


class _Listing:
    """All regular, non-hidden files of a folder or zip, relative to the root."""

    def __init__(self):
        self.files = {}  # rel posix path -> (ref, size, stamp)
        self.hidden = 0

    def images(self):
        return sorted(k for k in self.files if _is_image_name(k))

    def ignored_by_extension(self):
        counts = {}
        for k in self.files:
            if not _is_image_name(k):
                e = _ext(k)
                counts[e] = counts.get(e, 0) + 1
        return dict(sorted(counts.items()))


def _list_folder(root: str) -> _Listing:
    listing = _Listing()

    def walk(folder: str, rel: str):
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for e in entries:
            if e.name.startswith(".") or e.name == "__MACOSX":
                listing.hidden += 1
                continue
            r = e.name if not rel else rel + "/" + e.name
            try:
                if e.is_dir():
                    if not e.is_symlink():  # linked folders are not followed: no loops
                        walk(e.path, r)
                    continue
                st = e.stat()
            except OSError:
                continue  # vanished, or a dangling link
            if stat.S_ISREG(st.st_mode) or _is_image_name(e.name):
                # A pipe or device named like a photo is listed too, so that the load
                # reports it as skipped instead of leaving it out without a word.
                listing.files[r] = (e.path, st.st_size, st.st_mtime_ns)

    walk(root, "")
    return listing


def _list_zip(path: str) -> tuple[_Listing, str]:
    listing = _Listing()
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
    names = []
    for info in infos:
        parts = info.filename.split("/")
        if _hidden(parts):
            listing.hidden += 1
            continue
        names.append(info)
    # A zip of "faces/" holds "faces/a.jpg": treat the single top folder as the root.
    prefix = ""
    tops = {i.filename.split("/")[0] for i in names}
    if len(tops) == 1 and all("/" in i.filename for i in names):
        prefix = tops.pop() + "/"
    for info in names:
        rel = info.filename[len(prefix):]
        listing.files[rel] = (info.filename, info.file_size, info.CRC)
    return listing, prefix


def _read_text(source_container: str, root: str, ref: str) -> str:
    if source_container == "zip":
        with zipfile.ZipFile(root) as zf:
            data = zf.read(ref)
    else:
        with open(ref, "rb") as f:
            data = f.read()
    return data.decode("utf-8-sig", errors="replace")


# --------------------------------------------------------------------------- labels


def _norm(name: str) -> str:
    return name.strip().lower()


def _missing(v: str) -> bool:
    return v.strip().lower() in MISSING_VALUES


def _infer_spec(name: str, raw: dict) -> LabelSpec:
    """Binary (0/1, -1/1, true/false, yes/no), numeric, else categorical."""
    present = {k: v.strip() for k, v in raw.items() if not _missing(v)}
    distinct = {v.lower() for v in present.values()}
    for neg, pos in (("0", "1"), ("-1", "1"), ("false", "true"), ("no", "yes")):
        if distinct and distinct <= {neg, pos}:
            return LabelSpec(name, "binary", {k: int(v.lower() == pos) for k, v in present.items()})
    try:
        nums = {k: float(v) for k, v in present.items()}
    except ValueError:
        nums = None
    if nums is not None and distinct:
        lo, hi = min(nums.values()), max(nums.values())
        return LabelSpec(name, "numeric", nums, offset=lo, scale=(hi - lo) or 1.0)
    cats = sorted(set(present.values()), key=_natural_key)
    return LabelSpec(name, "categorical", dict(present), categories=cats)


def _natural_key(s: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


class _Matcher:
    """Finds the image key a label row names (by key, path from the label file, or basename)."""

    def __init__(self, keys: list, rel_to_label_dir: dict):
        self.by_key = set(keys)
        self.by_rel = rel_to_label_dir  # path relative to the label file's folder -> key
        by_base = {}
        for k in keys:
            by_base.setdefault(posixpath.basename(k), []).append(k)
        self.by_base = {b: ks[0] for b, ks in by_base.items() if len(ks) == 1}

    def __call__(self, name: str) -> str | None:
        name = name.strip().replace("\\", "/")
        while name.startswith("./"):
            name = name[2:]
        if name in self.by_rel:
            return self.by_rel[name]
        if name in self.by_key:
            return name
        return self.by_base.get(posixpath.basename(name))


def _parse_celeba_attrs(text: str, match: _Matcher):
    """CelebA's list_attr_celeba.txt: a count line, the attribute names, then one
    ``NAME v1 v2 ...`` row per image with values -1/1."""
    lines = [ln.split() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if lines and len(lines[0]) == 1 and lines[0][0].isdigit():
        lines = lines[1:]  # the count line
    if len(lines) < 2:
        raise ValueError(f"{CELEBA_ATTR_FILE}: no attribute rows")
    header, rows = lines[0], lines[1:]
    if len(header) == len(rows[0]):  # a header that names the image column too
        header = header[1:]
    names = [_norm(n) for n in header]
    raw = {n: {} for n in names}
    matched, unmatched = 0, 0
    for parts in rows:
        key = match(parts[0]) if len(parts) == len(names) + 1 else None
        if key is None:
            unmatched += 1
            continue
        matched += 1
        for n, v in zip(names, parts[1:]):
            raw[n][key] = v
    return {n: _infer_spec(n, raw[n]) for n in names}, matched, unmatched


def _parse_csv(text: str, match: _Matcher):
    """(specs, matched, unmatched) or None when the CSV is not an image label table."""
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    if not rows or not rows[0] or _norm(rows[0][0]) not in CSV_IMAGE_COLUMNS or len(rows[0]) < 2:
        return None
    header = [_norm(h) for h in rows[0][1:]]
    raw = {h: {} for h in header}
    matched, unmatched, seen = 0, 0, set()
    for row in rows[1:]:
        if not row or not row[0].strip():
            continue
        key = match(row[0])
        if key is None:
            unmatched += 1
            continue
        if key in seen:
            continue  # first row wins
        seen.add(key)
        matched += 1
        for h, v in zip(header, row[1:] + [""] * (len(header) - len(row) + 1)):
            raw[h][key] = v
    specs = {h: _infer_spec(h, raw[h]) for h in header}
    return specs, matched, unmatched


_UTK_RE = re.compile(r"^(\d{1,3})_(\d)_(?:(\d)_)?(\d{8,})")


def parse_utkface_name(name: str) -> dict | None:
    """{"age", "gender", "race"} from a UTKFace file name; None if it is not one.

    A field that is absent or out of range is None (two UTKFace names lack the race).
    """
    m = _UTK_RE.match(posixpath.basename(name))
    if not m:
        return None
    age, second, race, _ = m.groups()
    age = int(age)
    out = {"age": age if 0 <= age <= 120 else None, "gender": None, "race": None}
    if race is None:
        # AGE_X_DATE: X is the gender when it is 0/1; otherwise it is ambiguous.
        if second in ("0", "1"):
            out["gender"] = UTKFACE_GENDERS[int(second)]
    else:
        if second in ("0", "1"):
            out["gender"] = UTKFACE_GENDERS[int(second)]
        if race in "01234":
            out["race"] = UTKFACE_RACES[int(race)]
    return out


def _utkface_specs(keys: list) -> dict:
    parsed = {k: parse_utkface_name(k) for k in keys}
    age = {k: float(p["age"]) for k, p in parsed.items() if p and p["age"] is not None}
    gender = {k: p["gender"] for k, p in parsed.items() if p and p["gender"] is not None}
    race = {k: p["race"] for k, p in parsed.items() if p and p["race"] is not None}
    return {
        "age": LabelSpec("age", "numeric", age, offset=0.0, scale=UTKFACE_AGE_SCALE),
        "gender": LabelSpec("gender", "categorical", gender, categories=list(UTKFACE_GENDERS)),
        "race": LabelSpec("race", "categorical", race, categories=list(UTKFACE_RACES)),
        "age_group": LabelSpec("age_group", "categorical", {k: age_band(a) for k, a in age.items()},
                               categories=age_band_names()),
    }


def _class_spec(keys: list) -> LabelSpec:
    values = {k: k.split("/")[0] for k in keys if "/" in k}
    cats = sorted(set(values.values()), key=_natural_key)
    return LabelSpec("class", "categorical", values, categories=cats)


# --------------------------------------------------------------------------- detection


def detect_source(path) -> Source:
    """Inspect ``path`` (a folder, a .zip, a label file, or an image folder with its
    label file beside it) and return its images and raw labels."""
    path = os.path.abspath(os.fspath(path))
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file or folder: {path}")
    mode = os.stat(path).st_mode
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        # Opening a pipe waits for a writer that may never come: refuse it unopened.
        raise ValueError(f"{path}: not a folder, a .zip, or a label file: "
                         f"it is {_special_kind(mode)}")
    label_candidates = []  # (rel name for the report, ref, folder of the label file relative to root)
    if os.path.isdir(path):
        container, root, prefix = "folder", path, ""
        listing = _list_folder(root)
        for rel, (ref, _, _) in listing.files.items():
            if "/" not in rel and _is_label_file(rel):
                label_candidates.append((ref, ref, ""))
        # Labels beside the image folder: celeba-5k/labels.csv for celeba-5k/img/.
        parent = os.path.dirname(root)
        base = os.path.basename(root)
        if not label_candidates and parent != root:
            for name in sorted(os.listdir(parent)):
                full = os.path.join(parent, name)
                if _is_label_file(name) and os.path.isfile(full):
                    label_candidates.append((full, full, ".." + "/" + base))
    elif zipfile.is_zipfile(path):
        container, root = "zip", path
        try:
            listing, prefix = _list_zip(path)
        except (zipfile.BadZipFile, EOFError, NotImplementedError, ValueError) as e:
            # A garbled table of contents: bad offsets, "versions", undecodable names.
            raise ValueError(f"{path}: a damaged .zip ({e})") from None
        for rel, (ref, _, _) in listing.files.items():
            if "/" not in rel and _is_label_file(rel):
                label_candidates.append((f"{path}!{ref}", ref, ""))
    elif _is_label_file(os.path.basename(path)):
        # The label file itself: its folder is the source.
        src = detect_source(os.path.dirname(path))
        if src.label_file != path:
            raise ValueError(f"{path}: does not label the images of its folder")
        src.path = path
        return src
    elif _starts_like_zip(path):
        raise ValueError(f"{path}: a damaged .zip (its table of contents is missing or unreadable; "
                         f"a download or copy cut short?)")
    elif path.lower().endswith(".zip"):
        raise ValueError(f"{path}: named .zip but not a zip archive")
    else:
        raise ValueError(f"{path}: not a folder, a .zip, or a label file")

    keys = listing.images()
    items = []
    for k in keys:
        ref, size, stamp = listing.files[k]
        items.append(Item(key=k, ref=ref, size=int(size), stamp=int(stamp)))
    notes = {"hidden_files_ignored": listing.hidden, "other_files_ignored": listing.ignored_by_extension()}
    src = Source(path=path, kind=container, container=container, root=root, prefix=prefix,
                 items=items, labels={}, auto_labels=[], notes=notes)

    # 1. Label files (CelebA attributes first, then CSVs): the best-matching one wins.
    best = None
    for shown, ref, rel_dir in sorted(label_candidates, key=lambda c: (not c[1].endswith(CELEBA_ATTR_FILE), c[1])):
        rel_map = {}
        if rel_dir.startswith(".."):
            base = rel_dir[3:]
            rel_map = {f"{base}/{k}": k for k in keys}
        match = _Matcher(keys, rel_map)
        try:
            text = _read_text(container, root, ref)
            if ref.endswith(CELEBA_ATTR_FILE):
                parsed, kind = _parse_celeba_attrs(text, match), "celeba"
            else:
                parsed, kind = _parse_csv(text, match), "csv"
        except (OSError, ValueError, UnicodeError, csv.Error, zipfile.BadZipFile):
            continue
        if parsed is None or parsed[1] == 0:
            continue
        if rel_dir and parsed[1] < 0.5 * len(keys):
            continue  # a file beside the folder must label most of its images
        if best is None or parsed[1] > best[1][1]:
            best = (shown, parsed, kind)
    if best is not None:
        shown, (specs, matched, unmatched), kind = best
        src.kind, src.label_file, src.labels = kind, shown, specs
        src.auto_labels = list(specs)
        src.notes.update(label_rows_matched=matched, label_rows_without_image=unmatched)
        return src

    # 2. UTKFace file names.
    if keys:
        n_utk = sum(parse_utkface_name(k) is not None for k in keys)
        if n_utk >= UTKFACE_MIN_FRACTION * len(keys):
            src.kind = "utkface"
            src.labels = _utkface_specs(keys)
            src.auto_labels = ["age", "gender", "race"]   # age_group: asked for by name
            src.notes["names_not_utkface"] = len(keys) - n_utk
            return src

    # 3. Plain folder / zip: the top-level subfolder is the class, when asked for.
    cls = _class_spec(keys)
    if cls.values:
        src.labels = {"class": cls}
        # "auto" takes the class only when the layout clearly is one folder per class.
        if len(cls.categories) >= 2 and len(cls.values) == len(keys):
            src.auto_labels = ["class"]
    return src


def _special_kind(mode: int) -> str:
    """What a path that is neither a folder nor a regular file is, in words."""
    for test, what in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return what
    return "not a regular file"


def _starts_like_zip(path: str) -> bool:
    """Whether a file begins as a zip does (a local file header, or an empty archive's end)."""
    with open(path, "rb") as f:
        return f.read(4) in (b"PK\x03\x04", b"PK\x05\x06")


def _is_label_file(name: str) -> bool:
    return name == CELEBA_ATTR_FILE or name.lower().endswith(".csv")


def read_item_bytes(container: str, root: str, ref: str, zf: zipfile.ZipFile | None = None) -> bytes:
    """Bytes of one item (``zf``: an already open ZipFile of ``root``, for speed). A file on
    disk that is not a regular file (a pipe, a device) raises ImageError, unread."""
    if container == "zip":
        if zf is not None:
            return zf.read(ref)
        with zipfile.ZipFile(root) as z:
            return z.read(ref)
    return read_file_bytes(ref)
