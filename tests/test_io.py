"""Report folders and bundles are replaced whole: an error while writing leaves the old folder
as it was and no staging litter (what a user sees after a crashed `gan.evaluate` run)."""
from __future__ import annotations

import pytest

from gan.io import staged_dir, write_files


def test_staged_dir_replaces_the_folder_on_success(tmp_path):
    out = tmp_path / "evaluation"
    write_files(out, {"report.json": b"old", "old_figure.png": b"x"})
    with staged_dir(out) as tmp:
        write_files(tmp, {"report.json": b"new", "figs/swd.png": b"y"})
    assert (out / "report.json").read_bytes() == b"new"
    assert (out / "figs" / "swd.png").read_bytes() == b"y"
    assert not (out / "old_figure.png").exists()        # never new figures beside old ones
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evaluation"]


def test_staged_dir_keeps_the_old_folder_when_writing_fails(tmp_path):
    out = tmp_path / "evaluation"
    write_files(out, {"report.json": b"old"})
    with pytest.raises(RuntimeError):
        with staged_dir(out) as tmp:
            write_files(tmp, {"report.json": b"half"})
            raise RuntimeError("figure failed")
    assert (out / "report.json").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evaluation"]
