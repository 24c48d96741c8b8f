"""The model card's schema: every field of `model.json` that code reads, declared once.

`gan.bundle.read_card` checks a card against it before anything else reads the card, so a
malformed card is refused with the field that is wrong ("preprocessing.size is missing")
instead of failing later with a KeyError in whatever read it first. Fields the code never reads
are not constrained, and unknown fields are allowed, so notes and new sections do not break
older checkouts. Adding a read of a new card field means declaring it here.

Checked with jsonschema (JSON Schema draft 2020-12), a well-kept validator whose errors carry
the path of the offending field.
"""
from __future__ import annotations

import json
import re
from typing import Any

import jsonschema

CROP_MODES = ["face", "center", "none"]      # gan.data.preprocess.CROP_MODES (a test checks)

_INT = {"type": "integer"}
_COUNT = {"type": "integer", "minimum": 0}
_NUMBER = {"type": "number"}
_SECONDS = {"type": "number", "minimum": 0}
_TEXT = {"type": "string"}
_MAYBE_TEXT = {"type": ["string", "null"]}
_PROBABILITY = {"type": "number", "minimum": 0, "maximum": 1}
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$",
           "description": "a SHA-256 in hexadecimal (64 characters 0-9, a-f)"}
# A file of the bundle, relative to its folder and inside it: no absolute path, no "..".
INSIDE = {"type": "string", "pattern": r"^(?![/\\])(?![A-Za-z]:)(?!.*(^|[/\\])\.\.([/\\]|$)).+$",
           "description": "a path inside the bundle folder (relative, without '..')"}
_AUDIT_SHARE = {"type": "object", "required": ["broken", "labelled"],
                "properties": {"broken": _COUNT, "labelled": _COUNT,
                               "broken_share": {**_PROBABILITY, "type": ["number", "null"]},
                               "ci95": {"type": ["array", "null"], "items": _PROBABILITY}}}
_AUDIT = {"type": ["object", "null"],
          "required": ["dir", "sheet", "generator_sha256", "generated", "real"],
          "properties": {"dir": INSIDE, "sheet": INSIDE, "scored": _TEXT,
                         "generator_sha256": _SHA256, "seed": _COUNT,
                         "truncation": _NUMBER, "as": _MAYBE_TEXT, "real_source": _TEXT,
                         "generated": _AUDIT_SHARE, "real": _AUDIT_SHARE}}
_REPORT_DIR = {"type": ["object", "null"],
               "properties": {"dir": _TEXT, "report": _TEXT}}
# Platt scaling of a detector's raw score (higher = generated): p = sigmoid(a * score + b).
# "logit" is how cards fitted before that convention stored the discriminator's line
# (gan.detector.calibrate.probability reads both).
_CALIBRATION = {
    "type": ["object", "null"],
    "properties": {"method": _TEXT, "a": _NUMBER, "b": _NUMBER,
                   "input": {"enum": ["score", "logit"]}},
    "if": {"type": "object", "properties": {"method": {"const": "platt"}}, "required": ["method"]},
    "then": {"required": ["a", "b"]},
}

# A verdict rule (gan.detector.verdict.Rule): generated at or above one P, real below another.
# generated_at may sit just above 1 when no P qualifies: then nothing is called generated.
_RULE = {"type": "object", "required": ["generated_at", "real_below"],
         "properties": {"generated_at": {"type": "number", "minimum": 0, "maximum": 1.000001},
                        "real_below": _PROBABILITY}}
# The leave-one-source-out figures (gan.detector.fit): one row per source.
_LEFT_OUT = {"type": "object", "required": ["rows"],
             "properties": {"rows": {"type": "array", "items": {
                 "type": "object", "required": ["source", "kind", "scored"],
                 "properties": {"source": _TEXT, "kind": {"enum": ["real", "generated"]},
                                "scored": _COUNT}}}}}

