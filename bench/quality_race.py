"""Faces per CPU-hour: train the earlier demos' recipe and our default config for the same CPU
time on the same photos, then compare their faces (SWD and sample grids side by side).

    python bench/quality_race.py --minutes 30             # 30 CPU-minutes per contestant
    python bench/quality_race.py --minutes 2 --eval-faces 300   # a quick check that it works
    python bench/quality_race.py --minutes 240 --contestants ours,ours@1.5,ours@2   # capacity

Contestants (each in its own process, one after the other, never at the same time):
  recipe     the earlier demos' recipe, `../shared/bench/seed_recipe.py`, its own code run as it
             is (not copied): a small driver started in ../shared/bench imports it, keeps a
             handle on the generator its `generator()` builds, starts the clock at its first
             step and stops its loop at the budget (by raising from that generator's `predict`,
             which the recipe calls once per step). Its faces are that generator's.
  emulated   the same recipe's ingredients in our machinery: `bench/baseline_arch.py` networks,
             `bench/recipe_step.py`'s step (sigmoid + BCE, RMSprop 1e-4, alternating D/G), float32,
             no DiffAugment, no flips; faces from its generator (no EMA), inference-mode BN.
             Not identical to the recipe: D gets one update on real+fake instead of two, and
             its BatchNorm runs in training mode in the G step (the recipe freezes D inside a
             combined model, where Keras runs BN in inference mode).
  ours       `python train.py` with the default TrainConfig, exactly as a user runs it; stopped
             with SIGTERM at the budget (it checkpoints), then exported with `--export`; faces
             from the bundle (EMA generator) via `gan.sampling.generate`.
  ours@W     the same at W times the default width: every channel count of both networks and
             their caps (--g-channels, --g-max-channels, --d-channels, --d-max-channels) times W,
             rounded to a multiple of 8 (`width_channels`), so parameters and FLOPs grow
             about W^2 (the capacity race of issue 18).

Budget: `--clock cpu` (default) counts the CPU time (user + system, all threads) of the
contestant's process from its first training step, so other jobs on a shared machine do not
eat into it; 30 CPU-minutes is about 15 wall-minutes on 2 idle cores. `--clock wall` counts wall
time instead. Data loading and start-up are not counted.

Data: ../shared/data/celeba-5k, face crop at 128 px, split as `train.py --holdout 0.2` splits it
(by file-name hash, seed 0): every contestant trains on the same ~4,000 photos; SWD compares
`--eval-faces` generated faces with as many held-out photos (never trained on).
Writes bench/out/race/: side_by_side.png, report.json, one folder per contestant.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
SEED_DIR = REPO.parent / "shared" / "bench"
DATA = REPO.parent / "shared" / "data" / "celeba-5k"
OUT = REPO / "bench" / "out" / "race"
HOLDOUT = 0.2
FACE_SEED = 2024          # z of the faces every contestant is judged on
CONTESTANTS = ("recipe", "emulated", "ours")
NAMES = {"recipe": "earlier demos' recipe (seed_recipe.py, as is)",
         "emulated": "recipe emulated in our machinery (baseline arch, recipe step)",
         "ours": "ours: train.py, default config"}
WIDTH_CHANNELS = ("g_channels", "g_max_channels", "d_channels", "d_max_channels")


def width_of(name: str) -> float | None:
    """W of an "ours@W" contestant (1 for "ours"), None for any other name or a W outside
    0.25-4."""
    if name == "ours":
        return 1.0
    head, _, w = name.partition("@")
    try:
        w = float(w) if head == "ours" else None
    except ValueError:
        return None
    return w if w is not None and 0.25 <= w <= 4 else None


def name_of(name: str) -> str:
    w = width_of(name)
    return NAMES.get(name) or f"ours at {w:g}x width: train.py, channels x {w:g}"


def width_channels(w: float) -> dict[str, int]:
    """The four channel options at W times the default config's, each rounded to a multiple
    of 8 (halves up); W = 1 is the default itself. On this CPU's bfloat16 kernels a count that
    is not a multiple of 8 costs far more than its arithmetic: 18/36 channels trained at 0.45x
    the default's speed, as slowly as 24/48 (bench/train_speed.py --levers --only race1.5x-odd)."""
    from gan.config import TrainConfig

    base = TrainConfig()
    if w == 1:
        return {k: getattr(base, k) for k in WIDTH_CHANNELS}
    return {k: max(8, 8 * int(getattr(base, k) * w / 8 + 0.5)) for k in WIDTH_CHANNELS}


