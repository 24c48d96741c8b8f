"""Damaged report files beside a good card (issue 15): `evaluation/report.json`,
`detection/report/report.json`, `attributes/directions.json` and `attributes/report.json`, each
not JSON, cut short, empty, a list, binary, or with a field missing or of the wrong type. The
reader (`gan.reports.read`, `gan.sliders.semantics.sliders_for`) says which file and what is wrong; the
page that reads it says so with the command that writes it again, shows everything else, and
never "something went wrong". A new damage case is one line in CASES.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from gan import reports
from gan.sliders import report as sliders_report
from gan.sliders import semantics
from gan.bundle import list_bundles, load_bundle, update_card
from tests.app_fixtures import image_urls, new_app, no_exceptions

OOPS = "something went wrong"
REPO = Path(__file__).resolve().parent.parent


def read_evaluation(path: Path) -> reports.Report:
    return reports.read(path / "evaluation/report.json", reports.EVALUATION, path)


def read_detection(path: Path) -> reports.Report:
    return reports.read(path / "detection/report/report.json", reports.DETECTION, path)


def read_directions(path: Path) -> reports.Report | None:
    return semantics.sliders_for(load_bundle(path)).damaged


@dataclass(frozen=True)
class File:
    bundle: str                  # the bundle in the test models folder
    rel: str                     # the file, in that bundle
    page: str                    # the page that reads it
    command: str | None          # what the page must say writes it again (None: nobody reads it)
    read: Callable[[Path], reports.Report | None] | None    # the reader the page uses


FILES = {
    "evaluation": File("full", "evaluation/report.json", "pages/evaluate.py",
                       "python -m gan.evaluate --model models/full", read_evaluation),
    "detection": File("full", "detection/report/report.json", "pages/detect.py",
                      "python -m gan.detector fit --model models/full --sources SOURCES.json",
                      read_detection),
    "directions": File("full", "attributes/directions.json", "pages/generate.py",
                       "python -m gan.attributes --model models/full", read_directions),
    "cond_directions": File("cond", "attributes/directions.json", "pages/generate.py",
                            "python -m gan.attributes --model models/cond", read_directions),
    "attributes_report": File("full", "attributes/report.json", "pages/generate.py", None, None),
}


def text(s: str | bytes) -> Callable[[bytes], bytes]:
    return lambda good: s if isinstance(s, bytes) else s.encode()


def cut(good: bytes) -> bytes:
    return good[: len(good) // 2]


def in_list(good: bytes) -> bytes:
    return b"[" + good + b"]"


def edit(fn: Callable[[dict], object]) -> Callable[[bytes], bytes]:
    """fn changes the parsed file in place."""
    def damage(good: bytes) -> bytes:
        doc = json.loads(good)
        fn(doc)
        return json.dumps(doc).encode()
    return damage


def _parent(doc: dict, path: str) -> tuple[dict, str]:
    *parents, last = path.split(".")
    for p in parents:
        doc = doc[p]
    return doc, last


def drop(path: str) -> Callable[[bytes], bytes]:
    def fn(doc: dict) -> None:
        parent, key = _parent(doc, path)
        del parent[key]
    return edit(fn)


def put(path: str, value) -> Callable[[bytes], bytes]:
    def fn(doc: dict) -> None:
        parent, key = _parent(doc, path)
        parent[key] = value
    return edit(fn)


@dataclass(frozen=True)
class Case:
    file: str                    # a key of FILES
    id: str
    damage: Callable[[bytes], bytes]    # good bytes -> damaged bytes
    says: str                    # what the reader and the page must say is wrong (when read)


def any_file(file: str) -> list[Case]:
    """Damage that any JSON file can have."""
    return [Case(file, "not_json", text("{not json"), "is not valid JSON"),
            Case(file, "cut_short", cut, "is not valid JSON"),
            Case(file, "empty", text(""), "is empty"),
            Case(file, "binary", text(b"\x89PNG\r\n\x1a\n\0\0\xff"), "is not a text file"),
            Case(file, "list", in_list, "holds a list ([...]) where an object"),
            Case(file, "null", text("null"), "holds null where an object")]


DET = "detectors.forensic"


def first_curve(key: str, value) -> Callable[[bytes], bytes]:
    """The first robustness curve's `key` set to `value`."""
    return edit(lambda d: d["detectors"]["forensic"]["robustness"]["curves"][0].update(
        {key: value}))


