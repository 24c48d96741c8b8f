"""Face crops of real CelebA and UTKFace photos, written as an image to look at.

Skipped when ../shared/data (relative to the repository) is not there. Writes crop_check.png
into the test's temporary folder (printed; FACEGAN_TEST_ARTIFACTS keeps it): per photo, the
original with its crop box (red: a face was found, blue: centre fallback) and the 128 px crop
the model would see.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from gan.data.preprocess import open_image, preprocess_image

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEGAN_SHARED_DATA", ROOT.parent / "shared" / "data"))

pytestmark = pytest.mark.skipif(
    not (DATA / "celeba-5k" / "img").is_dir() or not (DATA / "utkface").is_dir(),
    reason="needs ../shared/data (celeba-5k, utkface)",
)


def _pick(folder: Path, n: int):
    names = sorted(p.name for p in folder.iterdir() if p.suffix == ".jpg")
    step = max(1, len(names) // n)
    return [folder / names[i] for i in range(0, step * n, step)]


def _iou(a, b):
    l, t = max(a[0], b[0]), max(a[1], b[1])
    r, bt = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, r - l) * max(0, bt - t)
    area = lambda x: (x[2] - x[0]) * (x[3] - x[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def _cell(img, p):
    shown = img.copy()
    ImageDraw.Draw(shown).rectangle(p.box, outline=(230, 0, 0) if p.face_found else (0, 80, 255), width=3)
    shown.thumbnail((128, 160))
    cell = Image.new("RGB", (262, 160), (40, 40, 40))
    cell.paste(shown, (0, 0))
    cell.paste(Image.fromarray(p.image), (132, 0))
    return cell


def test_face_crops_of_real_photos_are_centred_and_whole(artifacts):
    celeba = _pick(DATA / "celeba-5k" / "img", 8)
    utk = _pick(DATA / "utkface", 8)
    rows, ious, found = [], [], 0
    for group in (celeba, utk):
        row = []
        for path in group:
            img = open_image(path)
            p = preprocess_image(img, size=128, crop="face")
            row.append(_cell(img, p))
            w, h = img.size
            if group is celeba:
                # An aligned CelebA photo's head fills its centre 178 x 178 square.
                found += bool(p.face_found)
                ious.append(_iou(p.box, (0, (h - w) // 2, w, (h - w) // 2 + w)))
            else:
                # UTKFace crops are tight: the face crop keeps (nearly) the whole photo.
                assert (p.box[2] - p.box[0]) >= 0.9 * min(w, h), path.name
        rows.append(row)
    sheet = Image.new("RGB", (262 * 8, 160 * len(rows)), (40, 40, 40))
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            sheet.paste(cell, (262 * c, 160 * r))
    sheet.save(artifacts / "crop_check.png")
    assert found >= 6
    assert np.median(ious) > 0.8 and min(ious) > 0.6, ious
