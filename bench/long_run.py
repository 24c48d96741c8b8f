"""Train one existing run on in CPU-time milestones and measure it at each, so a run of many
CPU-hours leaves its figures over training behind (issue 18, point 4):

    python bench/long_run.py RUNDIR --milestones 300,360,420 --out runs/long-figures
    python bench/long_run.py RUNDIR --milestones 300 --out OUT -- --top-k 0.5   # train.py options

At each milestone `python train.py --out RUNDIR` (resumed exactly as a user resumes it, the
options after `--` added) is stopped with SIGTERM once the CPU time its own log counts
reaches the milestone; the checkpoint is exported to OUT/m<minutes> and measured by
`python -m gan.evaluate` (SWD against the run's held-out photos, MS-SSIM variety,
memorisation), as `capacity_race.py` measures its contestants. The row also carries the mean
`broken_predicted` of the run's last four sample grids (the figure training logs; a trend of
64 faces per grid, not an audit). Finished milestones are skipped, so the same command
continues in a later session. Writes OUT/results.jsonl and OUT/table.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from capacity_race import logged_cpu, measure, record, run_until, summary  # noqa: E402


def train_until(run: Path, cpu_target: float, train_args: list[str], log_path: Path) -> None:
    """Resume RUNDIR with train.py until its logged CPU time reaches `cpu_target` seconds."""
    if logged_cpu(run)[1] >= cpu_target:
        return
    cmd = [sys.executable, str(REPO / "train.py"), "--out", str(run), "--no-progress", *train_args]
    run_until(cmd, run, cpu_target, log_path)


def recent_broken(run: Path, grids: int = 4) -> float | None:
    """Mean broken_predicted of the run's last `grids` logged sample grids (None before any)."""
    values = []
    with open(run / "log.jsonl") as f:
        for line in f:
            if '"broken_predicted"' in line:
                values.append(float(json.loads(line)["broken_predicted"]))
    return sum(values[-grids:]) / len(values[-grids:]) if values else None


def write_table(out: Path, rows: list[dict]) -> None:
    lines = ["| CPU-min | steps | SWD | MS-SSIM (real) | memorised | predicted broken (last 4 grids) |",
             "| ---: | ---: | ---: | --- | ---: | ---: |"]
    for r in sorted(rows, key=lambda r: r["milestone_minutes"]):
        s, b = r["summary"], r.get("broken_predicted")
        ms = "" if s["ms_ssim"] is None else f"{s['ms_ssim']:.3f} ({s['ms_ssim_real']:.3f})"
        lines.append(f"| {r['cpu_seconds'] / 60:.0f} | {r['steps']} | "
                     f"{'' if s['swd'] is None else format(s['swd'], '.1f')} | {ms} | "
                     f"{'' if s['memorised'] is None else format(s['memorised'], '.3f')} | "
                     f"{'' if b is None else format(b, '.0%')} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="an existing run directory (train.py --out)")
    p.add_argument("--milestones", required=True, help="CPU-minutes at which to measure, e.g. 300,360")
    p.add_argument("--eval-faces", type=int, default=500)
    p.add_argument("--out", type=Path, required=True, help="bundles and tables go here")
    argv = list(sys.argv[1:] if argv is None else argv)
    # train.py's options follow `--` (split here: argparse would hand them to RUNDIR's slot)
    train_args = argv[argv.index("--") + 1:] if "--" in argv else []
    args = p.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    args.train_args = train_args
    run = args.run.resolve()
    if not (run / "config.json").is_file():
        print(f"error: {run} is not a run directory (no config.json)", file=sys.stderr)
        return 2
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    rows = [json.loads(line) for line in results.read_text().splitlines()] if results.is_file() else []
    done = {r["milestone_minutes"] for r in rows}
    for m in (float(m) for m in args.milestones.split(",")):
        if m in done:
            continue
        print(f"training {run.name} to {m:g} CPU-minutes ...", flush=True)
        train_until(run, m * 60, args.train_args, out / "train.log")
        step, cpu = logged_cpu(run)
        report = measure(argparse.Namespace(eval_faces=args.eval_faces), run, out / f"m{m:g}",
                         out / "train.log")
        row = {"milestone_minutes": m, "steps": step, "cpu_seconds": cpu,
               "summary": summary(report), "broken_predicted": recent_broken(run),
               "train_args": args.train_args, "time": time.strftime("%Y-%m-%d %H:%M")}
        record(out, rows, row, write_table)
    if rows:
        print((out / "table.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
