"""Score collections no fit ever used with one or more bundles' detectors, and tabulate them.

    python bench/detector_unseen.py --model models/default --model /tmp/refit \\
        real:fairface=DIR real:selfies=DIR generated:sfhq=DIR

Each collection is scored exactly as an upload is (`python -m gan.detect`, one process per
bundle and collection, its JSON lines kept in --out), then counted: photos without a face,
verdicts (generated / unsure / real), the 95% upper bound of real photos called generated, and
for a generated collection its ROC AUC against all the real collections' photos. Two bundles
side by side show what a refit changed on photos neither was fitted or tuned on.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def score(model: str, folder: str, out: Path) -> list[dict]:
    if not out.is_file():
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        r = subprocess.run([sys.executable, "-m", "gan.detect", "--model", model, folder],
                           cwd=REPO, env=env, capture_output=True, text=True)
        if r.returncode not in (0, 1) or not r.stdout.strip():
            raise RuntimeError(f"gan.detect failed on {folder}: {r.stderr[-1000:]}")
        out.write_text(r.stdout)
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True, help="bundle folder (repeatable)")
    p.add_argument("--out", default=str(REPO / "bench" / "out" / "unseen"),
                   help="where each bundle's JSON lines are kept (reused when present)")
    p.add_argument("collections", nargs="+", help="KIND:NAME=FOLDER, KIND real or generated")
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO))
    import numpy as np

    from gan.detector.calibrate import roc_auc, upper_bound

    cols = []
    for c in args.collections:
        kind, _, rest = c.partition(":")
        name, _, folder = rest.partition("=")
        if kind not in ("real", "generated") or not name or not Path(folder).is_dir():
            p.error(f"{c!r}: give KIND:NAME=FOLDER, KIND real or generated, an existing folder")
        cols.append((kind, name, folder))
    for i, model in enumerate(args.model):
        out = Path(args.out) / f"model{i}"
        out.mkdir(parents=True, exist_ok=True)
        rows = {(k, n): score(model, f, out / f"{n}.jsonl") for k, n, f in cols}
        real_p = np.array([r["p_generated"] for (k, _), rs in rows.items() if k == "real"
                           for r in rs if "p_generated" in r])
        print(f"\n{model}")
        print("| collection | kind | files | not scored (no face, ...) | generated | unsure | real | "
              "95% upper (real) / AUC vs real (generated) |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for (kind, name), rs in rows.items():
            scored = [r for r in rs if "p_generated" in r]
            n = len(scored)
            v = [r["verdict"] for r in scored]
            share = {k: v.count(k) / n if n else 0.0 for k in ("generated", "unsure", "real")}
            if kind == "real":
                last = f"{upper_bound(v.count('generated'), n):.1%}" if n else "-"
            else:
                p = np.array([r["p_generated"] for r in scored])
                y = np.r_[np.zeros(len(real_p)), np.ones(n)]
                last = f"{roc_auc(y, np.r_[real_p, p]):.3f}" if n and len(real_p) else "-"
            print(f"| {name} | {kind} | {len(rs)} | {len(rs) - n} | {share['generated']:.1%} "
                  f"({v.count('generated')}) | {share['unsure']:.1%} | {share['real']:.1%} | {last} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
