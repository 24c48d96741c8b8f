"""Damaged, malformed and malicious bundles (tests/bundle_damage.py): each is refused with a
message naming what is wrong, by the library, the CLIs and the app, without a traceback and
without running anything from it, and the good bundle beside it stays usable."""
from __future__ import annotations

import pytest

from gan.bundle import BundleError, load_bundle, read_card
from tests.app_fixtures import new_app, no_exceptions
from tests.bundle_damage import CASES, make_damaged
from tests.factories import make_tiny_bundle

IDS = [c.id for c in CASES]
OOPS = "something went wrong"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """models/ with a good `default` and every case beside it as zz_<id>:
    {id: (bundle folder, payload marker)}."""
    root = tmp_path_factory.mktemp("damaged") / "models"
    good = make_tiny_bundle(root / "default", crop="center")
    return root, {c.id: make_damaged(root, good, c) for c in CASES}


@pytest.fixture
def app_models(models, monkeypatch):
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(models[0]))
    return models[1]


def card_is_readable(path) -> bool:
    try:
        read_card(path)
        return True
    except BundleError:
        return False


def everything_shown(at) -> str:
    parts = [*at.markdown, *at.error, *at.warning, *at.caption, *at.info]
    return "\n".join(str(p.value) for p in parts)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_load_bundle_refuses_naming_what_is_wrong(models, case):
    path, marker = models[1][case.id]
    with pytest.raises(BundleError) as e:
        load_bundle(path)
    assert case.says in str(e.value)
    assert not marker.exists(), "the payload ran"


def test_the_good_bundle_beside_them_loads(models):
    assert load_bundle(models[0] / "default").resolution == 32


@pytest.mark.parametrize("cli", ["generate", "detect", "evaluate"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_clis_print_the_reason_and_exit_2(models, case, cli, capsys, tmp_path):
    import importlib

    path, marker = models[1][case.id]
    args = {"generate": ["--n", "2", "--out", str(tmp_path / "faces")],
            "detect": [str(tmp_path / "photo.png")],
            "evaluate": ["--real", str(tmp_path), "--out", str(tmp_path / "eval"), "--quiet",
                         "--no-card"]}[cli]
    code = importlib.import_module(f"gan.{cli}").main(["--model", str(path), *args])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("error: ") and case.says in err and "Traceback" not in err
    assert not (tmp_path / "faces").exists() and not (tmp_path / "eval").exists()
    assert not marker.exists(), "the payload ran"


def test_app_lists_the_good_bundle_and_says_why_the_others_cannot_be_used(models, app_models):
    at = new_app()
    no_exceptions(at)
    picker = at.sidebar.selectbox(key="model")
    assert picker.value == "default" and picker.options[0] == "default · 32px · untrained"
    assert len(picker.options) == 1 + len(CASES)
    assert "About the model in use: `default`" in [h.value for h in at.subheader]
    captions = " ".join(c.value for c in at.sidebar.caption)
    for case in CASES:
        path, _ = app_models[case.id]
        if not card_is_readable(path):          # known from the card alone: said up front
            assert f"zz_{case.id} (damaged)" in picker.options
            assert f"`zz_{case.id}` cannot be used: " in captions and case.says in captions
    assert OOPS not in everything_shown(at)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_app_choosing_a_damaged_bundle_says_why(app_models, case):
    path, marker = app_models[case.id]
    at = new_app()
    at.sidebar.selectbox(key="model").set_value(f"zz_{case.id}").run()
    no_exceptions(at)
    errors = " ".join(e.value for e in at.error)
    assert f"`zz_{case.id}` cannot be used" in errors and case.says in errors
    assert OOPS not in everything_shown(at)
    assert "default · 32px · untrained" in at.sidebar.selectbox(key="model").options
    assert not marker.exists(), "the payload ran"


@pytest.mark.parametrize("page", ["pages/generate.py", "pages/detect.py", "pages/evaluate.py"])
def test_every_page_says_why_a_malformed_card_cannot_be_used(app_models, page):
    at = new_app()
    at.sidebar.selectbox(key="model").set_value("zz_no_size").run()
    at.switch_page(page).run()
    no_exceptions(at)
    assert "model.json: preprocessing.size is missing" in " ".join(e.value for e in at.error)
    assert OOPS not in everything_shown(at)


def test_a_malformed_default_is_not_opened_first(tmp_path, monkeypatch):
    root = tmp_path / "models"
    good = make_tiny_bundle(root / "good", crop="center")
    damaged, _ = make_damaged(root, good, CASES[0])
    damaged.rename(root / "default")
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(root))
    at = new_app()
    no_exceptions(at)
    picker = at.sidebar.selectbox(key="model")
    assert picker.options == ["default (damaged)", "good · 32px · untrained"]
    assert picker.value == "good"
    assert "About the model in use: `good`" in [h.value for h in at.subheader]
    assert CASES[0].says in " ".join(c.value for c in at.sidebar.caption)
