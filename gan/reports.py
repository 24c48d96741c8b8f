"""The JSON reports beside a bundle's card, read back: `evaluation/report.json` (written by
`python -m gan.evaluate`), `detection/report/report.json` (`python -m gan.detector`) and the
attribute directions (`python -m gan.attributes`, read by `gan.sliders.semantics`).

`read` returns a report whole, or what is wrong with it ("not valid JSON", "swd.average is
missing"), never half of one, so a page shows everything else it has and says which file is
damaged and what writes it again, instead of failing in whatever read the report first. As for
the card (`gan.card_schema`, whose wording this shares), each report's schema declares every
field that is read, with the type its reader needs; fields nobody reads are not constrained and
unknown fields are allowed. Adding a read of a new report field means declaring it here.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from gan.card_schema import INSIDE, TYPE_WORDS, json_type, problem_message

_NUMBER = {"type": "number"}
_MAYBE_NUMBER = {"type": ["number", "null"]}
_COUNT = {"type": "integer", "minimum": 0}
_TEXT = {"type": "string"}
_FIGURES = {"type": "object", "additionalProperties": {
    "type": ["string", "null"], "pattern": INSIDE["pattern"],
    "description": "a file in the report's folder (relative, without '..')"}}


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A report's schema, ready for `read`."""
    return jsonschema.Draft202012Validator(
        {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema})


# What pages/evaluate.py and gan.metrics.explain read.
EVALUATION = validator({
    "title": "evaluation report (evaluation/report.json)",
    "type": "object",
    "required": ["date", "generated", "real", "swd", "ms_ssim", "memorisation", "fid_kid",
                 "figures"],
    "properties": {
        "date": _TEXT,
        "resolution": {"type": "integer", "minimum": 1},
        "generated": {"type": "object", "required": ["images", "seed"],
                      "properties": {"images": _COUNT}},
        "real": {"type": "object", "required": ["description"]},
        "swd": {
            "type": "object",
            "required": ["average", "levels"],
            "properties": {"average": _NUMBER,
                           "levels": {"type": "object", "additionalProperties": _NUMBER},
                           "references": {"type": ["object", "null"],
                                          "additionalProperties": _NUMBER}},
        },
        "ms_ssim": {
            "type": "object",
            "required": ["generated", "real", "relative", "mode_collapse", "verdict"],
            "properties": {"generated": _NUMBER, "real": _NUMBER, "relative": _NUMBER,
                           "tolerance": _NUMBER, "mode_collapse": {"type": "boolean"}},
        },
        "memorisation": {
            "type": "object",
            "properties": {"generated_median": _NUMBER, "heldout_median": _NUMBER,
                           "train": _NUMBER, "memorisation": {"type": "boolean"},
                           "fraction_closer": _NUMBER},
            "if": {"required": ["skipped"]},
            "else": {
                "required": ["verdict", "memorisation", "generated_median", "heldout_median",
                             "generated", "heldout", "train"],
                "if": {"required": ["memorisation"],
                       "properties": {"memorisation": {"const": True}}},
                "then": {"required": ["fraction_closer"]},
            },
        },
        "fid_kid": {
            "type": "object",
            "properties": {"computed": {"type": "boolean"}, "fid": _NUMBER, "kid": _NUMBER},
            "if": {"required": ["computed"], "properties": {"computed": {"const": True}}},
            "then": {"required": ["fid", "kid"]},
        },
        # per-group figures (gan.metrics.groups): absent in older reports
        "groups": {
            "type": "object",
            "if": {"required": ["skipped"]},
            "then": {"properties": {"skipped": _TEXT}},
            "else": {
                "required": ["rows", "summary", "judge"],
                "properties": {
                    "rows": {"type": "array", "items": {
                        "type": "object", "required": ["label", "group", "heldout_photos"],
                        "properties": {"label": _TEXT, "group": _TEXT, "heldout_photos": _COUNT},
                        "if": {"required": ["skipped"]},
                        "else": {"required": ["swd", "ms_ssim_generated", "ms_ssim_real",
                                              "agreement", "agreement_target"],
                                 "properties": {k: _NUMBER for k in (
                                     "swd", "ms_ssim_generated", "ms_ssim_real", "agreement",
                                     "agreement_target")}}}},
                    "summary": {"type": "object"},
                    "judge": {"type": "object", "required": ["labels"]},
                },
            },
        },
        "figures": _FIGURES,
    },
})

# The detection report's formats: the current one (`gan.detector.report.REPORT_FORMAT`) and the
# one before it, which the detect page recognises only to say it needs a refit (its figures came
# from held-out photos of the fit's own collections, which say nothing about other photos).
DETECTION_FORMAT = "facegan-detection/2"
OLD_DETECTION_FORMATS = ("facegan-detection/1",)