CASES = [
    *any_file("evaluation"),
    Case("evaluation", "no_swd", drop("swd"), "swd is missing"),
    Case("evaluation", "average_text", put("swd.average", "low"),
         'swd.average must be a number, not a string ("low")'),
    Case("evaluation", "levels_list", put("swd.levels", [1, 2]), "swd.levels must be an object"),
    Case("evaluation", "images_text", put("generated.images", "many"), "generated.images must be"),
    Case("evaluation", "date_number", put("date", 20261202), "date must be a string"),
    Case("evaluation", "no_verdict", drop("memorisation.verdict"),
         "memorisation.verdict is missing"),
    Case("evaluation", "fid_without_value", put("fid_kid", {"computed": True}),
         "fid_kid.fid is missing"),
    Case("evaluation", "figure_outside", put("figures.swd", "../../model.json"),
         "figures.swd is \"../../model.json\"; it must be a file in the report's folder"),
    *any_file("detection"),
    Case("detection", "no_detectors", drop("detectors"), "detectors is missing"),
    Case("detection", "date_number", put("date", 20261202), "date must be a string"),
    Case("detection", "target_text", put("target_fpr", "5%"), "target_fpr must be a number"),
    Case("detection", "no_format", drop("format"), "format is missing"),
    Case("detection", "other_format", put("format", "facegan-detection/9"),
         'format is "facegan-detection/9"; it must be "facegan-detection/2"'),
    Case("detection", "rule_list", put(f"{DET}.rule", []), f"{DET}.rule must be an object"),
    Case("detection", "no_generated_at", drop(f"{DET}.rule.generated_at"),
         f"{DET}.rule.generated_at is missing"),
    Case("detection", "groups_text", put(f"{DET}.groups", "none"), f"{DET}.groups must be a list"),
    Case("detection", "curve_auc_text", first_curve("auc", "high"),
         f'{DET}.robustness.curves[0].auc must be a number or null, not a string ("high")'),
    Case("detection", "no_curves", drop(f"{DET}.robustness.curves"),
         f"{DET}.robustness.curves is missing"),
    Case("detection", "reflip_met_null", put(f"{DET}.robustness.reflip_met", None),
         f"{DET}.robustness.reflip_met must be true or false, not null"),
    *any_file("directions"),
    Case("directions", "no_vectors", drop("vectors"), "vectors is missing"),
    Case("directions", "names_text", put("names", "male"), "names must be a list"),
    Case("directions", "other_format", put("format", "facegan-directions/2"),
         'format is "facegan-directions/2"; it must be "facegan-directions/1"'),
    Case("directions", "other_latent_size", edit(lambda d: [v.pop() for v in d["vectors"]]),
         "its vectors have 15 numbers, but this generator's latent code has 16"),
    Case("directions", "one_vector_short", edit(lambda d: d["vectors"].pop()),
         "its names (2) and vectors (1) do not pair up"),
    Case("directions", "not_finite", put("vectors", [[float("nan")] * 16, [1.0] * 16]),
         "vectors holds numbers that are not finite"),
    Case("cond_directions", "not_json", text("{not json"), "is not valid JSON"),
    Case("cond_directions", "names_text", put("names", "male"), "names must be a list"),
    *any_file("attributes_report"),
    Case("attributes_report", "no_chosen", drop("chosen"), ""),
]
READ = [c for c in CASES if FILES[c.file].read is not None]