# A detector fitted by gan.detector.fit and stored in a file of the bundle.
_FITTED_DETECTOR = {
    "type": ["object", "null"],
    "properties": {"file": INSIDE, "threshold": _PROBABILITY,
                   "calibration": _CALIBRATION, "note": _TEXT, "rule": _RULE,
                   "left_out": _LEFT_OUT},
    "if": {"type": "object", "required": ["file"]},
    "then": {"required": ["threshold"]},
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "FaceGAN model card (model.json)",
    "type": "object",
    "required": ["format", "format_version", "config", "preprocessing", "files"],
    "properties": {
        "format": {"const": "facegan-bundle"},
        "format_version": {"type": "integer", "minimum": 1},
        "created": _TEXT,
        "notes": _TEXT,
        "config": {
            "type": "object",
            "required": ["latent_dim"],
            "properties": {
                "latent_dim": {"type": "integer", "minimum": 1},
                "resolution": {"type": "integer", "minimum": 1},
                "crop": {"enum": CROP_MODES},
                "holdout_fraction": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
                "seed": _INT,
                "labels": _MAYBE_TEXT,
                "dedup": {"type": "boolean"},
                "g_channels": {"type": "integer", "minimum": 1},
            },
        },
        "preprocessing": {
            "type": "object",
            "required": ["size", "crop"],
            "properties": {
                "size": {"type": "integer", "minimum": 1},
                "crop": {"enum": CROP_MODES},
                "range": {"type": "array", "items": _NUMBER, "minItems": 2, "maxItems": 2},
                "version": _INT,
            },
        },
        "labels": {
            "type": "object",
            "properties": {"names": {"type": "array", "items": {"type": "string", "minLength": 1},
                                     "uniqueItems": True},
                           # per name, FaceData.label_kind (gan.card.label_kinds reads it)
                           "kinds": {"type": "array",
                                     "items": {"enum": ["binary", "onehot", "numeric"]}},
                           # one-hot groups: label -> its groups in column order (gan.card)
                           "groups": {"type": "object",
                                      "additionalProperties": {"type": "array", "items": _TEXT,
                                                               "minItems": 1}},
                           # the training photos' distinct label rows and counts (gan.card)
                           "frequencies": {"type": "object", "required": ["rows", "counts"],
                                           "properties": {
                                               "rows": {"type": "array",
                                                        "items": {"type": "array", "items": _NUMBER}},
                                               "counts": {"type": "array", "items": _COUNT},
                                               "draws": {"type": "array", "items": _NUMBER},
                                               "of": _TEXT, "draws_of": _TEXT}}},
        },
        # how a compact discriminator is stored and how far its score moved (gan.compact)
        "storage": {"type": "object",
                    "properties": {"discriminator": _TEXT, "float16_bytes": _COUNT,
                                   "logit_change": {"type": "object"}}},
        "files": {
            "type": "object",
            "required": ["generator.keras"],
            # the discriminator as float16 Keras file or stored compact (gan.bundle)
            "anyOf": [{"required": ["discriminator.keras"]}, {"required": ["discriminator.npz"]}],
            "description": "a listing of the model files with discriminator.keras or discriminator.npz",
            "propertyNames": INSIDE,
            "additionalProperties": {
                "type": "object",
                "required": ["bytes", "sha256"],
                "properties": {"bytes": _COUNT, "sha256": _SHA256},
            },
        },
        "training": {
            "type": "object",
            "properties": {
                "steps": {"type": ["integer", "null"], "minimum": 0},
                "images_seen": _COUNT,
                "seconds": _SECONDS,
                "cpu_seconds": _SECONDS,
                "cpu_counted_from_step": _COUNT,
                "total_steps": _COUNT,
                "total_seconds": _SECONDS,
                "total_cpu_seconds": _SECONDS,
                "init_from": {
                    "type": ["object", "null"],
                    "properties": {"bundle": _TEXT, "steps": _COUNT, "seconds": _SECONDS,
                                   "cpu_seconds": _SECONDS, "generator_sha256": _MAYBE_TEXT,
                                   # a bundle of other labels: its labels, the layers started fresh
                                   "labels": {"type": "array", "items": _TEXT},
                                   "started_fresh": {"type": "array", "items": _TEXT}},
                },
            },
        },
        "data": {
            "type": ["object", "null"],
            "properties": {
                "source": _MAYBE_TEXT,
                "train_images": _COUNT,
                "images": _COUNT,
                "holdout": {"type": ["object", "null"], "properties": {"images": _COUNT}},
            },
        },
        "metrics": {
            "type": ["object", "null"],
            "properties": {"attributes": {"type": ["object", "null"]}},
        },
        "attributes": {
            "type": ["object", "null"],
            "properties": {
                "names": {"type": ["array", "null"], "items": _TEXT},
                "slider_reach": _NUMBER,
                "direction_strength": _NUMBER,
                "directions": {**INSIDE, "type": ["string", "null"]},
                "dir": _TEXT,
                "report": _TEXT,
            },
        },
        "evaluation": _REPORT_DIR,
        # The projection's encoder (gan.encoder): its file and the generator it was fitted to.
        "projection": {
            "type": ["object", "null"],
            "properties": {"encoder": {
                "type": ["object", "null"],
                "required": ["file", "generator_sha256"],
                "properties": {"file": INSIDE, "generator_sha256": _SHA256,
                               "faces": _COUNT, "epochs": _COUNT, "seconds": _SECONDS,
                               "z_r2": _NUMBER, "label_accuracy": _PROBABILITY}}},
        },
        # The latest blind audit of this generator's faces (gan.metrics.audit.record).
        "audit": _AUDIT,
        # ... and of each group's faces, by "label=group" (python -m gan.audit sheet --group).
        "audit_groups": {"type": ["object", "null"], "additionalProperties": _AUDIT},
        "examples": {"type": ["object", "null"],
                     "properties": {"note": _TEXT, "real": _COUNT}},
        "detector": {
            "type": ["object", "null"],
            "properties": {
                "calibration": _CALIBRATION,
                "threshold": _PROBABILITY,
                "target_fpr": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                "default": {"enum": ["panel", "dfeatures", "learned", "forensic", "discriminator"]},
                "note": _TEXT,
                "threshold_rule": _MAYBE_TEXT,
                # The face finders the fit framed faces with (gan.data.landmarks.ALL_FINDERS, in
                # order); uploads are framed with the same. Absent: fitted before MTCNN joined.
                "finders": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "measured": {"type": ["object", "null"],
                             "properties": {"names": {"type": ["object", "null"]}}},
                "report": _REPORT_DIR,
                "forensic": _FITTED_DETECTOR,
                "dfeatures": _FITTED_DETECTOR,
                # The discriminator's layers trained on as a classifier (gan.detector.learned),
                # measured leave-sources-out in folds.
                "learned": {**_FITTED_DETECTOR, "properties": {
                    **_FITTED_DETECTOR["properties"], "steps": _COUNT, "folds": _COUNT,
                    "ood_file": INSIDE}},
                # The learned detector and the discriminator together (gan.detector.panel):
                # each member's P mapped to its rank among left-out real photos ("ranks":
                # non-decreasing P at evenly spaced rank levels), the higher rank scored.
                "panel": {
                    "type": ["object", "null"],
                    "required": ["ranks", "rule", "threshold"],
                    "properties": {
                        "members": {"type": "array", "items": {"enum": ["learned", "discriminator"]}},
                        "ranks": {"type": "object", "required": ["learned", "discriminator"],
                                  "properties": {k: {"type": "array", "minItems": 2,
                                                     "items": {"type": "number"}}
                                                 for k in ("learned", "discriminator")}},
                        "threshold": _PROBABILITY, "note": _TEXT, "rule": _RULE,
                        "left_out": _LEFT_OUT},
                },
                "discriminator": {
                    "type": ["object", "null"],
                    "properties": {"threshold": _PROBABILITY, "calibration": _CALIBRATION,
                                   "note": _TEXT, "rule": _RULE, "left_out": _LEFT_OUT},
                },
                # The discriminator trained on against its finished generator (gan.detector.tuned);
                # when listed, the "discriminator" detector's figures are of it.
                "discriminator_tuned": {
                    "type": ["object", "null"],
                    "properties": {"file": INSIDE, "steps": _COUNT, "photos": _COUNT, "note": _TEXT},
                    "if": {"type": "object", "required": ["file"]},
                    "then": {"required": ["steps"]},
                },
                "sources": {"type": "array", "items": {
                    "type": "object", "required": ["name", "kind"],
                    "properties": {"name": _TEXT, "kind": {"enum": ["real", "generated"]},
                                   "photos": _COUNT, "faces_found": _COUNT}}},
            },
        },
    },
}