def width_options(w: float) -> list[str]:
    """train.py options for W times the default width (nothing at W = 1)."""
    if w == 1:
        return []
    return [opt for k, n in width_channels(w).items() for opt in (f"--{k.replace('_', '-')}", str(n))]


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Budget:
    """Started at the first training step; `spent()` in CPU or wall seconds."""

    def __init__(self, seconds: float, clock: str):
        self.seconds, self.clock = seconds, clock
        self.t0 = self.c0 = None

    def start(self) -> None:
        if self.t0 is None:
            self.t0, self.c0 = time.perf_counter(), _cpu_self()

    def wall(self) -> float:
        return time.perf_counter() - self.t0

    def cpu(self) -> float:
        return _cpu_self() - self.c0

    def over(self) -> bool:
        return (self.cpu() if self.clock == "cpu" else self.wall()) >= self.seconds


def _save_faces(out: Path, faces_uint8, info: dict) -> None:
    import numpy as np

    from gan.images import make_grid, save_png

    np.save(out / "faces.npy", faces_uint8)
    save_png(out / "samples.png", make_grid(faces_uint8[:64], cols=8))
    (out / "result.json").write_text(json.dumps(info, indent=2) + "\n")


# --- contestants (each runs in its own subprocess) ----------------------------------------------
class _Stop(Exception):
    pass


def run_recipe(args, out: Path) -> None:
    """The recipe's own code: import it (cwd ../shared/bench), hook its generator, run main()."""
    import numpy as np

    sys.path.insert(0, str(SEED_DIR))
    import seed_recipe

    from gan.data.preprocess import to_uint8

    budget, held = Budget(args.seconds, args.clock), {}
    build = seed_recipe.generator

    def generator():
        g = build()
        predict = g.predict
        held["g"], held["calls"] = g, 0

        def hooked_predict(*a, **k):              # called once per step by the recipe
            budget.start()                        # (its 3 warm-up steps train too: counted)
            held["calls"] += 1
            if budget.over():
                raise _Stop
            return predict(*a, **k)
        g.predict = hooked_predict
        held["predict"] = predict
        return g

    seed_recipe.generator = generator
    sys.argv = [str(SEED_DIR / "seed_recipe.py"), str(10**9), str(args.train_f32)]
    try:
        seed_recipe.main()
    except _Stop:
        pass
    steps = held["calls"] - 1                     # the last call stopped before training
    info = {"steps": steps, "cpu_seconds": budget.cpu(), "wall_seconds": budget.wall(),
            "images_seen": 32 * steps}
    z = np.random.default_rng(FACE_SEED).standard_normal((args.eval_faces, seed_recipe.Z)).astype("float32")
    faces = to_uint8(held["predict"](z, batch_size=64, verbose=0))
    _save_faces(out, faces, info)


def run_emulated(args, out: Path) -> None:
    import numpy as np
    import tensorflow as tf

    from bench import baseline_arch
    from gan.data.pipeline import make_dataset
    from gan.data.preprocess import to_uint8
    from bench.recipe_step import RecipeDCGAN
    from gan.training.loop import configure_threads

    configure_threads()
    cfg = baseline_arch.config(lr_g=1e-4, lr_d=1e-4, precision="float32", diffaugment="", flip=False)
    model = RecipeDCGAN(cfg, recipe_loss=True, alternating=True,
                        build_g=baseline_arch.generator, build_d=baseline_arch.discriminator)
    step_fn, _ = model.compiled_steps()
    it = iter(make_dataset(np.load(args.train_u8), None, cfg.batch_size, seed=cfg.seed, flip=False))
    budget, step, out_ = Budget(args.seconds, args.clock), 0, {}
    budget.start()
    while not budget.over():
        real, labels = next(it)
        out_ = {k: float(v) for k, v in step_fn((real, labels, tf.constant(step, tf.int64))).items()}
        step += 1
    info = {"steps": step, "cpu_seconds": budget.cpu(), "wall_seconds": budget.wall(),
            "images_seen": step * cfg.batch_size, "last_losses": out_}
    z = np.random.default_rng(FACE_SEED).standard_normal((args.eval_faces, cfg.latent_dim)).astype("float32")
    faces = to_uint8(model.generator.predict(z, batch_size=64, verbose=0))
    _save_faces(out, faces, info)