def write_directions(path: Path, names=("male", "smiling"), strength: float = 1.5) -> None:
    dim = load_bundle(path).latent_dim
    (path / "attributes").mkdir(exist_ok=True)
    (path / "attributes" / "directions.json").write_text(json.dumps({
        "format": semantics.DIRECTIONS_FORMAT, "latent_dim": dim, "names": list(names),
        "vectors": (np.eye(len(names), dim) * 2).tolist()}))
    update_card(path, attributes={"direction_strength": strength,
                                  "directions": "attributes/directions.json"})


def write_attributes_report(path: Path, names=("male", "smiling")) -> None:
    """A small attributes/report.json and the card summary `python -m gan.attributes` makes
    of it (the real measurement trains a classifier: too slow here)."""
    report = {"format": sliders_report.REPORT_FORMAT, "model": path.name, "seeds": 40,
              "date": "2026-12-02T00:00:00+00:00",
              "chosen": {"setting": "directions 1.5", "why": "test"},
              "classifier": {"heldout_accuracy": {n: 0.9 for n in names}},
              "attributes": {n: {"flip_rate": 0.9, "reidentified_rate": 0.95, "success_rate": 0.85}
                             for n in names}}
    (path / "attributes" / "report.json").write_text(json.dumps(report, indent=2))
    update_card(path, metrics={"attributes": sliders_report.card_metrics(report)})


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """models/ with `full` (unconditional: evaluated, detectors fitted and measured, attribute
    directions and their report) and `cond` (labels male, smiling, with directions)."""
    from gan.metrics.evaluate import evaluate_bundle
    from tests.detector_fixtures import fitted_bundle
    from tests.factories import make_tiny_bundle, write_photo_folder

    root = tmp_path_factory.mktemp("reports") / "models"
    photos = write_photo_folder(tmp_path_factory.mktemp("photos"), n=24, size=80)
    full = fitted_bundle(root / "full", holdout_fraction=0.4)
    update_card(full, data={"source": str(photos), "holdout": {"fraction": 0.4}})
    evaluate_bundle(full, n=16, n_pairs=20)
    write_directions(full)
    write_attributes_report(full)
    cond = make_tiny_bundle(root / "cond", label_names=["male", "smiling"], crop="center", seed=1)
    write_directions(cond)
    return root


@pytest.fixture
def damaged(models, request):
    """The case's file damaged for the test, then put back."""
    case: Case = request.param
    f = FILES[case.file]
    path = models / f.bundle / f.rel
    good = path.read_bytes()
    path.write_bytes(case.damage(good))
    try:
        yield case
    finally:
        path.write_bytes(good)


@pytest.fixture
def app_models(models, monkeypatch) -> Path:
    monkeypatch.setenv("FACEGAN_MODELS_DIR", str(models))
    return models


def page_text(at) -> str:
    parts = [*at.markdown, *at.caption, *at.info, *at.warning, *at.error]
    return "\n".join(str(p.value) for p in parts)


def open_page(bundle: str, page: str):
    at = new_app()
    at.sidebar.selectbox(key="model").set_value(bundle).run()
    at.switch_page(page).run()
    no_exceptions(at)
    return at


# ---- the readers ----

@pytest.mark.slow
@pytest.mark.parametrize("name", [k for k, f in FILES.items() if f.read])
def test_good_reports_are_read_whole(models, name):
    f = FILES[name]
    found = f.read(models / f.bundle)
    if name.endswith("directions"):
        assert found is None
        assert semantics.sliders_for(load_bundle(models / f.bundle)).directions
    else:
        assert found.problem is None and found.data and found.file == f.rel


@pytest.mark.slow
@pytest.mark.parametrize("damaged", READ, ids=[f"{c.file}-{c.id}" for c in READ], indirect=True)
def test_the_reader_names_the_file_and_what_is_wrong(models, damaged):
    f = FILES[damaged.file]
    found = f.read(models / f.bundle)
    assert found is not None and found.data is None and found.file == f.rel
    assert damaged.says in found.problem
    assert found.warning(f.command).startswith(f"`{f.rel}` is damaged: ")


