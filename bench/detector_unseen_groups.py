"""False alarms per group on a labelled collection no fit ever used, bundle beside bundle.

    python bench/detector_unseen_groups.py --model models/default --model /tmp/refit \\
        --detector discriminator --truth fairface/ground_truth.json DIR

The photos (all real) are scored exactly as uploads are (`python -m gan.detect`, one process
per bundle; its JSON lines kept in --out and reused), then counted per group of the truth file
(a JSON list of {"filename", and any labels, e.g. "age", "gender"}; FairFace's test images
have age and gender): photos scored, called generated, its 95% upper bound, unsure. Age
labels are put in the detector report's bands (children under 10, 10-19, 20-39, 40-59, over
60) where they are ranges like "3-9" or "70+".
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def score(model: str, detector: str, folder: str, out: Path) -> list[dict]:
    if not out.is_file():
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        r = subprocess.run([sys.executable, "-m", "gan.detect", "--model", model, "--detector",
                            detector, folder], cwd=REPO, env=env, capture_output=True, text=True)
        if r.returncode not in (0, 1) or not r.stdout.strip():
            raise RuntimeError(f"gan.detect failed on {folder}: {r.stderr[-1000:]}")
        out.write_text(r.stdout)
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def band(age: str) -> str:
    """"3-9" -> "child (under 10)", "70+" -> "over 60", as the detector report's age bands."""
    low = int(age.replace("+", "-").split("-")[0])
    return ("child (under 10)" if low < 10 else "10-19" if low < 20 else "20-39" if low < 40
            else "40-59" if low < 60 else "over 60")


def main(argv=None) -> int:
    from gan.detector.calibrate import upper_bound

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True, help="bundle folder (repeatable)")
    p.add_argument("--detector", default="discriminator")
    p.add_argument("--truth", required=True, help="JSON list of {filename, labels...}")
    p.add_argument("--out", default=str(REPO / "bench" / "out" / "unseen-groups"))
    p.add_argument("folder")
    a = p.parse_args(argv)
    truth = {t["filename"]: t for t in json.loads(Path(a.truth).read_text())}
    keys = sorted({k for t in truth.values() for k in t if k not in ("filename", "id")})
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"| group | photos | " + " | ".join(f"{m}: generated (95% upper), unsure"
                                             for m in a.model) + " |")
    print("| --- | ---: | " + " | ".join("---" for _ in a.model) + " |")
    per_model = []
    for i, m in enumerate(a.model):
        lines = score(m, a.detector, a.folder, out / f"{i}-{a.detector}-{Path(a.folder).name}.jsonl")
        per_model.append({Path(r["path"]).name: r for r in lines})
    groups: dict[str, list[str]] = {"all": sorted(truth)}
    for k in keys:
        for name, t in sorted(truth.items()):
            g = f"{k}: {band(t[k]) if k == 'age' else t[k]}"
            groups.setdefault(g, []).append(name)
    order = ["child (under 10)", "10-19", "20-39", "40-59", "over 60"]
    rank = lambda g: (g != "all", g.split(":")[0], order.index(g.split(": ")[1])
                      if g.startswith("age: ") else 0, g)
    for g, names in sorted(groups.items(), key=lambda kv: rank(kv[0])):
        cells = []
        for rows in per_model:
            scored = [rows[n] for n in names if n in rows and "verdict" in rows[n]]
            n = len(scored)
            k = sum(r["verdict"] == "generated" for r in scored)
            u = sum(r["verdict"] == "unsure" for r in scored)
            cells.append(f"{n}: {k} = {100 * k / max(n, 1):.1f}% ({100 * upper_bound(k, n):.1f}%), "
                         f"unsure {100 * u / max(n, 1):.1f}%" if n else "none scored")
        print(f"| {g} | {len(names)} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
