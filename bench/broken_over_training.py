"""The predicted broken share over a run's history, read from the sample grids it already
wrote (RUNDIR/samples/fakesNNNNNN.png: the EMA generator on the run's fixed z), for runs made
before training logged `broken_predicted` itself, or to compare runs side by side:

    python bench/broken_over_training.py RUNDIR [RUNDIR ...] [--every 4]

Prints one markdown row per grid read: step, the CPU minutes the run's log counts at that
step, and per run the share of the 64 faces gan.metrics.broken calls broken.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gan.images import split_grid  # noqa: E402
from gan.metrics.broken import BrokenFigure  # noqa: E402
from gan.training.loop import N_SAMPLES  # noqa: E402


def cpu_minutes(run: Path) -> dict[int, float]:
    out = {}
    with open(run / "log.jsonl") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                out[int(r["step"])] = float(r.get("cpu_seconds", 0.0)) / 60
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--every", type=int, default=1, help="read every k-th grid")
    args = ap.parse_args(argv)
    figure = BrokenFigure()
    for run in args.runs:
        cfg = json.loads((run / "config.json").read_text())
        cpu = cpu_minutes(run)
        grids = sorted((run / "samples").glob("fakes*.png"))[1::args.every]  # not the untrained one
        print(f"\n{run} ({cfg['g_channels']}/{cfg['g_max_channels']} G channels)\n")
        print("| step | CPU-min | predicted broken |\n| ---: | ---: | ---: |")
        for g in grids:
            step = int(re.sub(r"\D", "", g.stem))
            faces = split_grid(np.asarray(Image.open(g).convert("RGB")), N_SAMPLES,
                               cfg["resolution"], 8)
            near = min(cpu, key=lambda s: abs(s - step)) if cpu else None
            print(f"| {step} | {cpu.get(near, float('nan')):.0f} | {figure.broken_share(faces):.0%} |",
                  flush=True)


if __name__ == "__main__":
    main()
