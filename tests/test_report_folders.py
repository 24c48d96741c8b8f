"""The measuring CLIs write their report folders whole, replacing only an older report: a
folder of the user's own files given as the output is refused before any work, and kept."""
from __future__ import annotations

import pytest

from tests.factories import make_tiny_bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("models") / "tiny")


def _users_folder(path):
    path.mkdir(parents=True, exist_ok=True)
    (path / "notes.txt").write_text("mine")
    return path


@pytest.mark.parametrize("cli", ["evaluate", "attributes", "detector"])
def test_a_folder_of_user_files_is_refused_and_kept(cli, bundle, tmp_path, capsys):
    if cli == "evaluate":
        from gan.evaluate import main

        target = _users_folder(tmp_path / "out")
        rc = main(["--model", str(bundle), "--out", str(target), "--n", "8", "--quiet"])
    elif cli == "attributes":
        from gan.attributes import main

        target = _users_folder(tmp_path / "out")      # before the photos are looked for
        rc = main(["--model", str(bundle), "--out", str(target), "--n", "8", "--quiet"])
    else:
        from gan.detector.__main__ import main

        target = _users_folder(bundle / "detection" / "report")
        manifest = tmp_path / "sources.json"      # never read: the refusal comes first
        rc = main(["report", "--model", str(bundle), "--sources", str(manifest), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "notes.txt" in err and "nothing was written" in err
    assert "Traceback" not in err
    assert (target / "notes.txt").read_text() == "mine"
