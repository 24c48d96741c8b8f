"""Training speed on this machine, as ratios measured in one run (a benchmark, not a test).

    python bench/train_speed.py              # baseline recipe vs our step, plus generation
    python bench/train_speed.py --levers     # each speed lever alone against the default config
    python bench/train_speed.py --random-data   # without ../shared/data (random pixels)

What it times, on the same photos and batch size (32):
  baseline   the earlier demos' recipe, `../shared/bench/seed_recipe.py STEPS DATA.npy`, run as
             it is (a subprocess in ../shared/bench); its own timer excludes start-up and its
             3 warm-up steps; we read its `img_per_s` line.
  default    our training step (`DCGAN.compiled_steps`) on the default TrainConfig, fed by the
             real input pipeline (`gan.data.pipeline.make_dataset`), each step's outputs read
             back to Python as `train.py` does, after warm-up.
  ours@baseline-arch   the same machinery on the baseline's architecture
             (bench/baseline_arch.py: z=100, 256-128-64-32 transposed convs, BN D), so that the
             ratio measures our training machinery and not only a smaller model.
and, for the app and CLIs, faces/s for one batch of 64 (`gan.sampling.generate`, the library
path the app and `python -m gan.generate` use) against the earlier demos' one-`predict`-per-face
loop.

The CPU is shared (a training run, other engineers), so absolute img/s drift by 2x within
minutes. Each candidate runs in a worker process that stays warm; the parent runs timed blocks
of the candidates in turn (round r in reverse order when r is odd), several rounds, and reports
medians and the median of the per-round ratios (blocks next to each other share the same load).
Thread-count levers need their own process (TensorFlow fixes its pools at start-up), so every
worker is a subprocess and this parent never imports TensorFlow.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SEED_DIR = SHARED / "bench"
SEED_RECIPE = SEED_DIR / "seed_recipe.py"
CELEBA = SHARED / "data" / "celeba-5k" / "img"
OUT = REPO / "bench" / "out"
TAG = "@@ "            # worker protocol lines on stdout start with this

# --- candidates ------------------------------------------------------------------------------
# name -> (description, TrainConfig overrides, architecture, feed)
#   feed: "pipeline" (make_dataset, as train.py), "sync" (same batches built in the step loop,
#   no tf.data and no prefetch), "const" (one batch, reused: no input cost at all)
MAIN = {
    "default": ("our default config", {}, "ours", "pipeline"),
    "ours@baseline-arch": ("our step on the baseline's architecture", {}, "baseline", "pipeline"),
}
LEVERS = {
    "default": ("default: shared G forward, bf16, fused BN in G, D without norm, R1 0.2 every 4 steps, "
                "no XLA, tf.data, 2/2 threads, G12/D24, bs 32",
                {}, "ours", "pipeline"),
    "alternating": ("alternating D then G step (2 G forwards; bench/recipe_step.py)", {"_alternating": True},
                    "ours", "pipeline"),
    "xla": ("jit_compile=True (XLA)", {"jit_compile": True}, "ours", "pipeline"),
    "float32": ("float32 instead of mixed bfloat16", {"precision": "float32"}, "ours", "pipeline"),
    "keras-bn": ("Keras's own (unfused) BatchNorm instead of the fused op", {"_fused_bn": False},
                 "ours", "pipeline"),
    "no-prefetch": ("batches built in the step loop (no tf.data, no prefetch)", {}, "ours", "sync"),
    "no-input": ("one constant batch (input cost removed: upper bound)", {}, "ours", "const"),
    "no-diffaugment": ("DiffAugment off (a quality feature; its cost)", {"diffaugment": ""}, "ours", "pipeline"),
    "no-r1": ("R1 off (a quality feature; its cost)", {"r1_gamma": 0.0}, "ours", "pipeline"),
    "d-batchnorm": ("D with BatchNorm and no R1 (the previous default)", {"d_norm": "batch", "r1_gamma": 0.0},
                    "ours", "pipeline"),
    "batch16": ("batch size 16", {"batch_size": 16}, "ours", "pipeline"),
    "batch64": ("batch size 64", {"batch_size": 64}, "ours", "pipeline"),
    "width8/16": ("G/D channels at 128 px: 8/16", {"g_channels": 8, "d_channels": 16}, "ours", "pipeline"),
    "width16/32": ("G/D channels at 128 px: 16/32", {"g_channels": 16, "d_channels": 32}, "ours", "pipeline"),
    # bench/capacity_race.py's widths; 1.5x first with every channel count scaled as is (18, 36:
    # not multiples of 8), then as the race builds it (each count rounded to a multiple of 8)
    "race1.5x-odd": ("1.5x, counts as is: G 18/384, D 36/384", {"g_channels": 18, "g_max_channels": 384,
                     "d_channels": 36, "d_max_channels": 384}, "ours", "pipeline"),
    "race1.5x": ("capacity race 1.5x: G 16/384, D 40/384", {"g_channels": 16, "g_max_channels": 384,
                 "d_channels": 40, "d_max_channels": 384}, "ours", "pipeline"),
    "race2x": ("capacity race 2x: G 24/512, D 48/512", {"g_channels": 24, "g_max_channels": 512,
               "d_channels": 48, "d_max_channels": 512}, "ours", "pipeline"),
    "baseline-arch": ("baseline architecture, our step (bf16, shared)", {}, "baseline", "pipeline"),
    "baseline-arch-f32": ("baseline architecture, our step in float32", {"precision": "float32"}, "baseline", "pipeline"),
    "baseline-arch-no-diffaugment": ("baseline architecture, our step without DiffAugment (like the recipe)",
                                     {"diffaugment": ""}, "baseline", "pipeline"),
    "baseline-arch-keras-bn": ("baseline architecture, our step, Keras's unfused BatchNorm",
                               {"_fused_bn": False}, "baseline", "pipeline"),
}
# thread levers: each its own worker process running the default config
#   "default" = gan.training.loop.configure_threads() (what train.py does); "tf" = TF's own choice
THREADS = {
    "threads tf-default": "tf",
    "threads 1/1": "1,1",
    "threads 2/1": "2,1",
}


# --- worker (runs in a subprocess; imports TensorFlow) -----------------------------------------
def _set_threads(spec: str) -> None:
    import tensorflow as tf

    if spec == "default":
        from gan.training.loop import configure_threads

        configure_threads()
    elif spec != "tf":
        intra, inter = (int(v) for v in spec.split(","))
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)


class _Candidate:
    """One training configuration, built and warmed up, ready to be timed."""

    def __init__(self, overrides: dict, arch: str, feed: str, images, seed: int = 0):
        overrides = dict(overrides)
        fused_bn = overrides.pop("_fused_bn", True)   # not a TrainConfig field: a DCGAN option
        alternating = overrides.pop("_alternating", False)   # the benchmark-only step
        import numpy as np
        import tensorflow as tf

        from gan.config import TrainConfig
        from gan.data.pipeline import batch_indices, flip_mask, make_dataset
        from gan.training.gan_model import DCGAN

        if alternating:
            from bench.recipe_step import RecipeDCGAN

            model_class = partial(RecipeDCGAN, recipe_loss=False, alternating=True)
        else:
            model_class = DCGAN
        if arch == "baseline":
            from bench import baseline_arch

            cfg = baseline_arch.config(**overrides)
            model = model_class(cfg, build_g=baseline_arch.generator, build_d=baseline_arch.discriminator,
                                fused_bn=fused_bn)
        else:
            cfg = TrainConfig(**overrides).validate()
            model = model_class(cfg, fused_bn=fused_bn)
        self.cfg, self.model = cfg, model
        self.step_fn, self.r1_fn = model.compiled_steps()
        bs, n = cfg.batch_size, len(images)
        empty = np.zeros((bs, 0), np.float32)
        if feed == "pipeline":
            it = iter(make_dataset(images, None, bs, seed=seed, flip=cfg.flip))
            self.next_batch = lambda step: next(it)
        elif feed == "sync":
            def next_batch(step):
                x = images[batch_indices(n, bs, seed, step)]
                f = flip_mask(bs, seed, step)
                x[f] = x[f, :, ::-1]
                return tf.cast(x, tf.float32) / 127.5 - 1.0, empty
            self.next_batch = next_batch
        elif feed == "const":
            const = (tf.cast(images[:bs], tf.float32) / 127.5 - 1.0, tf.constant(empty))
            self.next_batch = lambda step: const
        else:
            raise ValueError(feed)
        self.step = 0
        self.run_steps(3)                       # trace (or XLA-compile) and warm up

    def run_steps(self, k: int) -> dict:
        import tensorflow as tf

        for _ in range(k):
            real, labels = self.next_batch(self.step)
            data = (real, labels, tf.constant(self.step, tf.int64))
            out = self.step_fn(data)
            if self.cfg.r1_gamma > 0 and self.step % self.cfg.r1_every == 0:   # as train.py
                out.update(self.r1_fn(data))
            out = {key: float(v) for key, v in out.items()}   # as train.py: sync every step
            self.step += 1
        return out

    def time_block(self, seconds: float) -> dict:
        t0, c0, steps = time.perf_counter(), time.process_time(), 0
        while steps < 2 or time.perf_counter() - t0 < seconds:
            out = self.run_steps(1)
            steps += 1
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        return {"img_per_s": steps * self.cfg.batch_size / dt, "steps": steps, "seconds": dt,
                "cpu_seconds": cpu, "finite": all(v == v and abs(v) != float("inf") for v in out.values()),
                "d_loss": out["d_loss"], "g_loss": out["g_loss"]}


class _Generation:
    """faces/s for one batch of 64: the library path vs a one-predict-per-face loop."""

    N = 64

    def __init__(self, model_dir: str):
        import types

        import numpy as np

        from gan.config import TrainConfig
        from gan.models import build_generator

        self.sources = {}
        try:
            from gan.bundle import load_bundle

            b = load_bundle(model_dir)
            self.sources[f"bundle {Path(model_dir).name} (G{b.card['config']['g_channels']})"] = b
        except Exception as e:  # noqa: BLE001 - a missing bundle is not fatal here
            print(f"note: no unconditional bundle at {model_dir} ({e})", file=sys.stderr)
        cfg = TrainConfig()
        g = build_generator(cfg, 0, dtype="float32")   # what a default-config bundle holds
        self.sources[f"default config (G{cfg.g_channels}, float32)"] = types.SimpleNamespace(
            generator=g, conditional=False, latent_dim=cfg.latent_dim, resolution=cfg.resolution,
            label_names=[])
        self.np = np
        for b in self.sources.values():
            self.run("batch64", b)
            self.run("naive", b)

    def run(self, how: str, bundle) -> float:
        from gan.data.preprocess import to_uint8
        from gan.sampling import generate, latents

        t = time.perf_counter()
        if how == "batch64":
            faces = generate(bundle, self.N, seed=1)
        else:  # the earlier demos: one predict call per face
            from gan.sampling import label_matrix

            z = latents(1, self.N, bundle.latent_dim)
            y = label_matrix(bundle, self.N, None) if bundle.conditional else None
            faces = [to_uint8(bundle.generator.predict(
                [z[i:i + 1], y[i:i + 1]] if y is not None else z[i:i + 1], verbose=0))[0]
                for i in range(self.N)]
        assert len(faces) == self.N
        return self.N / (time.perf_counter() - t)


def worker(spec: dict) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(REPO))
    import numpy as np

    _set_threads(spec["threads"])
    images = np.load(spec["data"])
    cands = {}
    for name, (overrides, arch, feed) in spec["cands"].items():
        t = time.perf_counter()
        cands[name] = _Candidate(overrides, arch, feed, images)
        print(f"[worker {spec['threads']}] {name}: built and warmed up in {time.perf_counter() - t:.0f} s",
              file=sys.stderr, flush=True)
    gen = _Generation(spec["model"]) if spec.get("generation") else None
    print(TAG + json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["op"] == "quit":
            break
        if msg["op"] == "time":
            res = cands[msg["cand"]].time_block(msg["seconds"])
        elif msg["op"] == "gen":
            res = {how: [gen.run(how, b) for _ in range(msg["repeats"])]
                   for how in ("batch64", "naive") for b in [gen.sources[msg["source"]]]}
        elif msg["op"] == "gen_sources":
            res = {"sources": list(gen.sources)}
        else:
            raise ValueError(msg)
        print(TAG + json.dumps(res), flush=True)


# --- parent -------------------------------------------------------------------------------------
class Worker:
    def __init__(self, threads: str, cands: dict, data: Path, log: Path, model: str = "",
                 generation: bool = False):
        spec = {"threads": threads, "data": str(data), "model": model, "generation": generation,
                "cands": {k: v[1:] for k, v in cands.items()}}
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO))
        self.log = open(log, "a")
        self.p = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                  text=True, cwd=REPO, env=env)
        self.read()   # wait until built and warmed up

    def read(self) -> dict:
        for line in self.p.stdout:
            if line.startswith(TAG):
                return json.loads(line[len(TAG):])
        raise RuntimeError(f"worker died (exit {self.p.wait()}); see {self.log.name}")

    def ask(self, **msg) -> dict:
        self.p.stdin.write(json.dumps(msg) + "\n")
        self.p.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.p.poll() is None:
            try:
                self.p.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.p.stdin.flush()
                self.p.wait(timeout=60)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.p.kill()
        self.log.close()


def run_baseline(steps: int, data_f32: Path, log: Path) -> tuple[float, float]:
    """One run of the earlier demos' recipe, as it is, from ../shared/bench:
    (its img/s, the CPU seconds of the whole process, start-up included)."""
    import resource

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONPATH", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([sys.executable, str(SEED_RECIPE), str(steps), str(data_f32)], cwd=SEED_DIR,
                       env=env, capture_output=True, text=True, timeout=1800)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    with open(log, "a") as f:
        f.write(r.stdout + r.stderr)
    m = re.search(r"^img_per_s\s+([0-9.]+)", r.stdout, re.M)
    if r.returncode or not m:
        raise RuntimeError(f"seed_recipe.py failed (exit {r.returncode}); see {log}")
    return float(m.group(1)), cpu


def prepare_data(n: int, random_data: bool) -> tuple[Path, Path, str]:
    """(uint8 .npy for our pipeline, float32 [-1,1] .npy for the recipe, description): the same
    photos for both. Real CelebA photos, face-cropped as training does, unless random_data."""
    import numpy as np

    sys.path.insert(0, str(REPO))
    from gan.data.preprocess import to_model_input

    d = OUT / "data"
    d.mkdir(parents=True, exist_ok=True)
    kind = "random" if random_data or not CELEBA.is_dir() else "celeba"
    u8, f32 = d / f"{kind}{n}_uint8.npy", d / f"{kind}{n}_float32.npy"
    if not (u8.is_file() and f32.is_file()):
        if kind == "celeba":
            from gan.data import load_faces

            # a folder of links to the first n photos, so only those are decoded
            links = d / f"celeba{n}_links"
            links.mkdir(exist_ok=True)
            for p in sorted(CELEBA.iterdir(), key=lambda p: (len(p.name), p.name))[:n]:
                if not (links / p.name).exists():
                    (links / p.name).symlink_to(p)
            images = load_faces(links, size=128, crop="face", n_jobs=2, progress=False).images
        else:
            images = np.random.default_rng(0).integers(0, 256, (n, 128, 128, 3), dtype=np.uint8)
        np.save(u8, images)
        np.save(f32, to_model_input(images))
    desc = (f"{len(np.load(u8, mmap_mode='r'))} CelebA photos (celeba-5k, face crop, 128 px)"
            if kind == "celeba" else f"{n} random images")
    return u8, f32, desc


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def rounds_of(order: list[str], rounds: int, run_one) -> tuple[dict, dict]:
    """Run every name of `order` once per round (reversed on odd rounds).
    `run_one(name)` -> (img/s, img per CPU-second or None); returns ({name: [img/s]},
    {name: [img/CPU-s]})."""
    got, cpu = {k: [] for k in order}, {k: [] for k in order}
    for r in range(rounds):
        seq = order if r % 2 == 0 else order[::-1]
        for name in seq:
            ips, ipc = run_one(name)
            got[name].append(ips)
            cpu[name].append(ipc)
            extra = f"  {ipc:6.1f} img/CPU-s" if ipc else ""
            print(f"  round {r + 1}/{rounds}  {name:<22} {ips:7.1f} img/s{extra}", flush=True)
    return got, cpu


def ratio_stats(got: dict, num: str, den: str) -> tuple[float, float, float]:
    """(median of per-round ratios, min, max)."""
    rs = [a / b for a, b in zip(got[num], got[den])]
    return med(rs), min(rs), max(rs)


def main_mode(args, u8: Path, f32: Path, logs: Path) -> dict:
    # The recipe's own timer gives wall img/s. For a CPU-time view (less sensitive to other jobs
    # on the machine) its per-step CPU is (CPU of a K-step run - CPU of a 1-step run) / (K - 1):
    # the start-up and 3 warm-up steps cancel out.
    print("Baseline start-up calibration (seed_recipe.py with 1 timed step) ...", flush=True)
    _, cpu_one = run_baseline(1, f32, logs / "baseline.log")
    print(f"Starting worker (our candidates: {', '.join(MAIN)}) ...", flush=True)
    w = Worker("default", MAIN, u8, logs / "worker-main.log", model=args.model, generation=True)
    k = args.baseline_steps
    try:
        def run_one(name):
            if name == "baseline":
                ips, cpu = run_baseline(k, f32, logs / "baseline.log")
                per_step = (cpu - cpu_one) / (k - 1)
                return ips, (32 / per_step if per_step > 0 else None)
            r = w.ask(op="time", cand=name, seconds=args.block_seconds)
            return r["img_per_s"], r["steps"] * 32 / r["cpu_seconds"]

        got, cpu = rounds_of(["baseline", *MAIN], args.rounds, run_one)
        gen = {}
        for src in w.ask(op="gen_sources")["sources"]:
            gen[src] = {"batch64": [], "naive": []}
            for _ in range(args.rounds):
                r = w.ask(op="gen", source=src, repeats=1)
                for key in r:
                    gen[src][key] += r[key]
    finally:
        w.close()
    cpu_ok = all(v is not None for v in cpu["baseline"])
    res = {"img_per_s": {n: med(v) for n, v in got.items()}, "raw": got, "raw_img_per_cpu_s": cpu,
           "ratios": {n: ratio_stats(got, n, "baseline") for n in MAIN},
           "cpu_ratios": {n: med(cpu[n]) / med(cpu["baseline"]) for n in MAIN} if cpu_ok else {},
           "generation": {s: {"batch64": med(v["batch64"]), "naive": med(v["naive"]),
                              "ratio": med([a / b for a, b in zip(v["batch64"], v["naive"])])}
                          for s, v in gen.items()}}
    print("\n=== training speed (median over rounds; ratio = median of per-round ratios [min-max]) ===")
    print(f"{'baseline (seed_recipe.py, run as is)':<44} {res['img_per_s']['baseline']:7.1f} img/s"
          + (f"   {med(cpu['baseline']):6.1f} img/CPU-s" if cpu_ok else ""))
    need = {"default": 3.0, "ours@baseline-arch": 2.0}
    for n in MAIN:
        r, lo, hi = res["ratios"][n]
        print(f"{MAIN[n][0]:<44} {res['img_per_s'][n]:7.1f} img/s   "
              f"{r:5.2f}x baseline [{lo:.2f}-{hi:.2f}]   (target >= {need[n]:.0f}x: "
              f"{'met' if r >= need[n] else 'NOT met'})")
    if cpu_ok:
        print("CPU-time view (img per CPU-second of each process; the baseline's from K-step minus "
              "1-step runs):")
        for n in MAIN:
            print(f"  {MAIN[n][0]:<42} {med(cpu[n]):6.1f} img/CPU-s  = {res['cpu_ratios'][n]:5.2f}x baseline")
    print("\n=== generation: 64 faces (gan.sampling.generate, one batch) vs one predict() per face ===")
    for s, v in res["generation"].items():
        print(f"{s:<44} {v['batch64']:7.1f} faces/s  vs {v['naive']:6.1f} faces/s  = {v['ratio']:5.1f}x")
    return res


def levers_mode(args, u8: Path, f32: Path, logs: Path) -> dict:
    names = [k for k in LEVERS if not args.only or k == "default" or k in args.only]
    thread_names = [k for k in THREADS if not args.only or k in args.only]
    workers = {}
    try:
        print(f"Starting worker for {len(names)} in-process candidates (warm-up traces each) ...", flush=True)
        workers["default"] = Worker("default", {k: LEVERS[k] for k in names}, u8, logs / "worker-levers.log")
        for k in thread_names:
            print(f"Starting worker for {k} ...", flush=True)
            workers[k] = Worker(THREADS[k], {"default": LEVERS["default"]}, u8,
                                logs / f"worker-{k.replace(' ', '_').replace('/', '-')}.log")

        def run_one(name):
            w, cand = (workers[name], "default") if name in THREADS else (workers["default"], name)
            r = w.ask(op="time", cand=cand, seconds=args.block_seconds)
            return r["img_per_s"], r["steps"] * w_batch(name) / r["cpu_seconds"]

        def w_batch(name):
            return LEVERS.get(name, LEVERS["default"])[1].get("batch_size", 32)

        got, cpu = rounds_of(names + thread_names, args.rounds, run_one)
    finally:
        for w in workers.values():
            w.close()
    rows = []
    for k in names + thread_names:
        desc = LEVERS[k][0] if k in LEVERS else f"intra/inter threads {THREADS[k]} (default is 2/2)"
        r, lo, hi = ratio_stats(got, k, "default")
        rc = med([a / b for a, b in zip(cpu[k], cpu["default"])])
        rows.append((k, desc, med(got[k]), r, lo, hi, rc))
    print("\n=== levers, one at a time (ratio = median of per-round ratios to default [min-max]) ===")
    print("| lever | what | img/s (median) | wall vs default | img/CPU-s vs default |\n|---|---|---:|---:|---:|")
    for k, desc, ips, r, lo, hi, rc in rows:
        print(f"| {k} | {desc} | {ips:.1f} | {r:.2f}x [{lo:.2f}-{hi:.2f}] | {rc:.2f}x |")
    return {"rows": rows, "raw": got, "raw_img_per_cpu_s": cpu}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--levers", action="store_true", help="time each lever against the default config")
    p.add_argument("--only", nargs="*", default=[], help="with --levers: only these levers")
    p.add_argument("--rounds", type=int, default=3, help="timed blocks per candidate (default 3)")
    p.add_argument("--block-seconds", type=float, default=15.0,
                   help="length of each timed block of our step (default 15)")
    p.add_argument("--baseline-steps", type=int, default=12,
                   help="timed steps per run of seed_recipe.py (default 12, ~15-40 s here)")
    p.add_argument("--images", type=int, default=512, help="photos to train on (default 512)")
    p.add_argument("--random-data", action="store_true", help="random pixels instead of CelebA")
    p.add_argument("--model", default=str(REPO / "models" / "default"),
                   help="bundle for the generation timing (default models/default)")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    if not args.levers and not SEED_RECIPE.is_file():
        print(f"error: the baseline recipe is not at {SEED_RECIPE}", file=sys.stderr)
        return 2
    logs = OUT / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    u8, f32, desc = prepare_data(args.images, args.random_data)
    print(f"Data: {desc}; batch 32; {args.rounds} rounds; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f} at start", flush=True)
    t = time.perf_counter()
    res = levers_mode(args, u8, f32, logs) if args.levers else main_mode(args, u8, f32, logs)
    print(f"\n(total {time.perf_counter() - t:.0f} s; load average {os.getloadavg()[0]:.1f} at end; "
          f"worker logs in {logs})")
    if args.json:
        Path(args.json).write_text(json.dumps({"data": desc, **res}, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
