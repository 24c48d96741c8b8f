"""A blind audit of face quality by eye: the library behind `python -m gan.audit`.

Numbers such as SWD do not see the melted and doubled features a person sees at once, so the
audit asks a person. `make_sheet` draws generated faces exactly as the app's generate page
shows them by default and as many held-out real photos of the bundle (its card's split, one
preprocessing), shuffles them into one numbered sheet and writes the key apart from it, so the
labeller judges each face without knowing its kind. `score` joins the filled labels with the
key: the share of broken faces among generated and among real ones (the real share checks
the labeller, who becomes strict beside real photos). `make_pair` draws one sheet each of two
bundles for a comparison, which bundle is which decided by a coin and kept apart like the key.

Only consumes bundles: no training code, no Streamlit.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import secrets
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gan import rejection
from gan.bundle import CARD, load_bundle, update_card
from gan.card import drawn_as, label_frequencies
from gan.data.preprocess import PREPROCESS_VERSION
from gan.data.split import Split
from gan.detector.calibrate import wilson
from gan.images import png_bytes
from gan.io import (MANIFEST, Marker, atomic_write_text, check_replaceable, file_sha256,
                    staged_dir, write_files)
from gan.sampling import check_truncation, generate, generate_from_latents, label_matrix, latents

DEFAULT_N = 64
# What pages/generate.py shows a visitor who changes nothing (every slider in the middle,
# so labels take gan.sampling.label_matrix's defaults and z is not moved).
PAGE_SEED = 0
PAGE_TRUNCATION = 1.0

KEY_FORMAT = "facegan-audit-key/1"
RESULT_FORMAT = "facegan-audit-result/1"
SHEET, FACES, LABELS, KEY, RESULT = "sheet.png", "faces", "labels.csv", "key.json", "result.json"
KINDS = ("generated", "real")
WORDS = {"intact": "intact", "i": "intact", "ok": "intact",
         "broken": "broken", "b": "broken", "bad": "broken"}

COLUMNS = 16
MIN_CELL = 128          # faces smaller than this are enlarged on the sheet, to be judged
GAP = 10
NUMBER_BAND = 22
MARGIN = 16
TITLE_BAND = 34


class AuditError(ValueError):
    """The audit cannot run as asked; the message says why and what to do, in one line."""


def _names_if_ours(folder: Path, filename: str, fmt: str) -> set[str] | None:
    """The names in `folder` when its `filename` is a JSON object of format `fmt` (a folder
    this module wrote), else None; gan.io's manifest of what was written is not one of them."""
    try:
        written = json.loads((folder / filename).read_text())
        names = {p.name for p in folder.iterdir()} - {MANIFEST}
    except (OSError, ValueError):
        return None
    return names if isinstance(written, dict) and written.get("format") == fmt else None


class _BlankSheet:
    """Recognises a folder `make_sheet` wrote whose labels are still blank: only such a folder
    may be replaced, so a filled labels.csv (a person's work) or a user's file is never lost."""

    what = (f"an unlabelled audit folder (only what `gan.audit sheet` writes, with {LABELS} "
            "still blank)")

    def __call__(self, folder: Path) -> bool:
        folder = Path(folder)
        names = _names_if_ours(folder, KEY, KEY_FORMAT)
        if names is None or not names <= {SHEET, FACES, LABELS, KEY}:
            return False
        try:
            rows = list(csv.reader(io.StringIO((folder / LABELS).read_text("utf-8-sig"))))
        except FileNotFoundError:
            return True
        except (OSError, ValueError):
            return False
        return not any(len(r) > 1 and r[1].strip() for r in rows[1:])


BLANK_SHEET = _BlankSheet()


def number_width(total: int) -> int:
    """Digits of the face numbers in file names (faces/001.png), so they sort as numbers."""
    return max(3, len(str(int(total))))


def page_default_faces(bundle, n: int, seed: int = PAGE_SEED,
                       truncation: float = PAGE_TRUNCATION) -> np.ndarray:
    """The first n faces the generate page shows for `seed` when nothing else is touched:
    the same gan.sampling calls as the page's face cache, at its default variety and labels."""
    return generate(bundle, n, seed=seed, truncation=truncation, labels=None)


