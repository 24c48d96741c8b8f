"""The bundles shipped in models/ are what a fresh clone runs on: each must be whole (every file
its card lists present with the right hash) and none of its files may be git-ignored, or a clone
would lack it (a bundle's detector is an .npz, which .gitignore once dropped)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from gan import card_schema
from gan.bundle import list_bundles, read_card, verify_files

REPO = Path(__file__).resolve().parent.parent
SHIPPED = list_bundles(REPO / "models")


def test_a_default_bundle_is_shipped():
    assert SHIPPED and SHIPPED[0].name == "default", "models/default is what the app opens first"


@pytest.mark.parametrize("bundle", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_card_fits_the_schema(bundle):
    card = json.loads((bundle / "model.json").read_text())
    assert card_schema.problems(card) == []


@pytest.mark.parametrize("bundle", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_bundle_is_whole(bundle):
    card = read_card(bundle)
    verify_files(bundle, card)          # every listed file, sizes and SHA-256


@pytest.mark.parametrize("bundle", SHIPPED, ids=[p.name for p in SHIPPED])
def test_no_file_of_a_shipped_bundle_is_git_ignored(bundle):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    names = sorted(read_card(bundle)["files"]) + ["model.json"]
    paths = [str((bundle / n).relative_to(REPO)) for n in names]
    r = subprocess.run(["git", "check-ignore", *paths], cwd=REPO, capture_output=True, text=True)
    assert r.stdout.strip() == "", f"git-ignored, a clone would lack them: {r.stdout}"


def test_the_shipped_bundles_stay_within_the_repositorys_60_mb():
    """Everything under models/ (what a clone downloads for the app) is at most 60 MB."""
    total = sum(f.stat().st_size for f in (REPO / "models").rglob("*") if f.is_file())
    assert total <= 60_000_000, f"models/ holds {total / 1e6:.1f} MB"
