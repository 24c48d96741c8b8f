"""Throughput of sharded batch generation per process (a benchmark, not a test): the same run of
F faces made by one `python -m gan.generate` process (the baseline run beside it) and by two
`--shard 0/2`, `--shard 1/2` processes at once into one folder, on this machine.

    python bench/generate_shards.py [--model models/default] [--faces 1024] [--rounds 3]

Each round runs both, in alternating order, so both sides of a ratio saw the same load; the
ratios printed are medians of the per-round ratios. Per process it reports faces per second of
the whole process (start, TensorFlow import, bundle load, generation, PNG writes), of its
generation alone (the CLI's own timing, printed in its last line) and faces per CPU-second;
and the run's total throughput (F over the slower shard's wall time). Each round also checks
that the two shards' files are byte for byte the one process's. Output goes to a temporary
folder, removed afterwards.
"""
from __future__ import annotations

import argparse
import filecmp
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MADE = re.compile(r"(\d+) made in ([\d.]+) s")


@dataclass
class Proc:
    faces: int
    wall: float          # start to exit
    cpu: float           # user + system CPU of the process
    generation: float    # the CLI's own time for generating and writing

    @property
    def rate(self) -> float:
        return self.faces / self.wall

    @property
    def gen_rate(self) -> float:
        return self.faces / self.generation

    @property
    def cpu_rate(self) -> float:
        return self.faces / self.cpu


def run_processes(args, out: Path, shards: int) -> list[Proc]:
    """Start `shards` generate processes at once (no --shard when 1) and wait for all."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    procs = []
    for i in range(shards):
        cmd = [sys.executable, "-m", "gan.generate", "--model", args.model, "--n", str(args.faces),
               "--out", str(out), "--seed", "0", "--batch-size", str(args.batch_size)]
        if shards > 1:
            cmd += ["--shard", f"{i}/{shards}"]
        procs.append((time.perf_counter(), subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)))
    results = []
    for started, p in procs:
        err = p.stderr.read()
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - started
        p.returncode = os.waitstatus_to_exitcode(status)
        m = MADE.search(err.strip().splitlines()[-1] if err.strip() else "")
        if p.returncode != 0 or not m:
            raise SystemExit(f"generate failed ({p.returncode}):\n{err[-2000:]}")
        results.append(Proc(int(m[1]), wall, usage.ru_utime + usage.ru_stime, float(m[2])))
    return results


def same_files(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    if names != sorted(p.name for p in b.iterdir()):
        return False
    match, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
    return not mismatch and not errors


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(REPO / "models" / "default"))
    p.add_argument("--faces", type=int, default=1024, help="faces in each run (default 1024)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()

    import tensorflow as tf

    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, TensorFlow "
          f"{tf.__version__}; {args.faces} faces per run, batch {args.batch_size}, "
          f"{args.rounds} rounds", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="generate-shards-"))
    ratios: dict[str, list[float]] = {k: [] for k in ("rate", "gen_rate", "cpu_rate", "total")}
    rows = []
    try:
        for r in range(args.rounds):
            order = (1, 2) if r % 2 == 0 else (2, 1)
            got = {}
            for shards in order:
                out = tmp / f"round{r}-{shards}"
                started = time.perf_counter()
                got[shards] = (run_processes(args, out, shards), time.perf_counter() - started)
            if not same_files(tmp / f"round{r}-1", tmp / f"round{r}-2"):
                raise SystemExit("the two shards' files differ from the one process's")
            (base,), base_wall = got[1]
            procs, wall = got[2]
            for key in ("rate", "gen_rate", "cpu_rate"):
                ratios[key].append(statistics.mean(getattr(q, key) for q in procs) / getattr(base, key))
            ratios["total"].append(base_wall / wall)
            rows.append((r, base, base_wall, procs, wall))
            for name, ps, w in (("1 process ", [base], base_wall), ("2 shards  ", procs, wall)):
                each = "; ".join(f"{q.faces} faces: {q.rate:5.1f}/s whole, {q.gen_rate:5.1f}/s "
                                 f"generating, {q.cpu_rate:5.1f}/CPU-s" for q in ps)
                print(f"round {r + 1} {name} {args.faces / w:5.1f} faces/s in all ({w:5.1f} s)  "
                      f"per process: {each}", flush=True)
            shutil.rmtree(tmp / f"round{r}-1")
            shutil.rmtree(tmp / f"round{r}-2")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nshard files equal the one process's in every round; load average now "
          f"{os.getloadavg()[0]:.1f}")
    print("2 shard processes against 1 process (median of the rounds' ratios):")
    print(f"  per process, faces/s of the whole process : {statistics.median(ratios['rate']):.2f}")
    print(f"  per process, faces/s while generating     : {statistics.median(ratios['gen_rate']):.2f}")
    print(f"  per process, faces per CPU-second         : {statistics.median(ratios['cpu_rate']):.2f}")
    print(f"  the run's total faces/s                   : {statistics.median(ratios['total']):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
