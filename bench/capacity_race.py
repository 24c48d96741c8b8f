"""Which network width makes the best faces for the same CPU time? Trains one run per width
with `train.py`, round-robin in CPU-time milestones, and measures each at every milestone.

    python bench/capacity_race.py --widths 1,1.5,2 --milestones 30,60,120,240
    python bench/capacity_race.py --widths 1,2 --milestones 1 --data DIR --out /tmp/r   # a quick check

A width multiplier scales all four channel options of the default config (`g_channels`,
`g_max_channels`, `d_channels`, `d_max_channels`), each rounded to a multiple of 8
(`quality_race.width_channels`), so compute per image grows about with its square. Every
contestant is `python train.py` exactly as a user runs it, with the defaults of the bundled
model's recipe (`--labels male,smiling --holdout 0.1`), stopped with SIGTERM once the CPU time
its own log counts (training steps only, all threads) reaches the milestone, then exported
and measured by `python -m gan.evaluate` (SWD against the run's held-out photos, MS-SSIM
variety, memorisation). Runs resume from their checkpoints, so the race can be stopped at any
time and continued in a later session with the same command: finished milestones are skipped.

Writes OUT/results.jsonl (one line per contestant and milestone), OUT/table.md, and per width
OUT/wX/run (the run directory) and OUT/wX/m<minutes> (the bundle with its evaluation).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))   # gan.*; bench/ itself is on the path when run as a script

from quality_race import width_channels  # noqa: E402
DATA = REPO.parent / "shared" / "data" / "celeba-5k"


def channel_args(width: float) -> list[str]:
    """train.py's four channel options at `width` (quality_race's rule: multiples of 8)."""
    return [a for name, n in width_channels(width).items() for a in ("--" + name.replace("_", "-"), str(n))]


def logged_cpu(run: Path) -> tuple[int, float]:
    """(step, CPU seconds) of the last line of a run's log, (0, 0) before the first."""
    log = run / "log.jsonl"
    if not log.is_file():
        return 0, 0.0
    last = None
    with open(log) as f:
        for line in f:
            if line.strip():
                last = line
    if last is None:
        return 0, 0.0
    row = json.loads(last)
    return int(row["step"]), float(row.get("cpu_seconds", 0.0))


def train_until(args, width: float, run: Path, cpu_target: float, log_path: Path) -> None:
    cmd = [sys.executable, str(REPO / "train.py"), "--data", str(args.data), "--out", str(run),
           "--labels", args.labels, "--holdout", str(args.holdout), "--steps", "100000000",
           "--no-progress", "--log-every", "10", *channel_args(width), *args.train_args]
    run_until(cmd, run, cpu_target, log_path)


def run_until(cmd: list[str], run: Path, cpu_target: float, log_path: Path) -> None:
    """Run a train.py command on RUNDIR `run`; SIGTERM it once its log counts `cpu_target` s."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    with open(log_path, "a") as log:
        p = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        while p.poll() is None:
            if logged_cpu(run)[1] >= cpu_target:
                p.send_signal(signal.SIGTERM)        # checkpoints after this step, then exits
                break
            time.sleep(2)
        p.wait()
    if p.returncode not in (0, 130, -signal.SIGTERM):
        raise RuntimeError(f"train.py exited {p.returncode}; see {log_path}")


def measure(args, run: Path, bundle: Path, log_path: Path) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if not (bundle / "model.json").is_file():
        r = subprocess.run([sys.executable, str(REPO / "train.py"), "--out", str(run), "--export",
                            str(bundle)], cwd=REPO, env=env, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"export failed: {r.stderr[-2000:]}")
    r = subprocess.run([sys.executable, "-m", "gan.evaluate", "--model", str(bundle), "--n",
                        str(args.eval_faces), "--quiet"], cwd=REPO, env=env,
                       capture_output=True, text=True)
    with open(log_path, "a") as log:
        log.write(r.stdout + r.stderr)
    if r.returncode:
        raise RuntimeError(f"evaluate failed: {r.stderr[-2000:]}")
    return json.loads((bundle / "evaluation" / "report.json").read_text())


def record(out: Path, rows: list[dict], row: dict, write_table) -> None:
    """Add a measured milestone: OUT/results.jsonl, the table, one line on stdout."""
    rows.append(row)
    with open(out / "results.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    write_table(out, rows)
    print(f"  {row['steps']} steps, SWD {row['summary']['swd']}, MS-SSIM {row['summary']['ms_ssim']}",
          flush=True)


def summary(report: dict) -> dict:
    swd, ms = report.get("swd", {}), report.get("ms_ssim", {})
    return {"swd": swd.get("average"), "swd_levels": swd.get("levels"),
            "ms_ssim": ms.get("generated"), "ms_ssim_real": ms.get("real"),
            "memorised": report.get("memorisation", {}).get("fraction_closer")}


def write_table(out: Path, rows: list[dict]) -> None:
    lines = ["| width | CPU-min | steps | G params | D params | SWD | MS-SSIM (real) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in sorted(rows, key=lambda r: (r["milestone_minutes"], r["width"])):
        s = r["summary"]
        ms = "" if s["ms_ssim"] is None else f"{s['ms_ssim']:.3f} ({s['ms_ssim_real']:.3f})"
        swd = "" if s["swd"] is None else f"{s['swd']:.1f}"
        lines.append(f"| {r['width']:g}x | {r['cpu_seconds'] / 60:.0f} | {r['steps']} | "
                     f"{r.get('g_params', '')} | {r.get('d_params', '')} | {swd} | {ms} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")


def param_counts(bundle: Path) -> tuple[int, int]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from gan.bundle import load_bundle

    b = load_bundle(bundle)
    return int(b.generator.count_params()), int(b.discriminator.count_params())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--widths", default="1,1.5,2", help="width multipliers (default 1,1.5,2)")
    p.add_argument("--milestones", default="30,60,120,240",
                   help="CPU-minutes per contestant at which each is measured")
    p.add_argument("--data", default=str(DATA), help="photos (default ../shared/data/celeba-5k)")
    p.add_argument("--labels", default="male,smiling")
    p.add_argument("--holdout", type=float, default=0.1)
    p.add_argument("--eval-faces", type=int, default=1000)
    p.add_argument("--out", default=str(REPO / "bench" / "out" / "capacity"))
    p.add_argument("train_args", nargs="*", help="more train.py options, after --")
    args = p.parse_args(argv)
    widths = [float(w) for w in args.widths.split(",")]
    milestones = [float(m) for m in args.milestones.split(",")]
    if not Path(args.data).exists():
        print(f"error: no data at {args.data}", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    rows = [json.loads(line) for line in results.read_text().splitlines()] if results.is_file() else []
    done = {(r["width"], r["milestone_minutes"]) for r in rows}
    for m in milestones:
        for w in widths:
            if (w, m) in done:
                continue
            d = out / f"w{w:g}"
            run, bundle, log = d / "run", d / f"m{m:g}", d / "race.log"
            d.mkdir(parents=True, exist_ok=True)
            print(f"width {w:g}x: training to {m:g} CPU-minutes ...", flush=True)
            train_until(args, w, run, m * 60, log)
            step, cpu = logged_cpu(run)
            report = measure(args, run, bundle, log)
            g, dp = param_counts(bundle)
            row = {"width": w, "milestone_minutes": m, "steps": step, "cpu_seconds": cpu,
                   "g_params": g, "d_params": dp, "summary": summary(report),
                   "time": time.strftime("%Y-%m-%d %H:%M")}
            record(out, rows, row, write_table)
    print((out / "table.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
