"""A blind audit of face quality by eye: `python -m gan.audit`.

    python -m gan.audit sheet --model models/default --out DIR [--n 64] [--seed 0] [--real-seed 0]
                              [--group LABEL=GROUP]
                              [--truncation 1.0]
    python -m gan.audit score --dir DIR [--labels FILE]
    python -m gan.audit record --dir DIR --model models/default
    python -m gan.audit pair --model A --model B --out DIR [--n 64] [--seed 0] [--real-seed 0]

`sheet` writes DIR/sheet.png (N generated faces, as the app's generate page shows them by
default, shuffled among N held-out real photos of the bundle, each numbered), DIR/faces/NNN.png
(each face alone), DIR/labels.csv (number,label with the labels blank) and DIR/key.json (which
number is which kind, and what was drawn). Label every number intact or broken without opening
the key, then `score` prints the broken share of generated and of real faces (95% Wilson
intervals) and writes DIR/result.json; `record` keeps the scored audit with the bundle
(<model>/audit/ and the card), where the Model quality and home pages show it. `pair` compares
two bundles blind: one sheet each, in DIR/X and DIR/Y, which is which decided by a coin and
written to DIR/pair.json; label both, then `score --dir DIR` scores both and names each bundle.
This is the command line only: the audit itself is `gan.metrics.audit`.
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from gan.bundle import BundleError  # noqa: E402
from gan.cli import seed_number  # noqa: E402
from gan.io import ReplaceRefused  # noqa: E402
from gan.metrics.audit import (  # noqa: E402
    DEFAULT_N,
    KEY,
    KINDS,
    LABELS,
    PAGE_SEED,
    PAGE_TRUNCATION,
    PAIR,
    RESULT,
    SHEET,
    SIDES,
    AuditError,
    make_pair,
    make_sheet,
    read_key,
    record,
    score,
    score_pair,
)


def summary(result: dict) -> str:
    """The result in a few lines for the terminal."""
    lines = []
    for kind in KINDS:
        r = result[kind]
        if r["labelled"]:
            lo, hi = r["ci95"]
            lines.append(f"{kind}: {r['broken']} of {r['labelled']} broken "
                         f"({r['broken_share']:.0%}, 95% interval {lo:.0%} to {hi:.0%})")
        else:
            lines.append(f"{kind}: none labelled")
    lines.append(f"unlabelled: {result['unlabelled']}")
    return "\n".join(lines)


def neutral_labels_note(model: str, key: dict) -> None:
    """Sheets of two bundles compare only when their faces' labels are drawn alike: say so when
    this bundle's card has no label frequencies, so every face was drawn at 0.5."""
    labels = key["generated"].get("labels")
    if isinstance(labels, dict) and "drawn" not in labels:
        print(f"note: {model}'s card has no label frequencies, so every face is drawn at "
              f"{labels}; a bundle whose card has them draws each face's labels as the training "
              f"photos have them, and its sheet is not comparable with this one. Export the "
              f"bundle again from its run (python train.py --out RUNDIR --export DIR) to record "
              f"them.", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gan.audit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sheet", help="draw the numbered sheet, the labels template and the key")
    s.add_argument("--model", default="models/default",
                   help="bundle folder (default: models/default)")
    s.add_argument("--out", required=True, help="audit folder to write (new, empty or an "
                                                "unlabelled audit folder)")
    s.add_argument("--n", type=int, default=DEFAULT_N,
                   help=f"generated faces, and as many real photos (default {DEFAULT_N})")
    s.add_argument("--seed", type=seed_number, default=PAGE_SEED,
                   help=f"seed of the generated faces, as on the generate page "
                        f"(default {PAGE_SEED})")
    s.add_argument("--real-seed", type=seed_number, default=0,
                   help="which held-out photos are drawn (default 0)")
    s.add_argument("--truncation", type=float, default=PAGE_TRUNCATION,
                   help="variety of the generated faces, the generate page's slider (default "
                        f"{PAGE_TRUNCATION}, the page's default: what visitors see)")
    s.add_argument("--group", default=None, metavar="LABEL=GROUP",
                   help="faces of one group only, e.g. ethnicity=black: each generated face gets "
                        "the labels of one of that group's held-out photos, and the real half "
                        "is that group's held-out photos (score each group's broken share)")
    s.add_argument("--drs", type=float, default=None, metavar="PERCENTILE",
                   help="draw the generated faces by discriminator rejection sampling, gamma at "
                        "this percentile (95 in Azadi et al. 2019); such an audit measures the "
                        "filter and is not recorded with the model (the app does not use it)")
    s.add_argument("--quiet", action="store_true")
    r = sub.add_parser("record", help="keep a scored audit with the bundle it audited (its "
                                      "pages then show the figure and the sheet)")
    r.add_argument("--dir", required=True, help="the scored audit folder")
    r.add_argument("--model", default="models/default",
                   help="the bundle whose faces were audited (default: models/default)")
    pr = sub.add_parser("pair", help="two bundles' sheets for a blind comparison (a coin "
                                     "decides which is X and which Y)")
    pr.add_argument("--model", action="append", required=True,
                    help="a bundle folder; give --model twice")
    pr.add_argument("--out", required=True, help="pair folder to write (new, empty or an "
                                                 "unlabelled pair folder)")
    pr.add_argument("--n", type=int, default=DEFAULT_N, help="faces of each kind on each sheet")
    pr.add_argument("--seed", type=seed_number, default=PAGE_SEED,
                    help="seed of sheet X's faces; Y's is the next one")
    pr.add_argument("--real-seed", type=seed_number, default=0,
                    help="which held-out photos sheet X draws; Y draws the next seed's")
    pr.add_argument("--truncation", type=float, default=PAGE_TRUNCATION)
    pr.add_argument("--quiet", action="store_true")
    c = sub.add_parser("score", help="score the filled labels against the key (of a pair "
                                     "folder: both sheets, naming each bundle)")
    c.add_argument("--dir", required=True, help="the audit folder, or a pair folder")
    c.add_argument("--labels", default=None, help=f"filled labels file (default DIR/{LABELS})")
    args = p.parse_args(argv)

    try:
        if args.command == "sheet":
            quiet = args.quiet
            log = (lambda m: None) if quiet else (lambda m: print(f"[audit] {m}", file=sys.stderr))
            key = make_sheet(args.model, args.out, n=args.n, seed=args.seed,
                             real_seed=args.real_seed, truncation=args.truncation,
                             progress=not quiet, group=args.group, drs=args.drs,
                             log=log)
            neutral_labels_note(args.model, key)
            print(f"{len(key['faces'])} numbered faces in {args.out}/{SHEET} (one by one in "
                  f"{args.out}/faces/). Label each intact or broken in {args.out}/{LABELS} "
                  f"without opening {KEY}, then: python -m gan.audit score --dir {args.out}")
            return 0
        if args.command == "pair":
            if len(args.model) != 2:
                raise AuditError(f"give --model exactly twice (got {len(args.model)})")
            log = ((lambda m: None) if args.quiet else
                   (lambda m: print(f"[audit] {m}", file=sys.stderr)))
            pair = make_pair(tuple(args.model), args.out, n=args.n, seed=args.seed,
                             real_seed=args.real_seed, truncation=args.truncation,
                             progress=not args.quiet, log=log)
            for side in SIDES:
                neutral_labels_note(pair["sides"][side]["model"],
                                    read_key(os.path.join(args.out, side)))
            print(f"Two sheets: {args.out}/X/{SHEET} and {args.out}/Y/{SHEET}. Label each face "
                  f"intact or broken in their {LABELS} without opening {PAIR} or the {KEY} "
                  f"files, then: python -m gan.audit score --dir {args.out}")
            return 0
        if args.command == "record":
            got = record(args.dir, args.model)
            g = got["generated"]
            print(f"{args.model}: {g['broken']} of {g['labelled']} generated faces broken, "
                  f"kept in {args.model}/{got['dir']} and the model card")
            return 0
        if os.path.isfile(os.path.join(args.dir, PAIR)):
            if args.labels:
                raise AuditError(f"{args.dir} is a pair: each sheet's labels are read from its "
                                 f"own {LABELS}; --labels is for one sheet")
            results = score_pair(args.dir)
            for side in SIDES:
                print(f"{side}: {results[side]['model']['path']}")
                print("  " + summary(results[side]).replace("\n", "\n  "))
            print(f"written to {args.dir}/X/{RESULT} and {args.dir}/Y/{RESULT}", file=sys.stderr)
            return 0
        result = score(args.dir, args.labels)
    except (AuditError, BundleError, ReplaceRefused) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary(result))
    print(f"written to {os.path.join(args.dir, RESULT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
