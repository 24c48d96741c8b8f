"""The bad-input corpus (tests/bad_inputs.py) through the three ways in: `python -m gan.detect`,
training ingestion (`load_faces`) and the detect page. Each case gets its clear error kind or is
a valid face, and nothing hangs, crashes or takes the good files down with it."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from app_support import detection
from tests import bad_inputs as corpus
from tests.app_fixtures import REPO, download, models_dir, new_app, no_exceptions  # noqa: F401
from tests.bad_inputs import FACE, IGNORED


def ids(cases):
    return [c.id for c in cases]


@pytest.fixture(scope="module")
def cli_rows(models_dir, tmp_path_factory):  # noqa: F811
    """{case id: JSON line} from one run of the CLI over every CLI case, in a fresh process."""
    folder = tmp_path_factory.mktemp("cli_corpus")
    cases = corpus.cases("cli")
    paths = [str(corpus.write(c, folder)) for c in cases]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, "-m", "gan.detect", "--model", str(models_dir / "default"),
                          *paths], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in run.stderr, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["path"] for r in rows] == paths             # one line per input, in order
    assert run.returncode == 0
    return {c.id: r for c, r in zip(cases, rows)}


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    from gan.data import load_faces

    folder = tmp_path_factory.mktemp("train_corpus")
    for c in corpus.cases("train"):
        corpus.write(c, folder)
    return load_faces(folder, size=32, crop="face", cache_dir=False, n_jobs=1, progress=False)


@pytest.fixture(scope="module")
def page_rows(models_dir):  # noqa: F811
    """{case id: the page's row, as its CSV download has it} from uploading every page case, a
    full batch at a time; the page's own table shows one row per file too."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    cases = corpus.cases("app")
    out, media = {}, {}
    store = MemoryMediaFileStorage.load_and_get_id

    def spy(self, data, mimetype, kind, filename=None):
        media[file_id := store(self, data, mimetype, kind, filename)] = data
        return file_id

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACEGAN_MODELS_DIR", str(models_dir))
        mp.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)
        at = new_app("pages/detect.py")
        for start in range(0, len(cases), detection.MAX_FILES):
            chunk = cases[start:start + detection.MAX_FILES]
            at.file_uploader(key="uploads").set_value(
                [(c.name, c.data(), "application/octet-stream") for c in chunk]).run()
            no_exceptions(at)
            assert len(at.table[0].value) == len(chunk)
            rows = list(csv.DictReader(io.StringIO(download(at, "csv", media).decode())))
            assert len(rows) == len(chunk)
            out.update({c.id: row for c, row in zip(chunk, rows)})
    return out


@pytest.mark.slow
@pytest.mark.parametrize("case", corpus.cases("cli"), ids=ids(corpus.cases("cli")))
def test_cli(case, cli_rows):
    row = cli_rows[case.id]
    if case.cli == FACE:
        assert row["face_found"] is True and 0 <= row["p_generated"] <= 1, row
        assert "error" not in row
    else:
        assert row["error_kind"] == case.cli and row["error"], row
        assert "p_generated" not in row


@pytest.mark.parametrize("case", corpus.cases("train"), ids=ids(corpus.cases("train")))
def test_training(case, training):
    skipped = {s["file"]: s["kind"] for s in training.report["skipped"]}
    if case.train == FACE:
        assert case.file_name in training.keys, skipped.get(case.file_name)
        assert training.face_found[training.keys.index(case.file_name)]
    elif case.train == IGNORED:
        assert case.file_name not in training.keys and case.file_name not in skipped
    else:
        assert case.file_name not in training.keys and skipped.get(case.file_name) == case.train


@pytest.mark.parametrize("case", corpus.cases("app"), ids=ids(corpus.cases("app")))
def test_page(case, page_rows):
    row = page_rows[case.id]
    if case.app == FACE:
        assert row["status"] == "scored" and row["face_found"] == "yes", row["message"]
    else:
        assert row["status"] == case.app and row["message"], row["message"]