def page_default_labels(bundle, n: int, seed: int) -> dict[str, Any] | None:
    """What labels those faces get, for the key (None for an unconditional bundle): each
    face's row as `gan.sampling.label_matrix` draws it, or the one neutral row of a card
    without label frequencies."""
    y = label_matrix(bundle, n, None, seed=seed)
    if y is None:
        return None
    if label_frequencies(bundle.card) is None:
        return {k: round(float(v), 4) for k, v in zip(bundle.label_names, y[0])}
    return {"drawn": f"per face {drawn_as(bundle.card)} (card labels.frequencies): "
                     f"gan.sampling.label_matrix(bundle, {n}, None, seed={seed})",
            "names": list(bundle.label_names), "rows": y.tolist()}


def parse_group(bundle, group: str | None) -> tuple[str, int] | None:
    """"ethnicity=black" -> (label, index of the group) in the bundle's label groups
    (`gan.metrics.groups.label_groups`); None for no group. Refused when the bundle has no
    such label or group."""
    if not group:
        return None
    from gan.metrics.groups import label_groups

    label, eq, name = group.partition("=")
    label, name = label.strip().lower(), name.strip()
    groups = label_groups(bundle.card)
    if not eq or label not in groups:
        have = "; ".join(f"{k}={'|'.join(g for g, _ in v)}" for k, v in groups.items()) or "none"
        raise AuditError(f"--group {group!r}: write LABEL=GROUP with a label of {bundle.name} "
                         f"(its groups: {have})")
    names = [g for g, _ in groups[label]]
    if name not in names:
        raise AuditError(f"--group {group!r}: {label} has the groups {', '.join(names)}")
    return label, names.index(name)


