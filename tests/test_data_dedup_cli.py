"""`python -m gan.data dedup` finds a copied photo, and gan.data.dedup stays a leaf module
(the loader imports it, never the other way round)."""
from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

from gan.data.__main__ import main
from tests.factories import write_photo_folder

REPO = Path(__file__).resolve().parent.parent


def test_dedup_command_lists_a_copied_photo(tmp_path, capsys):
    photos = write_photo_folder(tmp_path / "photos", n=6)
    shutil.copy(photos / "img_002.jpg", photos / "copy_of_2.jpg")
    out = tmp_path / "pairs.json"
    assert main(["dedup", str(photos), "--crop", "center", "--size", "64", "--n-jobs", "1",
                 "--json", str(out), "--sheet", str(tmp_path / "sheet.png")]) == 0
    assert "near-duplicate pairs" in capsys.readouterr().out
    pairs = json.loads(out.read_text())
    assert any({p["a"].split("::")[1], p["b"].split("::")[1]} == {"img_002.jpg", "copy_of_2.jpg"}
               for p in pairs)
    assert (tmp_path / "sheet.png").stat().st_size > 0


def test_dedup_imports_nothing_of_gan():
    tree = ast.parse((REPO / "gan" / "data" / "dedup.py").read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m.startswith(("gan", "dataset", ".")) or m == ""]