_RULE = {"type": "object", "required": ["generated_at", "real_below"],
         "properties": {"generated_at": _NUMBER, "real_below": _NUMBER}}
_GROUP = {"type": "object",
          "required": ["group", "photos", "generated", "generated_share", "upper95",
                       "unsure_share", "within_rate"],
          "properties": {"group": _TEXT, "photos": _COUNT, "generated": _COUNT,
                         "generated_share": _NUMBER, "upper95": _NUMBER,
                         "unsure_share": _NUMBER, "within_rate": {"type": "boolean"}}}
_CURVE = {"type": "object",
          "required": ["change", "photos", "auc", "real_called_generated", "generated_caught",
                       "unsure_share", "real_flipped_to_generated"],
          "properties": {"change": _TEXT, "photos": _COUNT,
                         **{k: _MAYBE_NUMBER for k in (
                             "auc", "real_called_generated", "generated_caught", "unsure_share",
                             "real_flipped_to_generated")}}}
_ROBUSTNESS = {"type": "object",
               "required": ["curves", "worst_reflip", "reflip_target", "reflip_met"],
               "properties": {"curves": {"type": "array", "items": _CURVE},
                              "worst_reflip": _NUMBER, "reflip_target": _NUMBER,
                              "reflip_met": {"type": "boolean"}}}

# What pages/detect.py and gan.detector.explain read. The left-out table itself is read from
# the card (`detector.<key>.left_out`), which the detector in use goes with; the report adds
# the robustness curves and the groups, and its rule says which fit it measured.
DETECTION = validator({
    "title": "detection report (detection/report/report.json)",
    "type": "object",
    "required": ["format"],
    "properties": {"format": {"enum": [DETECTION_FORMAT, *OLD_DETECTION_FORMATS]}},
    "if": {"properties": {"format": {"const": DETECTION_FORMAT}}},
    "then": {
        "required": ["date", "target_fpr", "detectors"],
        "properties": {
            "date": _TEXT,
            "target_fpr": _NUMBER,
            "figures": _FIGURES,
            "detectors": {"type": "object", "additionalProperties": {
                "type": "object",
                "required": ["rule"],
                "properties": {"rule": _RULE,
                               "groups": {"type": "array", "items": _GROUP},
                               "robustness": _ROBUSTNESS},
            }},
        },
    },
})


@dataclass(frozen=True)
class Report:
    """One report file as read: its contents, or why they cannot be used. Neither: the file
    is not there (nothing measured yet)."""
    file: str                     # as the page names it: "evaluation/report.json"
    data: dict | None = None      # the report, when it is there and usable
    problem: str | None = None    # what is wrong with it, when it is there but unusable

    def warning(self, command: str, consequence: str = "") -> str:
        """The sentence a page shows for a damaged report: which file, what is wrong, what
        that costs (`consequence`) and the command that writes it again."""
        return " ".join(filter(None, [
            f"`{self.file}` is damaged: {self.problem}.", consequence,
            f"To write it again, run `{command}` in the project folder, then reload this page."]))


def problems(doc: Any, schema: jsonschema.Draft202012Validator) -> list[str]:
    """What is wrong with a report, one sentence per problem naming the field (empty when it
    fits the schema)."""
    if not isinstance(doc, dict):
        return [f"it holds {TYPE_WORDS.get(json_type(doc), json_type(doc))} where an object "
                f"({{...}}) belongs"]
    out: list[str] = []
    for e in sorted(schema.iter_errors(doc),
                    key=lambda e: ([str(p) for p in e.absolute_path], str(e.validator))):
        msg = problem_message(e)
        if msg not in out:
            out.append(msg)
    return out


def shown(path: Path, base: str | Path | None) -> str:
    """`path` relative to `base` when inside it ("evaluation/report.json"), else whole."""
    if base is not None:
        rel = os.path.relpath(path, base)
        if rel != ".." and not rel.startswith(".." + os.sep):
            return Path(rel).as_posix()
    return str(path)


def read(path: str | Path | None, schema: jsonschema.Draft202012Validator,
         base: str | Path | None = None) -> Report:
    """The JSON object in `path` checked against `schema` (EVALUATION, DETECTION, ...).
    No file (or `path` None): a Report with neither data nor problem. `base`: the bundle
    folder, so the file is named relative to it."""
    if path is None:
        return Report("report.json")
    path = Path(path)
    report = Report(shown(path, base))
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return report
    except OSError as e:
        return Report(report.file, problem=f"it cannot be read ({e.strerror or e})")
    if not raw.strip():
        return Report(report.file, problem="it is empty")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return Report(report.file, problem="it is not a text file")
    except ValueError as e:
        return Report(report.file, problem=f"it is not valid JSON ({e})")
    found = problems(doc, schema)
    if found:
        more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
        return Report(report.file, problem="; ".join(found[:3]) + more)
    return Report(report.file, data=doc)
