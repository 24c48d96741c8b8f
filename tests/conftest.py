"""Shared test fixtures: small synthetic face photos the tests make themselves (drawn by
`tests.factories.draw_face`, the one face drawer of the tests), and a folder for files a person
may want to look at.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.factories import draw_face  # noqa: E402  (the one face drawer; re-exported here)


@pytest.fixture
def face_photo():
    """Factory: ``face_photo(width=96, height=96, seed=0, ...)`` -> PIL image (see draw_face)."""
    return draw_face


@pytest.fixture
def write_faces():
    """Factory: ``write_faces(folder, n, size=(72, 72), ext=".jpg", names=None, seed=0)``
    writes ``n`` synthetic face photos (JPEG quality 90 unless ``ext`` says otherwise)
    and returns their paths. ``names``: file names to use instead of face_000.jpg..."""

    def write(folder, n, size=(72, 72), ext=".jpg", names=None, seed=0, **draw_kw):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for i in range(n):
            name = names[i] if names is not None else f"face_{i:03d}{ext}"
            p = folder / name
            p.parent.mkdir(parents=True, exist_ok=True)
            img = draw_face(size[0], size[1], seed=seed + i, **draw_kw)
            fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP"}[
                p.suffix.lower()]
            img.save(p, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
            paths.append(p)
        return paths

    return write


@pytest.fixture(autouse=True, scope="session")
def _private_data_cache(tmp_path_factory):
    """Tests never write into the user's ~/.cache/facegan: the decode cache goes to a temp
    folder for the whole session."""
    import os

    old = os.environ.get("FACEGAN_CACHE")
    os.environ["FACEGAN_CACHE"] = str(tmp_path_factory.mktemp("facegan-cache"))
    yield
    if old is None:
        os.environ.pop("FACEGAN_CACHE", None)
    else:
        os.environ["FACEGAN_CACHE"] = old


ARTIFACTS_ENV = "FACEGAN_TEST_ARTIFACTS"


@pytest.fixture
def artifacts(request, tmp_path) -> Path:
    """Where a test puts files for a person to look at (screenshots, contact sheets): the
    test's own temporary folder, or ``$FACEGAN_TEST_ARTIFACTS/<test name>`` to keep them.
    Tests never write into the repository. The folder is printed (shown with ``-rP`` or ``-s``)."""
    import os

    keep = os.environ.get(ARTIFACTS_ENV)
    folder = Path(keep) / request.node.name if keep else tmp_path / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"{request.node.nodeid}: files to look at in {folder}")
    return folder