def heldout_photos(bundle, n: int, real_seed: int, progress: bool = False, group=None,
                   with_labels: bool = False):
    """(images, keys, split, held-out count): n held-out photos of the bundle's own split,
    drawn by `real_seed` (of one group only, with `group` from `parse_group`; then the count
    is that group's, and with `with_labels` their label rows come fifth). Refused when the
    split is not reachable or too small."""
    split = Split.from_card(bundle.card)
    why = split.why_no_heldout()
    if why:
        raise AuditError(f"no held-out real photos for {bundle.name}: {why} "
                         f"(data.source = {split.source!r})")
    try:
        held = split.load(progress).heldout
    except (OSError, ValueError) as e:
        raise AuditError(f"cannot read the held-out photos of {split.source}: {e}") from e
    pool = np.arange(0 if held is None else len(held))
    if group is not None and len(pool):
        from gan.metrics.groups import group_of

        pool = np.nonzero(group_of(held.labels, bundle.card)[group[0]] == group[1])[0]
    count = len(pool)
    if count < n:
        which = "" if group is None else " of that group"
        raise AuditError(f"the held-out split of {split.source} has {count} photos{which}, "
                         f"fewer than --n {n}; give a smaller --n")
    idx = pool[np.sort(np.random.default_rng(int(real_seed)).choice(count, n, replace=False))]
    out = (np.asarray(held.images[idx]), [held.keys[i] for i in idx], split, count)
    if with_labels:
        out += (None if held.labels is None else np.asarray(held.labels[idx], np.float32),)
    return out


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):      # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def cell_size(resolution: int) -> int:
    """Side of one face on the sheet: the face itself, enlarged by a whole factor if small."""
    return int(resolution) * max(1, -(-MIN_CELL // int(resolution)))


def face_box(index: int, cell: int, columns: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the sheet's `index`-th face (0-based, numbered index+1)."""
    r, c = divmod(int(index), columns)
    left = MARGIN + c * (cell + GAP)
    top = MARGIN + TITLE_BAND + r * (cell + NUMBER_BAND + GAP)
    return left, top, left + cell, top + cell


def render_sheet(faces: np.ndarray, columns: int = COLUMNS) -> np.ndarray:
    """One uint8 image of the faces in order, each with its number (1-based) under it.
    Nothing else is written on it, so the sheet says nothing of which face is which kind."""
    n, res = len(faces), faces.shape[1]
    cell, columns = cell_size(res), max(1, min(columns, n))
    rows = -(-n // columns)
    width = 2 * MARGIN + columns * cell + (columns - 1) * GAP
    height = 2 * MARGIN + TITLE_BAND + rows * (cell + NUMBER_BAND) + (rows - 1) * GAP
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    draw.text((MARGIN, MARGIN), f"Blind audit: {n} faces. In {LABELS}, write intact or broken "
              "after each number.", fill=(0, 0, 0), font=_font(18))
    font = _font(16)
    scale = cell // res
    for i, face in enumerate(faces):
        left, top, right, bottom = face_box(i, cell, columns)
        im = Image.fromarray(np.asarray(face, np.uint8))
        if scale > 1:
            im = im.resize((cell, cell), Image.Resampling.NEAREST)
        sheet.paste(im, (left, top))
        draw.text(((left + right) / 2, bottom + NUMBER_BAND / 2), str(i + 1), fill=(0, 0, 0),
                  font=font, anchor="mm")
    return np.asarray(sheet)


def blank_labels(total: int) -> str:
    """The labels template: every number, no label, nothing else."""
    return "number,label\n" + "".join(f"{i},\n" for i in range(1, total + 1))




def make_sheet(model: str | Path, out: str | Path, *, n: int = DEFAULT_N, seed: int = PAGE_SEED,
               real_seed: int = 0, truncation: float = PAGE_TRUNCATION, progress: bool = False,
               group: str | None = None, drs: float | None = None,
               label_rows: np.ndarray | None = None, label_note: str = "",
               log: Callable[[str], None] = lambda m: None, shown_as: Path | None = None) -> dict:
    """Write the audit folder `out` (sheet.png, faces/NNN.png, labels.csv, key.json) for the
    bundle `model`; returns the key. The folder appears whole or not at all, and only an
    empty folder or an unlabelled audit folder is replaced (`BLANK_SHEET`). `drs`: draw the
    generated faces by discriminator rejection sampling at that percentile (`gan.rejection`).
    `label_rows`: each generated face's label row instead of the page's defaults (an experiment
    on the labels, described by `label_note` in the key; `record` refuses such a sheet).
    `shown_as`: the folder the key's command names, when `out` is a staging folder (a pair)."""
    if n < 1:
        raise AuditError("--n must be at least 1")
    if drs is not None and group is not None:
        raise AuditError("--drs draws the generate page's faces; it does not take --group")
    if label_rows is not None and (group is not None or drs is not None):
        raise AuditError("label rows replace the page's labels; they do not take a group or DRS")
    if drs is not None and not 0 < drs < 100:
        raise AuditError(f"--drs is a percentile between 0 and 100, not {drs}")
    try:
        check_truncation(truncation)
    except ValueError as e:
        raise AuditError(str(e)) from None
    out = Path(out)
    check_replaceable(out, BLANK_SHEET)           # before the slow part
    model = Path(model)
    bundle = load_bundle(model)
    if label_rows is not None:                    # before the slow part, as the folder check
        label_rows = np.asarray(label_rows, np.float32)
        if not bundle.label_names or label_rows.shape != (n, len(bundle.label_names)):
            raise AuditError(f"label rows must be {n} rows of {bundle.label_names}")
    log(f"loading the held-out photos of {Split.from_card(bundle.card).source}")
    chosen = parse_group(bundle, group)
    real, real_keys, split, held_count, real_y = heldout_photos(bundle, n, real_seed, progress,
                                                                chosen, with_labels=True)
    page = truncation == PAGE_TRUNCATION
    log(f"generating {n} faces (seed {seed}, "
        + ("the generate page's defaults)" if page else f"variety (truncation) {truncation})")
        + (f" of the group {group}, each with the labels of one of its real photos" if chosen else ""))
    if chosen or label_rows is not None:
        # a group's faces get its photos' own label rows (as the evaluation's per-group faces)
        gen = generate_from_latents(bundle, latents(seed, n, bundle.latent_dim, truncation),
                                    real_y if chosen else label_rows)
    elif drs is not None:
        log(f"rejection sampling at the {drs:g}th percentile (burn-in of {rejection.BURN_IN})")
        try:
            kept = rejection.calibrate(bundle, truncation, None, percentile=drs)
            gen, drs_rows, candidates = rejection.sample(bundle, n, seed, truncation, None, kept)
        except rejection.RejectionError as e:
            raise AuditError(str(e)) from None
    else:
        gen = page_default_faces(bundle, n, seed, truncation)

    drawn = [("generated", i) for i in range(n)] + [("real", k) for k in real_keys]
    images = np.concatenate([gen, real])
    order = np.random.default_rng([int(seed), int(real_seed)]).permutation(2 * n)
    width = number_width(2 * n)
    faces, files = {}, {}
    for number, j in enumerate(order, start=1):
        kind, what = drawn[j]
        faces[str(number)] = ({"kind": kind, "index": int(what)} if kind == "generated"
                              else {"kind": kind, "photo": str(what)})
        files[f"{FACES}/{number:0{width}d}.png"] = png_bytes(images[j])
    files[SHEET] = png_bytes(render_sheet(images[order]))

    card = bundle.card
    key = {
        "format": KEY_FORMAT,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": (f"python -m gan.audit sheet --model {model} --out {shown_as or out} --n {n} "
                    f"--seed {seed} --real-seed {real_seed}"
                    + ("" if page else f" --truncation {truncation}")
                    + (f" --group {group}" if chosen else "")
                    + (f" --drs {drs:g}" if drs is not None else "")),
        "model": {"path": str(model), "name": bundle.name,
                  "card_sha256": file_sha256(model / CARD), "card_created": card.get("created"),
                  "generator_sha256": card["files"]["generator.keras"]["sha256"],
                  "training_steps": int((card.get("training") or {}).get("steps", 0) or 0),
                  "resolution": bundle.resolution},
        "generated": {"n": n, "seed": int(seed), "truncation": float(truncation),
                      "labels": page_default_labels(bundle, n, seed), "z_shift": None,
                      "as": ("the app's generate page with nothing touched but the count: "
                             "every slider in the middle" if page else
                             f"the app's generate page with the variety slider at {truncation} "
                             "and the other sliders in the middle"),
                      "remake": f"gan.sampling.generate(bundle, {n}, seed={seed}, "
                                f"truncation={truncation}, labels=None)"},
        "real": {"n": n, "real_seed": int(real_seed), "source": split.source,
                 "split": split.describe(), "held_out_photos": held_count,
                 "preprocessing": {"size": split.size, "crop": split.crop,
                                   "version": PREPROCESS_VERSION},
                 "drawn": f"numpy default_rng({real_seed}).choice({held_count}, {n}, "
                          "replace=False) of the held-out photos in split order"},
        "shuffle": f"numpy default_rng([{seed}, {real_seed}]).permutation({2 * n})",
        "faces": faces,
    }
    if chosen:
        key["group"] = f"{chosen[0]}={group.partition('=')[2].strip()}"
        key["generated"]["labels"] = "the label rows of the real photos drawn, one per face"
        key["generated"]["as"] = (f"faces of the group {key['group']}: face i has z of seed "
                                  f"{seed} row i and the labels of real photo i")
        key["generated"]["remake"] = (f"gan.sampling.generate_from_latents(bundle, latents({seed}, "
                                      f"{n}, latent_dim, {truncation}), labels of the real photos)")
        key["real"]["drawn"] += f", among those of the group {key['group']}"
    if label_rows is not None:
        key["generated"]["labels"] = "the label rows in label_rows, one per face"
        key["generated"]["label_rows"] = {"rows": label_rows.tolist(), "note": label_note}
        key["generated"]["as"] = ("faces of the generate page's seed and variety with the label "
                                  "rows given, not the page's labels: " + label_note)
        key["generated"]["remake"] = (f"gan.sampling.generate_from_latents(bundle, latents({seed}, "
                                      f"{n}, latent_dim, {truncation}), generated.label_rows.rows)")
        key["command"] += " (label rows from a script: " + label_note + ")"
    if drs is not None:
        key["generated"]["rejection"] = {**kept.describe(), "candidates": int(candidates),
                                         "rows": [int(r) for r in drs_rows]}
        key["generated"]["as"] = (f"the generate page's default faces, kept by discriminator "
                                  f"rejection sampling at the {drs:g}th percentile: face i is "
                                  f"row rows[i] of seed {seed}")
        key["generated"]["remake"] = (f"gan.rejection.sample(bundle, {n}, {seed}, {truncation}, "
                                      f"labels, gan.rejection.calibrate(bundle, {truncation}, "
                                      f"labels, percentile={drs:g}))")
    log(f"writing {out}")
    with staged_dir(out, BLANK_SHEET) as staging:
        write_files(staging, files)
        atomic_write_text(staging / LABELS, blank_labels(2 * n))
        atomic_write_text(staging / KEY, json.dumps(key, indent=2) + "\n")
    return key


PAIR, PAIR_FORMAT, SIDES = "pair.json", "facegan-audit-pair/1", ("X", "Y")


class _BlankPair:
    """Recognises a folder `make_pair` wrote whose sheets are both still unlabelled, the only
    pair folder that may be replaced (as `BLANK_SHEET` for one sheet)."""

    what = (f"an unlabelled pair of audits (only what `gan.audit pair` writes: {PAIR} and the "
            f"sheets {' and '.join(SIDES)}, their labels still blank)")

    def __call__(self, folder: Path) -> bool:
        names = _names_if_ours(Path(folder), PAIR, PAIR_FORMAT)
        return (names is not None and names <= {PAIR, *SIDES}
                and all(BLANK_SHEET(Path(folder) / side) for side in SIDES if side in names))


BLANK_PAIR = _BlankPair()


def make_pair(models: tuple[str | Path, str | Path], out: str | Path, *, n: int = DEFAULT_N,
              seed: int = PAGE_SEED, real_seed: int = 0, truncation: float = PAGE_TRUNCATION,
              progress: bool = False, log: Callable[[str], None] = lambda m: None,
              coin: int | None = None) -> dict:
    """Two audit sheets for comparing two bundles by eye without knowing which is which: a coin
    (`secrets`, or `coin` 0 / 1 in tests) decides which bundle's sheet is `out/X` and which
    `out/Y`, and only `out/pair.json` says so, to be read after both are labelled (`score_pair`
    does). Y is drawn with seed + 1 and real_seed + 1: faces or photos seen on both sheets would
    tell the labeller which are generated. The folder appears whole or not at all."""
    a, b = Path(models[0]), Path(models[1])
    if a.resolve() == b.resolve():
        raise AuditError(f"a pair compares two bundles; {a} was given twice")
    out = Path(out)
    order = (a, b) if (secrets.randbelow(2) if coin is None else int(coin)) == 0 else (b, a)
    sides = {}
    with staged_dir(out, BLANK_PAIR) as staging:
        for i, (side, model) in enumerate(zip(SIDES, order)):
            log(f"sheet {side}")
            make_sheet(model, staging / side, n=n, seed=seed + i, real_seed=real_seed + i,
                       truncation=truncation, progress=progress, log=log, shown_as=out / side)
            sides[side] = {"model": str(model), "seed": seed + i, "real_seed": real_seed + i}
        pair = {"format": PAIR_FORMAT,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "command": (f"python -m gan.audit pair --model {a} --model {b} --out {out} "
                            f"--n {n} --seed {seed} --real-seed {real_seed}"
                            + ("" if truncation == PAGE_TRUNCATION else
                               f" --truncation {truncation}")),
                "sides": sides}
        atomic_write_text(staging / PAIR, json.dumps(pair, indent=2) + "\n")
    return pair


def score_pair(folder: str | Path) -> dict[str, dict]:
    """Score both sheets of a pair (each writes its result.json, as `score`); the results by
    side, each naming the bundle it audited."""
    folder = Path(folder)
    if _names_if_ours(folder, PAIR, PAIR_FORMAT) is None:
        raise AuditError(f"{folder / PAIR} is missing or is not a pair of audits")
    return {side: score(folder / side) for side in SIDES}


def read_key(folder: str | Path) -> dict:
    """The key `make_sheet` wrote in `folder`; AuditError when it is missing or not a key."""
    path = Path(folder) / KEY
    try:
        key = json.loads(path.read_text())
    except FileNotFoundError:
        raise AuditError(f"{path} does not exist: make the sheet with `python -m gan.audit "
                         "sheet` first (or put its key.json back)") from None
    except (OSError, ValueError) as e:
        raise AuditError(f"cannot read {path}: {e}") from None
    faces = key.get("faces") if isinstance(key, dict) else None
    if (not isinstance(faces, dict) or key.get("format") != KEY_FORMAT
            or not all(str(k).isdigit() and isinstance(v, dict) and v.get("kind") in KINDS
                       for k, v in faces.items())):
        raise AuditError(f"{path} is not an audit key written by `python -m gan.audit sheet`")
    return key


def _delimiter(text: str) -> str:
    """Spreadsheets save CSV with ';' or tabs in some locales; the first line tells which."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return next((d for d in (",", ";", "\t") if d in first), ",")


def read_labels(path: str | Path, numbers: set[int]) -> dict[int, str]:
    """{number: "intact" | "broken"} of the labelled faces in a labels file; blank labels are
    left out. Anything that cannot be meant as a label of a face on the sheet is refused
    (AuditError naming the line), never guessed at."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise AuditError(f"{path} does not exist: give the filled labels file "
                         "(--labels FILE)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise AuditError(f"cannot read {path}: {e}") from None
    labels: dict[int, str] = {}
    lines: dict[int, int] = {}
    low, high = min(numbers, default=0), max(numbers, default=0)
    header_seen = False
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(text))
    try:
        for row in reader:
            cells = [c.strip() for c in row]
            if not any(cells):
                continue
            line = reader.line_num
            if not header_seen and not lines and cells[0].lower() == "number":
                header_seen = True
                continue
            try:
                number = int(cells[0])
            except ValueError:
                raise AuditError(f"{path} line {line}: {cells[0]!r} is not a face number") from None
            if number not in numbers:
                raise AuditError(f"{path} line {line}: {number} is not a number on the sheet "
                                 f"({low} to {high})")
            if number in lines:
                raise AuditError(f"{path} line {line}: face {number} is labelled twice "
                                 f"(also on line {lines[number]})")
            lines[number] = line
            word = cells[1].lower() if len(cells) > 1 else ""
            if word and word not in WORDS:
                raise AuditError(f"{path} line {line}: {cells[1]!r} is not a label; write intact "
                                 "or broken (or i / b, ok / bad)")
            if word:
                labels[number] = WORDS[word]
    except csv.Error as e:
        raise AuditError(f"{path} line {reader.line_num}: not a CSV line ({e})") from None
    if not labels:
        raise AuditError(f"{path} labels no face yet: write intact or broken after each number")
    return labels


def share(broken: int, labelled: int, unlabelled: int) -> dict:
    """Broken share of one kind with its 95% Wilson interval (None when nothing is labelled)."""
    lo, hi = wilson(broken, labelled)
    return {"broken": broken, "labelled": labelled, "unlabelled": unlabelled,
            "broken_share": broken / labelled if labelled else None,
            "ci95": [lo, hi] if labelled else None}


def score(folder: str | Path, labels_file: str | Path | None = None) -> dict:
    """Score the labels of the audit in `folder` (default labels file: its labels.csv)
    against its key; writes and returns result.json."""
    folder = Path(folder)
    key = read_key(folder)
    path = Path(labels_file) if labels_file is not None else folder / LABELS
    kinds = {int(k): v["kind"] for k, v in key["faces"].items()}
    labels = read_labels(path, set(kinds))
    result = {
        "format": RESULT_FORMAT,
        "scored": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "labels_file": str(path),
        "labels_sha256": file_sha256(path),
        "sheet_created": key.get("created"),
        "model": key.get("model"),
        "group": key.get("group"),          # a sheet of one group's faces (--group), or None
        "unlabelled": len(kinds) - len(labels),
    }
    for kind in KINDS:
        mine = [k for k, v in kinds.items() if v == kind]
        got = [labels[k] for k in mine if k in labels]
        result[kind] = share(got.count("broken"), len(got), len(mine) - len(got))
    atomic_write_text(folder / RESULT, json.dumps(result, indent=2) + "\n")
    return result


def read_result(folder: Path) -> dict:
    """The result.json `score` wrote in `folder`; AuditError naming what is wrong with a
    damaged or foreign one (record keeps its figures in the card)."""
    path = folder / RESULT
    try:
        result = json.loads(path.read_text())
    except OSError as e:
        result, problem = None, e.strerror or str(e)
    except ValueError:                    # UnicodeDecodeError and JSONDecodeError among them
        result, problem = None, "not readable JSON"
    else:
        problem = _result_problem(result)
    if problem:
        raise AuditError(f"{path} is damaged or was not written by gan.audit score ({problem}); "
                         f"score the audit again: python -m gan.audit score --dir {folder}")
    return result


def _result_problem(result) -> str | None:
    if not isinstance(result, dict) or result.get("format") != RESULT_FORMAT:
        return f"not a {RESULT_FORMAT} object"
    if not isinstance(result.get("scored"), str) or not isinstance(result.get("labels_sha256"), str):
        return "no scoring date or labels checksum"
    def count(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    for kind in KINDS:
        r = result.get(kind)
        if not (isinstance(r, dict) and count(r.get("broken")) and count(r.get("labelled"))
                and isinstance(r.get("broken_share"), (int, float, type(None)))
                and isinstance(r.get("ci95"), (list, type(None)))):
            return f"its {kind} figures are missing or not numbers"
    return None


AUDIT_DIR = "audit"           # inside a bundle: the latest labelled audit of its generator
GROUP_AUDIT_DIR = "audit-groups"   # ... and of each group's faces: audit-groups/<label>=<group>/
KEPT_AUDIT = Marker(RESULT, "a kept audit (with result.json)", format=RESULT_FORMAT)


def record(folder: str | Path, model: str | Path) -> dict:
    """Keep the scored audit in `folder` with the bundle it audited: its sheet (JPEG), labels,
    key and result go to `<model>/audit/` (replaced as a whole) and the card's `audit` section
    gets the figures the pages show. A sheet of one group's faces (`sheet --group`) goes to
    `<model>/audit-groups/<label>=<group>/` and the card's `audit_groups`, one entry a group,
    for the per-group table. Refused for an unscored audit or one of another generator: a
    figure must describe the faces the bundle makes."""
    folder, model = Path(folder), Path(model)
    key = read_key(folder)
    if not (folder / RESULT).is_file():
        raise AuditError(f"{folder} has not been scored: run python -m gan.audit score "
                         f"--dir {folder} first")
    result = read_result(folder)
    bundle = load_bundle(model)
    sha = bundle.card["files"]["generator.keras"]["sha256"]
    if (key.get("generated") or {}).get("label_rows"):
        raise AuditError(f"{folder} audited faces with label rows of an experiment, not the "
                         "app's faces: it is not kept with the model")
    if (key.get("generated") or {}).get("rejection"):
        raise AuditError(f"{folder} audited faces kept by rejection sampling, which the app does "
                         "not draw: keep it in docs/audits/, beside an audit of the faces the "
                         "app shows")
    if (key.get("model") or {}).get("generator_sha256") != sha:
        raise AuditError(f"{folder} audited another generator than {model}'s (the sheet was "
                         "drawn before the model was trained or exported again): draw a new "
                         "sheet with python -m gan.audit sheet")
    labels_path = Path(result.get("labels_file") or folder / LABELS)
    if not labels_path.is_file():
        labels_path = folder / LABELS
    if file_sha256(labels_path) != result.get("labels_sha256"):
        raise AuditError(f"{labels_path} changed after it was scored: score it again")
    sheet_file = next((folder / f for f in (SHEET, "sheet.jpg") if (folder / f).is_file()), None)
    if sheet_file is None:
        raise AuditError(f"{folder} has no {SHEET}: the labels cannot be kept without the sheet")
    jpeg = io.BytesIO()
    Image.open(sheet_file).convert("RGB").save(jpeg, "JPEG", quality=85)
    files = {"sheet.jpg": jpeg.getvalue(), LABELS: labels_path.read_bytes(),
             KEY: (folder / KEY).read_bytes(), RESULT: (folder / RESULT).read_bytes()}
    group = key.get("group")
    where = AUDIT_DIR if not group else f"{GROUP_AUDIT_DIR}/{group}"
    if group:
        parse_group(bundle, group)                    # a group this bundle still has
    with staged_dir(model / where, KEPT_AUDIT) as staging:
        write_files(staging, files)
    gen = key["generated"]
    summary = {"dir": where, "sheet": f"{where}/sheet.jpg", "scored": result["scored"],
               "generator_sha256": sha, "seed": gen["seed"],
               "truncation": gen.get("truncation", PAGE_TRUNCATION), "as": gen.get("as"),
               "real_source": key["real"]["source"],
               **{kind: {k: result[kind][k] for k in ("broken", "labelled", "broken_share",
                                                      "ci95")} for kind in KINDS}}
    if group:
        update_card(model, audit_groups={group: summary})
    else:
        update_card(model, audit=summary)
    return summary