def test_a_missing_report_is_not_damaged_but_a_missing_directions_file_is(tmp_path):
    assert reports.read(tmp_path / "report.json", reports.EVALUATION, tmp_path) == reports.Report(
        "report.json")
    assert reports.read(None, reports.DETECTION) == reports.Report("report.json")
    card = {"attributes": {"directions": "attributes/directions.json"}}
    directions, found = semantics.load_directions(tmp_path, card, 16)
    assert directions == {} and found.file == "attributes/directions.json"
    assert found.problem == "it is missing"


SHIPPED_REPORTS = [(p, rel, v) for p in list_bundles(REPO / "models")
                   for rel, v in (("evaluation/report.json", reports.EVALUATION),
                                  ("detection/report/report.json", reports.DETECTION))
                   if (p / rel).is_file()]


@pytest.mark.parametrize("bundle, rel, schema", SHIPPED_REPORTS,
                         ids=[f"{p.name}-{rel}" for p, rel, _ in SHIPPED_REPORTS])
def test_shipped_reports_fit_their_schemas(bundle, rel, schema):
    found = reports.read(bundle / rel, schema, bundle)
    assert found.problem is None and found.data


# ---- the pages ----

@pytest.mark.slow
@pytest.mark.parametrize("damaged", [pytest.param(c, id=f"{c.file}-{c.id}") for c in CASES], indirect=True)
def test_the_page_says_which_file_and_how_to_write_it_again(app_models, damaged):
    f = FILES[damaged.file]
    at = open_page(f.bundle, f.page)
    shown = page_text(at)
    assert OOPS not in shown
    warnings = [w.value for w in at.warning if f"`{f.rel}` is damaged" in w.value]
    if f.command is None:                   # nothing reads it: the page is as it was
        assert not warnings and f.rel not in shown
    else:
        assert len(warnings) == 1, shown
        assert damaged.says in warnings[0] and f"`{f.command}`" in warnings[0]
    # ... and everything else is still there
    if f.page == "pages/evaluate.py":
        assert at.subheader[0].value == f"`{f.bundle}`"
        asked = [q for t in at.table for q in t.value["Question"]]     # the card's copy, in words
        assert "How close are its faces to real photos?" in asked
    elif f.page == "pages/detect.py":
        assert any("**In use:" in m.value for m in at.markdown)
        assert at.file_uploader(key="uploads")
    else:
        assert len(image_urls(at)) == 16 and at.get("download_button")
        sliders = [s.label for s in at.slider if s.key.startswith("attr_")]
        if damaged.file == "directions":
            assert sliders == [] and "So this model has no attribute sliders." in warnings[0]
        elif damaged.file == "cond_directions":
            assert sliders == ["Female ↔ male", "Not smiling ↔ smiling"]
            assert "label inputs only" in warnings[0]
        else:
            assert sliders == ["Female ↔ male", "Not smiling ↔ smiling"]
            assert "85% of faces (female ↔ male)" in shown   # the card's summary of the report


@pytest.mark.slow
@pytest.mark.parametrize("page", ["pages/evaluate.py", "pages/detect.py", "pages/generate.py"])
def test_good_reports_give_no_warning(app_models, page):
    at = open_page("full", page)
    assert "is damaged" not in page_text(at) and OOPS not in page_text(at)


@pytest.mark.slow
def test_home_is_unaffected_by_damaged_reports(app_models):
    paths = [app_models / f.bundle / f.rel for f in FILES.values() if f.bundle == "full"]
    good = {p: p.read_bytes() for p in paths}
    try:
        for p in paths:
            p.write_text("{not json")
        at = new_app()
        at.sidebar.selectbox(key="model").set_value("full").run()
        no_exceptions(at)
        assert "About the model in use: `full`" in [h.value for h in at.subheader]
        assert OOPS not in page_text(at) and at.table
    finally:
        for p, data in good.items():
            p.write_bytes(data)
