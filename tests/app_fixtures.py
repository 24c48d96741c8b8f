"""Shared pieces of the app tests: a temporary models folder of tiny bundles, a drawn face the
OpenCV face detector finds (no photo data in the repository), and a way to read what a
download button or image would send to the browser."""
from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.factories import draw_face, make_tiny_bundle

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")


def drawn_face(size: int = 256, skin=(215, 170, 140)) -> np.ndarray:
    """The tests' drawn face (`tests.factories.draw_face`) as a square uint8 RGB array on a
    fixed background; OpenCV's frontal face cascade detects it, so the face crop path runs."""
    return np.asarray(draw_face(size, size, seed=0, background=(170, 150, 120), skin=skin))


def encode(image: np.ndarray | Image.Image, fmt: str = "PNG", **kw) -> bytes:
    img = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def face_png(size: int = 200) -> bytes:
    return encode(drawn_face(size))


def landscape_jpeg(size: int = 200) -> bytes:
    """A photo-like image with no face in it."""
    rng = np.random.default_rng(1)
    y = np.linspace(0, 1, size)[:, None, None]
    img = (np.concatenate([120 + 100 * y, 160 + 60 * y, 230 - 80 * y], axis=2)
           * np.ones((1, size, 1)) + rng.normal(0, 4, (size, size, 3)))
    return encode(np.clip(img, 0, 255).astype(np.uint8), "JPEG", quality=90)


def huge_png() -> bytes:
    """A tiny file that decodes to 60 megapixels (a decompression bomb for the app)."""
    return encode(Image.new("1", (10_000, 6_000)), "PNG")


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    """models/ with `default` (32px, face crop, two real examples), `cond` (labels male,
    smiling) and `broken` (a generator file cut short)."""
    root = tmp_path_factory.mktemp("models")
    default = make_tiny_bundle(root / "default", crop="face")
    examples = default / "examples" / "real"
    examples.mkdir(parents=True)
    (examples / "00.png").write_bytes(encode(drawn_face(32)))            # exported crop size
    (examples / "01.jpg").write_bytes(encode(drawn_face(160), "JPEG"))   # a full photo
    make_tiny_bundle(root / "cond", label_names=["male", "smiling"], crop="center", seed=1)
    broken = root / "zz_broken"
    shutil.copytree(default, broken)
    g = broken / "generator.keras"
    g.write_bytes(g.read_bytes()[: g.stat().st_size // 2])
    return root


GROUPS = ["ethnicity=asian", "ethnicity=black", "gender=female", "gender=male",
          "age_group=0-9", "age_group=10-29"]


@pytest.fixture(scope="session")
def groups_env(models_dir, tmp_path_factory) -> Path:
    """A models folder with the test models plus `groups`: one-hot label groups only, as
    models/groups has (no binary labels)."""
    root = tmp_path_factory.mktemp("groups_models")
    for p in models_dir.iterdir():
        shutil.copytree(p, root / p.name)
    make_tiny_bundle(root / "groups", label_names=GROUPS, crop="center", seed=2)
    return root


@pytest.fixture
def app_env(models_dir, monkeypatch) -> Path:
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(models_dir))
    return models_dir


@pytest.fixture
def media(monkeypatch) -> dict[str, bytes]:
    """Everything the app hands to Streamlit's media store (images, downloads), by file id."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    store: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def spy(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        store[file_id] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)
    return store


def media_bytes(media: dict[str, bytes], url: str) -> bytes:
    return media[os.path.splitext(url.rsplit("/", 1)[-1])[0]]


def download(at, key: str, media: dict[str, bytes]) -> bytes:
    """The bytes a download button (by key) would send."""
    button = next(b for b in at.get("download_button") if b.key == key)
    return media_bytes(media, button.proto.url)


def image_urls(at) -> list[str]:
    return [u for im in at.get("image") for u in im.value]


def new_app(page: str | None = None, timeout: float = 60):
    """AppTest of the real app, optionally switched to a page ('pages/generate.py')."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout)
    if page:
        at.switch_page(page)     # page URLs follow the file names, so this works before a run
    return at.run()


def no_exceptions(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def main_path(node, skip=("expander",)) -> list:
    """The elements under `node` (e.g. `at.main`) a visitor sees without a click: everything
    outside expanders."""
    from streamlit.testing.v1.element_tree import Block

    if isinstance(node, Block):
        if node.type in skip:
            return []
        return [e for child in node.children.values() for e in main_path(child, skip)]
    return [node]
