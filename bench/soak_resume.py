"""Soak test of resume: `kill -9` a training run at random instants, resume it with the same
command each time, and check what a user relies on (a benchmark, not part of the test suite).

    python bench/soak_resume.py [--kills 20] [--seed 0] [--work DIR] [--json OUT.json]

It writes 64 synthetic face PNGs, then runs `train.py` on them with a tiny model and a
checkpoint every 2 steps. Each round starts the same command, waits until the run trains past
its resume point, and kills it: at a random instant on even rounds; on odd rounds, after a
random wait, at the moment a checkpoint write is seen in progress (its temporary file exists),
so that some kills land in the middle of a checkpoint write. After the last kill the run is
resumed once more with a small --steps so it finishes and exports. Checked:
  - every resume starts at the step of the checkpoint on disk at the kill;
  - steps lost per kill (trained and logged, then trained again) <= the checkpoint interval;
  - the final log.jsonl has each step 1..N exactly once (no duplicate, none missing);
  - no temporary file or folder of ours is left anywhere in the run directory;
  - every command exits as it should (killed, or 0 at the end) and prints no traceback.
A summary is printed and written as JSON (default: bench/out/soak_resume.json).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHECKPOINT_EVERY = 2
TEMP = re.compile(r"^\..+\.(\d+-[0-9a-f]{8}|[A-Za-z0-9_]{8})\.(tmp|staging|old)$")
TINY = ["--resolution", "16", "--latent-dim", "16", "--g-channels", "8", "--g-max-channels", "32",
        "--d-channels", "8", "--d-max-channels", "32", "--batch-size", "8", "--crop", "none",
        "--precision", "float32", "--r1-every", "4", "--checkpoint-every", str(CHECKPOINT_EVERY),
        "--log-every", "1", "--sample-every", "50", "--n-jobs", "1", "--no-progress"]


def write_photos(folder: Path, n: int = 64, size: int = 80, seed: int = 0) -> Path:
    """n small PNG 'faces' (an oval on a plain background, random colours)."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = Image.new("RGB", (size, size), tuple(int(c) for c in rng.integers(0, 255, 3)))
        m = int(rng.integers(2, size // 4))
        ImageDraw.Draw(img).ellipse([m, m, size - m, size - m],
                                    fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
        img.save(folder / f"face_{i:03d}.png")
    return folder


def logged_steps(run: Path) -> list[int]:
    log = run / "log.jsonl"
    if not log.is_file():
        return []
    steps = []
    for line in log.read_text().splitlines():
        try:
            steps.append(int(json.loads(line)["step"]))
        except (ValueError, KeyError):
            steps.append(-1)          # a cut line (a later resume drops it)
    return steps


def checkpoint_step(run: Path) -> int:
    sys.path.insert(0, str(REPO))
    from gan.training.checkpoint import read_meta

    ckpt = run / "checkpoint.npz"
    return int(read_meta(ckpt)["step"]) if ckpt.is_file() else 0


def temporaries(run: Path, pid: int | None = None) -> list[str]:
    """Our temporary files/folders under `run` (of process `pid` only, when given)."""
    found = []
    for p in run.rglob(".*"):
        m = TEMP.match(p.name)
        if m and (pid is None or m.group(1).startswith(f"{pid}-")):
            found.append(str(p.relative_to(run)))
    return sorted(found)


def start(cmd: list[str], env: dict, log_path: Path) -> tuple[subprocess.Popen, object]:
    err = open(log_path, "w")
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err), err


def wait_training(proc: subprocess.Popen, run: Path, since: float, timeout: float = 300) -> bool:
    """Until `proc` has logged a step (it has resumed and trains): a line written after
    `since`, since the lines the killed run wrote after its checkpoint are still there until
    the resumed run drops them."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        log = run / "log.jsonl"
        lines = log.read_text().splitlines() if log.is_file() else []
        for line in reversed(lines[-5:]):
            try:
                if json.loads(line)["time"] > since:
                    return True
            except (ValueError, KeyError):
                continue
        time.sleep(0.05)
    return False


def aim_at_checkpoint(proc: subprocess.Popen, run: Path, budget: float = 20.0) -> bool:
    """Kill the moment a checkpoint write of `proc` is seen in progress; False if none seen."""
    prefix = f".checkpoint.npz.{proc.pid}-"
    deadline = time.time() + budget
    while time.time() < deadline and proc.poll() is None:
        try:
            names = os.listdir(run)
        except OSError:
            names = []
        if any(n.startswith(prefix) for n in names):
            os.kill(proc.pid, signal.SIGKILL)
            return True
        time.sleep(0.0005)
    return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-wait", type=float, default=12.0,
                    help="longest random wait (s) between training resuming and the kill")
    ap.add_argument("--work", type=Path, help="working folder (default: a new temp folder)")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "out" / "soak_resume.json")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    work = args.work or Path(tempfile.mkdtemp(prefix="facegan-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    photos = write_photos(work / "photos")
    run = work / "run"
    env = {**os.environ, "FACEGAN_CACHE": str(work / "cache"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, str(REPO / "train.py"), "--data", str(photos), "--out", str(run),
           "--steps", "1000000", *TINY]
    t0 = time.time()
    rounds, problems = [], []
    for k in range(args.kills):
        at_ckpt = checkpoint_step(run)
        started = time.time()
        proc, err = start(cmd, env, work / f"stderr_{k:02d}.txt")
        if not wait_training(proc, run, since=started):
            proc.kill()
            proc.wait()
            err.close()
            problems.append(f"round {k}: the run did not train (exit {proc.returncode}); "
                            f"see {work / f'stderr_{k:02d}.txt'}")
            break
        stale = [t for t in temporaries(run) if f".{proc.pid}-" not in t]
        if stale:
            problems.append(f"round {k}: a killed run's temporaries remain after resuming: {stale}")
        aimed = k % 2 == 1
        time.sleep(rng.uniform(0.0, args.max_wait))
        if not aimed or not aim_at_checkpoint(proc, run):
            aimed = False
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        err.close()
        text = (work / f"stderr_{k:02d}.txt").read_text()
        resumed = re.search(r"Resuming .* at step (\d+)", text)
        resumed_at = int(resumed.group(1)) if resumed else 0
        last_logged = max(logged_steps(run), default=0)
        left_by_kill = temporaries(run, proc.pid)
        mid_write = [t for t in left_by_kill if t.startswith(".checkpoint.npz.")]
        rounds.append({"round": k, "aimed_at_checkpoint": aimed,
                       "killed_during_checkpoint_write": bool(mid_write),
                       "temporaries_left_by_the_kill": left_by_kill,
                       "resumed_at": resumed_at, "checkpoint_before": at_ckpt,
                       "last_logged": last_logged, "checkpoint_after": checkpoint_step(run),
                       "lost_steps": last_logged - checkpoint_step(run),
                       "exit": proc.returncode})
        if resumed_at != at_ckpt:
            problems.append(f"round {k}: resumed at {resumed_at}, checkpoint was at {at_ckpt}")
        if k and f"Resuming {run} at step" not in text:
            problems.append(f"round {k}: did not say it resumed")
        if proc.returncode != -signal.SIGKILL:
            problems.append(f"round {k}: exit {proc.returncode}, not killed")
        if "Traceback" in text:
            problems.append(f"round {k}: traceback on stderr")
        print(f"kill {k + 1:2d}/{args.kills}: resumed at {resumed_at:4d}, killed after step "
              f"{last_logged:4d}{' during a checkpoint write' if mid_write else ''} "
              f"({'aimed' if aimed else 'random'}); checkpoint at {checkpoint_step(run)}",
              flush=True)

    # finish: the same command with a reachable total, so the run ends and exports
    final_ckpt = checkpoint_step(run)
    final_cmd = cmd.copy()
    final_cmd[final_cmd.index("1000000")] = str(final_ckpt + 3)
    with open(work / "stderr_final.txt", "w") as err:
        done = subprocess.run(final_cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                              stderr=err, timeout=600)
    final_text = (work / "stderr_final.txt").read_text()
    if done.returncode != 0 or "Traceback" in final_text:
        problems.append(f"final run: exit {done.returncode}; see {work / 'stderr_final.txt'}")
    steps = logged_steps(run)
    n = max(steps, default=0)
    duplicated = sorted({s for s in steps if steps.count(s) > 1})
    missing = sorted(set(range(1, n + 1)) - set(steps))
    left = temporaries(run)
    lost = [r["lost_steps"] for r in rounds]
    if duplicated or missing or -1 in steps:
        problems.append(f"log: duplicated {duplicated[:10]}, missing {missing[:10]}, "
                        f"cut lines {steps.count(-1)}")
    if left:
        problems.append(f"temporaries left: {left}")
    if any(x > CHECKPOINT_EVERY for x in lost):
        problems.append(f"lost more than {CHECKPOINT_EVERY} steps in a kill: {lost}")
    summary = {
        "kills": len(rounds),
        "kills_aimed_at_a_checkpoint_write": sum(r["aimed_at_checkpoint"] for r in rounds),
        "kills_during_a_checkpoint_write": sum(r["killed_during_checkpoint_write"] for r in rounds),
        "resumed_at_steps": [r["resumed_at"] for r in rounds[1:]] + [final_ckpt],
        "lost_steps_per_kill": lost,
        "max_lost_steps": max(lost, default=0), "checkpoint_every": CHECKPOINT_EVERY,
        "final_step": n, "final_exit": done.returncode,
        "log_duplicated_steps": duplicated, "log_missing_steps": missing,
        "temp_files_left": left,
        "bundle_exported": (run / "bundle" / "model.json").is_file(),
        "problems": problems, "ok": not problems,
        "seconds": round(time.time() - t0, 1), "work": str(work), "rounds": rounds,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2) + "\n")
    short = {k: v for k, v in summary.items() if k != "rounds"}
    print(json.dumps(short, indent=2))
    print(f"written to {args.json}")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