_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

TYPE_WORDS = {"object": "an object ({...})", "array": "a list ([...])", "string": "a string",
               "integer": "a whole number", "number": "a number", "boolean": "true or false",
               "null": "null"}


def field_path(path) -> str:
    """['files', 'generator.keras', 'bytes'] -> 'files["generator.keras"].bytes'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out or "the card"


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages (shared with gan.reports)."""
    for name, types in (("null", type(None)), ("boolean", bool), ("integer", int),
                        ("number", float), ("string", str), ("array", list), ("object", dict)):
        if isinstance(value, types):
            return name
    return type(value).__name__


def _shown(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (str, int, float, bool)) else json_type(value)
    return text if len(text) <= 60 else text[:57] + "..."


def problem_message(error: jsonschema.ValidationError) -> str:
    """One schema error in plain words, naming the field (shared with gan.reports)."""
    where, value, kind = field_path(error.absolute_path), error.instance, error.validator
    if kind == "required":
        missing = [k for k in error.validator_value if k not in value]
        return "; ".join(f"{field_path([*error.absolute_path, k])} is missing" for k in missing)
    if kind == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [
            error.validator_value]
        words = " or ".join(TYPE_WORDS[t] for t in wanted)
        got = TYPE_WORDS.get(json_type(value), json_type(value))
        shown = f" ({_shown(value)})" if isinstance(value, (str, int, float)) else ""
        return f"{where} must be {words}, not {got}{shown}"
    if "propertyNames" in error.absolute_schema_path:
        return f"{where} names {_shown(value)}, which is not {INSIDE['description']}"
    if kind in ("const", "enum"):
        allowed = [error.validator_value] if kind == "const" else error.validator_value
        return f"{where} is {_shown(value)}; it must be " + " or ".join(map(json.dumps, allowed))
    if "description" in error.schema:
        return f"{where} is {_shown(value)}; it must be {error.schema['description']}"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
                 "exclusiveMaximum": "less than"}[kind]
        return f"{where} is {_shown(value)}; it must be {words} {error.validator_value}"
    if kind == "uniqueItems":
        return f"{where} lists the same name twice"
    return f"{where}: {error.message}"


def problems(card: Any) -> list[str]:
    """What is wrong with a card, one sentence per problem naming the field (empty when it
    fits the schema), in field order."""
    if not isinstance(card, dict):       # one clear sentence, not one per missing field
        return [f"the card must be {TYPE_WORDS['object']}, not "
                f"{TYPE_WORDS.get(json_type(card), json_type(card))}"]
    errors = sorted(_VALIDATOR.iter_errors(card),
                    key=lambda e: ([str(p) for p in e.absolute_path], str(e.validator)))
    out: list[str] = []
    for e in errors:
        msg = problem_message(e)
        if msg not in out:
            out.append(msg)
    return out