def _proc_cpu(pid: int) -> float:
    """utime + stime of a live process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_ours(args, out: Path, width: float = 1.0) -> None:
    """`python train.py` as a user runs it (at `width` times the default channels), stopped by
    SIGTERM at the budget, then exported."""
    import numpy as np

    from gan.bundle import load_bundle
    from gan.sampling import generate

    run = out / "run"
    cmd = [sys.executable, str(REPO / "train.py"), "--data", str(DATA), "--out", str(run),
           "--holdout", str(HOLDOUT), "--steps", "100000000", "--no-progress", "--new",
           *width_options(width)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    with open(out / "train.log", "w") as log:
        p = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        first = run / "samples" / "fakes000000.png"       # written just before step 1
        while p.poll() is None and not first.exists():
            time.sleep(0.2)
        if p.poll() is not None:
            raise RuntimeError(f"train.py exited early ({p.returncode}); see {out / 'train.log'}")
        c0, t0 = _proc_cpu(p.pid), time.perf_counter()
        while p.poll() is None:
            spent = _proc_cpu(p.pid) - c0 if args.clock == "cpu" else time.perf_counter() - t0
            if spent >= args.seconds:
                p.send_signal(signal.SIGTERM)           # checkpoint and stop after this step
                break
            time.sleep(0.25)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    cpu = usage.ru_utime + usage.ru_stime - c0
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    r = subprocess.run([sys.executable, str(REPO / "train.py"), "--out", str(run), "--export",
                        str(run / "bundle")], cwd=REPO, env=env, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"export failed: {r.stderr[-2000:]}")
    meta = json.loads((run / "bundle" / "model.json").read_text())
    losses = [(row["d_loss"], row["g_loss"]) for row in rows]
    info = {"steps": int(meta.get("training", {}).get("steps", rows[-1]["step"] if rows else 0)),
            "cpu_seconds": cpu, "wall_seconds": wall,
            "exit_status": os.waitstatus_to_exitcode(status),
            "all_losses_finite": all(np.isfinite(losses).ravel()) if losses else None,
            "last_losses": rows[-1] if rows else None}
    info["images_seen"] = info["steps"] * 32
    info["width"] = width
    bundle = load_bundle(run / "bundle")
    info["parameters"] = {"generator": int(bundle.generator.count_params()),
                          "discriminator": int(bundle.discriminator.count_params())}
    faces = generate(bundle, args.eval_faces, seed=FACE_SEED)
    _save_faces(out, faces, info)


# --- parent ------------------------------------------------------------------------------------
def prepare_data(out: Path) -> dict:
    """The training photos (uint8 and float32 .npy) and the held-out photos, split as train.py
    --holdout 0.2 splits them."""
    import numpy as np

    from gan.data import load_faces
    from gan.data.preprocess import to_model_input

    d = out / "data"
    paths = {k: d / f"{k}.npy" for k in ("train_u8", "train_f32", "held_u8")}
    if all(p.is_file() for p in paths.values()):
        return {k: str(v) for k, v in paths.items()}
    d.mkdir(parents=True, exist_ok=True)
    faces = load_faces(DATA, size=128, crop="face", n_jobs=2, progress=False)
    train, held = faces.split(HOLDOUT, 0)
    np.save(paths["held_u8"], held.images)
    np.save(paths["train_u8"], train.images)
    np.save(paths["train_f32"], to_model_input(train.images))
    return {k: str(v) for k, v in paths.items()}


def side_by_side(out: Path, panels: list[tuple[str, Path | None]], held_u8) -> Path:
    from PIL import Image, ImageDraw

    from gan.images import make_grid

    grids = [("real photos (held out)", Image.fromarray(make_grid(held_u8[:64], cols=8)))]
    for title, png in panels:
        grids.append((title, Image.open(png).convert("RGB")))
    w, h = grids[0][1].size
    pad, head = 16, 44
    canvas = Image.new("RGB", (len(grids) * (w + pad) + pad, h + head + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (title, im) in enumerate(grids):
        x = pad + i * (w + pad)
        for j, line in enumerate(title.split("\n")[:2]):
            draw.text((x, 6 + 18 * j), line, fill="black")
        canvas.paste(im.resize((w, h)), (x, head))
    path = out / "side_by_side.png"
    canvas.save(path)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0, help="budget per contestant (default 30)")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                   help="cpu: process CPU time, all threads (default); wall: elapsed time")
    p.add_argument("--contestants", default=",".join(CONTESTANTS),
                   help=f"comma-separated, from {','.join(CONTESTANTS)} and ours@W (W times "
                        "the default width, e.g. ours@1.5; default: the three)")
    p.add_argument("--eval-faces", type=int, default=1000,
                   help="generated faces (and held-out photos) for SWD (default 1000)")
    p.add_argument("--out", default=str(OUT), help="output folder (default bench/out/race)")
    p.add_argument("--contestant", help=argparse.SUPPRESS)
    p.add_argument("--state", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    out = Path(args.out).resolve()
    args.seconds = args.minutes * 60.0

    if args.contestant:                          # inside a contestant's subprocess
        st = json.loads(args.state)
        args.train_u8, args.train_f32 = st["train_u8"], st["train_f32"]
        d = out / args.contestant
        d.mkdir(parents=True, exist_ok=True)
        w = width_of(args.contestant)
        if w is not None:
            run_ours(args, d, w)
        else:
            {"recipe": run_recipe, "emulated": run_emulated}[args.contestant](args, d)
        return 0

    chosen = [c.strip() for c in args.contestants.split(",") if c.strip()]
    bad = {c for c in chosen if c not in CONTESTANTS and width_of(c) is None}
    if bad:
        p.error(f"unknown contestants {sorted(bad)}")
    if not DATA.is_dir():
        print(f"error: the race needs {DATA}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(REPO))
    out.mkdir(parents=True, exist_ok=True)
    print(f"Preparing data (celeba-5k, face crop, 128 px, holdout {HOLDOUT}) ...", flush=True)
    data = prepare_data(out)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO))
    results = {}
    for c in chosen:
        print(f"Training {c}: {name_of(c)}, {args.minutes:g} {args.clock}-minutes ...", flush=True)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--contestant", c, "--state", json.dumps(data),
               "--minutes", str(args.minutes), "--clock", args.clock, "--eval-faces", str(args.eval_faces),
               "--out", str(out)]
        (out / c).mkdir(parents=True, exist_ok=True)
        with open(out / c / "contestant.log", "w") as log:
            r = subprocess.run(cmd, cwd=SEED_DIR if c == "recipe" else REPO, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
        if r.returncode:
            print(f"  {c} failed (exit {r.returncode}); see {out / c / 'contestant.log'}", flush=True)
            continue
        results[c] = json.loads((out / c / "result.json").read_text())
        print(f"  {results[c]['steps']} steps, {results[c]['cpu_seconds']:.0f} CPU-s, "
              f"{results[c]['wall_seconds']:.0f} wall-s", flush=True)

    import numpy as np

    from gan.metrics.msssim import diversity
    from gan.metrics.swd import swd

    held = np.load(data["held_u8"])
    n = min(args.eval_faces, len(held))
    ref = held[np.random.default_rng(0).permutation(len(held))[:n]]
    train_ref = np.load(data["train_u8"], mmap_mode="r")[:n]
    print("Measuring SWD (lower is better) and MS-SSIM diversity ...", flush=True)
    floor = swd(np.asarray(train_ref), ref)["average"]
    for c, res in results.items():
        faces = np.load(out / c / "faces.npy")[:n]
        s = swd(faces, ref)
        res["swd"] = {"average": s["average"], "levels": s["levels"], "images": s["images"]}
        res["ms_ssim_diversity"] = diversity(faces, n_pairs=min(1000, n * 2))["mean"]
    real_div = diversity(ref, n_pairs=min(1000, n * 2))["mean"]
    panels = [(f"{name_of(c)}\n{r['steps']} steps, {r['cpu_seconds'] / 60:.1f} CPU-min, "
               f"SWD {r['swd']['average']:.0f}", out / c / "samples.png") for c, r in results.items()]
    img = side_by_side(out, panels, held)
    report = {"budget": {"minutes": args.minutes, "clock": args.clock}, "eval_faces": n,
              "swd_real_train_vs_held_out": floor, "ms_ssim_real": real_div, "contestants": results}
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\n{'contestant':<62} {'steps':>6} {'CPU-min':>8} {'img/CPU-s':>9} {'SWD':>6} {'MS-SSIM':>8}")
    print(f"{'real photos: training vs held-out (floor)':<62} {'':>6} {'':>8} {'':>9} {floor:6.1f} {real_div:8.3f}")
    for c, r in results.items():
        print(f"{name_of(c):<62} {r['steps']:>6} {r['cpu_seconds'] / 60:8.1f} "
              f"{r['images_seen'] / max(r['cpu_seconds'], 1e-9):9.2f} {r['swd']['average']:6.1f} "
              f"{r['ms_ssim_diversity']:8.3f}")
    print(f"\nSide by side: {img}\nReport: {out / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
