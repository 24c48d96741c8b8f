"""Training behaviour a user relies on: a run writes its run directory, a stopped run resumes
exactly, a killed checkpoint write never destroys the last checkpoint, and the exported bundle
loads (and a damaged one is refused)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.factories import tiny_config, write_photo_folder

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_photo_folder(tmp_path_factory.mktemp("photos"), n=24)


def _cfg(photos, tmp_path, **kw):
    return tiny_config(data=str(photos), n_jobs=1, **kw)


def _state(run_dir):
    from gan.training.checkpoint import CHECKPOINT_NAME

    with np.load(Path(run_dir) / CHECKPOINT_NAME, allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k != "__meta__"}, json.loads(str(z["__meta__"]))


@pytest.mark.slow
def test_short_run_writes_every_file(photos, tmp_path):
    from gan.bundle import load_bundle
    from gan.training.loop import train

    run = tmp_path / "run"
    cfg = _cfg(photos, tmp_path, steps=4, holdout_fraction=0.2)
    result = train(cfg, run, progress=False)
    assert result.status == "finished" and result.step == 4
    for name in ("config.json", "data_report.json", "reals.png", "log.jsonl", "losses.png",
                 "checkpoint.npz", "samples/fakes000000.png", "samples/fakes000002.png",
                 "samples/fakes000004.png", "bundle/model.json", "bundle/generator.keras",
                 "bundle/discriminator.keras"):
        assert (run / name).is_file(), name
    assert any((run / "tb").iterdir())
    rows = [json.loads(l) for l in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert all(np.isfinite(r["d_loss"]) and r["img_per_s"] > 0 for r in rows)
    assert json.loads((run / "config.json").read_text())["steps"] == 4
    report = json.loads((run / "data_report.json").read_text())
    assert report["holdout"]["held_out"] + report["holdout"]["train"] == 24
    b = load_bundle(run / "bundle")
    assert b.card["training"]["steps"] == 4 and b.resolution == 32
    cpu = [r["cpu_seconds"] for r in rows]                 # CPU time of the steps, all threads
    assert cpu == sorted(cpu) and b.card["training"]["cpu_seconds"] >= cpu[-1] > 0
    assert "cpu_counted_from_step" not in b.card["training"]  # counted from step 0
    assert b.card["data"]["holdout"]["images"] == report["holdout"]["held_out"]
    assert len(list((run / "bundle" / "examples" / "real").glob("*.png"))) > 0


@pytest.mark.slow
def test_resume_continues_exactly(photos, tmp_path):
    """Stopping at step 3 and resuming to 6 gives the same weights, optimizer state and log as
    one uninterrupted run of 6 steps."""
    from gan.training.loop import resolve_config, train

    straight, split = tmp_path / "straight", tmp_path / "split"
    train(_cfg(photos, tmp_path, steps=6, checkpoint_every=100), straight, progress=False)
    r1 = train(_cfg(photos, tmp_path, steps=6, checkpoint_every=100), split, progress=False, stop_at=3)
    assert r1.status == "interrupted" and r1.step == 3
    assert _state(split)[1]["step"] == 3
    cfg, resuming = resolve_config(split, {"steps": 6})
    assert resuming
    r2 = train(cfg, split, progress=False)
    assert r2.status == "finished" and r2.step == 6
    a, meta_a = _state(straight)
    b, meta_b = _state(split)
    assert meta_a["step"] == meta_b["step"] == 6
    assert a.keys() == b.keys()
    assert any(k.startswith("g_optimizer/") for k in a)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)
    rows_a = [json.loads(l) for l in (straight / "log.jsonl").read_text().splitlines()]
    rows_b = [json.loads(l) for l in (split / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows_b] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose([r["g_loss"] for r in rows_a], [r["g_loss"] for r in rows_b], rtol=1e-4)
    # the sample grid z is the same after resume: step-6 grids are identical images
    assert (straight / "samples/fakes000006.png").read_bytes() == (split / "samples/fakes000006.png").read_bytes()


@pytest.mark.slow
def test_learning_rates_given_on_resume_are_used(photos, tmp_path):
    """A checkpoint restores the optimizers' variables, learning rate among them; --lr-g/--lr-d
    given when resuming must still be the rates the run goes on with (and saves)."""
    from gan.training.checkpoint import load_checkpoint
    from gan.training.gan_model import DCGAN
    from gan.training.loop import resolve_config, train

    run = tmp_path / "run"
    first = _cfg(photos, tmp_path, steps=4, checkpoint_every=100)
    assert (first.lr_g, first.lr_d) != (5e-5, 1e-5)
    train(first, run, progress=False, stop_at=2)
    cfg, resuming = resolve_config(run, {"steps": 4, "lr_g": 5e-5, "lr_d": 1e-5})
    assert resuming
    train(cfg, run, progress=False)

    fresh = DCGAN(first, n_labels=0)        # the first rates until the checkpoint is read
    meta = load_checkpoint(run / "checkpoint.npz", fresh.state_variables())
    assert meta["step"] == 4
    assert float(fresh.g_optimizer.learning_rate) == pytest.approx(5e-5)
    assert float(fresh.d_optimizer.learning_rate) == pytest.approx(1e-5)


def test_auto_precision_is_bfloat16_only_where_the_cpu_computes_it(tmp_path):
    """Without a bfloat16 unit TensorFlow emulates bfloat16 and trains slower than in float32
    (2.7x on this project's 2-core machine), so "auto", the default, picks float32 there."""
    from gan.config import TrainConfig, concrete_precision, machine_precision

    def cpuinfo(flags: str) -> Path:
        f = tmp_path / f"cpuinfo-{len(flags)}"
        f.write_text(f"processor\t: 0\nmodel name\t: a CPU\nflags\t\t: fpu sse2 {flags}\n\n"
                     f"processor\t: 1\nflags\t\t: fpu sse2 {flags}\n")
        return f

    assert TrainConfig().precision == "auto"
    assert machine_precision(cpuinfo("avx2 avx512f avx512_vnni")) == "float32"
    assert machine_precision(cpuinfo("avx2 avx512f avx512_bf16")) == "mixed_bfloat16"
    assert machine_precision(cpuinfo("avx2 amx_tile amx_bf16")) == "mixed_bfloat16"
    assert machine_precision(tmp_path / "no-such-file") == "float32"     # not Linux: float32
    for explicit in ("float32", "mixed_bfloat16", "mixed_float16"):
        assert concrete_precision(explicit) == explicit


def test_a_run_records_the_precision_it_trained_with(photos, tmp_path, monkeypatch):
    """config.json names the precision the run trained with, not "auto", so a run resumed on
    another machine keeps it, and --precision given on resume still changes it."""
    from gan import config as config_module
    from gan.training.loop import resolve_config, train

    monkeypatch.setattr(config_module, "machine_precision", lambda *a: "float32")
    run = tmp_path / "run"
    cfg, resuming = resolve_config(run, {"data": str(photos), "steps": 2, "n_jobs": 1,
                                         "checkpoint_every": 100},
                                   base=_cfg(photos, tmp_path, precision="auto"))
    assert not resuming and cfg.precision == "float32"
    train(cfg, run, progress=False)
    assert json.loads((run / "config.json").read_text())["precision"] == "float32"
    monkeypatch.setattr(config_module, "machine_precision", lambda *a: "mixed_bfloat16")
    cfg, resuming = resolve_config(run, {"steps": 3})
    assert resuming and cfg.precision == "float32"          # kept, whatever this machine has
    cfg, _ = resolve_config(run, {"steps": 3, "precision": "auto"})
    assert cfg.precision == "mixed_bfloat16"                  # asked for: this machine's


@pytest.mark.slow
def test_resume_refuses_another_architecture(photos, tmp_path):
    from gan.training.loop import TrainingError, resolve_config, train

    run = tmp_path / "run"
    train(_cfg(photos, tmp_path, steps=2), run, progress=False)
    with pytest.raises(TrainingError, match="different architecture"):
        resolve_config(run, {"latent_dim": 99})


def test_extra_convs_can_be_kept_to_the_low_resolutions():
    """--extra-convs-max-res R: depth only in blocks at most R px, in both networks."""
    from gan.config import ConfigError
    from gan.models import build_discriminator, build_generator

    def convs(model):
        return sorted(layer.name for layer in model.layers
                      if layer.name.startswith("conv") and not layer.name.endswith("_bn"))

    every, low = tiny_config(extra_convs=1), tiny_config(extra_convs=1, extra_convs_max_res=8)
    assert convs(build_generator(every, dtype="float32")) == ["conv16_0", "conv32_0", "conv8_0"]
    assert convs(build_generator(low, dtype="float32")) == ["conv8_0"]
    assert convs(build_discriminator(every, dtype="float32")) == ["conv16_0", "conv4_0", "conv8_0"]
    assert convs(build_discriminator(low, dtype="float32")) == ["conv4_0", "conv8_0"]
    with pytest.raises(ConfigError, match="extra_convs_max_res"):
        tiny_config(extra_convs=1, extra_convs_max_res=12)


@pytest.mark.slow
def test_an_attention_block_learns_in_both_networks_and_resumes(photos, tmp_path):
    """--attention-res R: one self-attention block at R px in G and D; its output projection
    starts at zero and moves with training (R1's second derivative goes through it too); the
    checkpoint holds it, so a stopped run resumes to the same weights."""
    from gan.bundle import load_bundle
    from gan.models import build_discriminator, build_generator
    from gan.training.loop import resolve_config, train

    cfg = _cfg(photos, tmp_path, steps=4, attention_res=8, r1_every=1, checkpoint_every=100)
    for net in (build_generator(cfg, dtype="float32"), build_discriminator(cfg, dtype="float32")):
        assert not np.any(net.get_layer("attn8_out").get_weights()[0])
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(cfg, straight, progress=False)
    train(_cfg(photos, tmp_path, steps=4, attention_res=8, r1_every=1, checkpoint_every=100),
          split, progress=False, stop_at=2)
    cfg2, resuming = resolve_config(split, {"steps": 4})
    assert resuming and cfg2.attention_res == 8
    train(cfg2, split, progress=False)
    grown = load_bundle(straight / "bundle")
    for net in (grown.generator, grown.discriminator):
        assert np.any(net.get_layer("attn8_out").get_weights()[0]), net.name
    a, b = _state(straight)[0], _state(split)[0]
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)


@pytest.mark.slow
def test_sigterm_checkpoints_and_the_same_command_resumes(photos, tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, str(ROOT / "train.py"), "--data", str(photos), "--out", str(run),
           "--steps", "100000", "--resolution", "32", "--latent-dim", "16", "--g-channels", "8",
           "--g-max-channels", "32", "--d-channels", "8", "--d-max-channels", "32",
           "--batch-size", "8", "--crop", "center", "--precision", "float32",
           "--checkpoint-every", "100000", "--sample-every", "100000", "--log-every", "1",
           "--n-jobs", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        log = run / "log.jsonl"
        if log.is_file() and len(log.read_text().splitlines()) >= 3:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "resume" in err
    step = _state(run)[1]["step"]
    assert step >= 3
    # same command with a lower total: resumes, sees it is done, exports
    cmd[cmd.index("100000")] = str(step + 2)
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert f"Resuming {run} at step {step}" in done.stderr
    assert _state(run)[1]["step"] == step + 2
    steps = [json.loads(l)["step"] for l in (run / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, step + 3))


KILLER = r"""
import sys, numpy as np
from gan.training.checkpoint import save_checkpoint
path = sys.argv[1]
big = [np.full((4_000_000,), float(i), np.float32) for i in range(6)]
i = 0
while True:
    i += 1
    save_checkpoint(path, {"w": [b + i for b in big]}, {"step": i})
    print(i, flush=True)
"""


def test_checkpoint_write_killed_midway_leaves_previous_loadable(tmp_path):
    from gan.training.checkpoint import read_meta

    ckpt = tmp_path / "checkpoint.npz"
    proc = subprocess.Popen([sys.executable, "-c", KILLER, str(ckpt)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "1"      # one whole checkpoint exists
    time.sleep(0.3)                                   # now it is in the middle of later writes
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    meta = read_meta(ckpt)
    with np.load(ckpt, allow_pickle=False) as z:
        assert z["w/0000"][0] == meta["step"]          # whole and self-consistent
        assert z["w/0005"].shape == (4_000_000,)


def test_generate_cli_writes_resumes_and_repeats(tmp_path):
    from gan.generate import main
    from tests.factories import make_tiny_bundle

    bundle = make_tiny_bundle(tmp_path / "b")
    out = tmp_path / "faces"
    assert main(["--model", str(bundle), "--n", "3", "--out", str(out), "--seed", "5"]) == 0
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    assert len(first) == 3
    time.sleep(0.01)
    assert main(["--model", str(bundle), "--n", "5", "--out", str(out), "--seed", "5"]) == 0
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    assert len(after) == 5 and all(after[k] == v for k, v in first.items())
    other = tmp_path / "again"
    assert main(["--model", str(bundle), "--n", "5", "--out", str(other), "--seed", "5"]) == 0
    for p in out.glob("*.png"):
        assert (other / p.name).read_bytes() == p.read_bytes()
    assert main(["--model", str(tmp_path / "nope"), "--n", "1", "--out", str(other)]) == 2


def test_generate_cli_conditional_writes_labels_csv(tmp_path):
    from gan.generate import main
    from tests.factories import make_tiny_bundle

    bundle = make_tiny_bundle(tmp_path / "b", label_names=["male", "smiling"])
    out = tmp_path / "faces"
    assert main(["--model", str(bundle), "--n", "4", "--out", str(out), "--labels", "smiling=1"]) == 0
    rows = (out / "labels.csv").read_text().splitlines()
    assert rows[0] == "image,male,smiling" and len(rows) == 5
    assert rows[1].endswith(",0.5,1")
    assert main(["--model", str(bundle), "--n", "1", "--out", str(out), "--labels", "age=3"]) == 2


@pytest.mark.slow
def test_non_finite_loss_stops_and_rolls_back(photos, tmp_path, monkeypatch, capsys):
    """A NaN loss stops the run, leaves the last good checkpoint as it was and says so."""
    from gan.training import gan_model
    from gan.training.loop import train

    real_steps = gan_model.DCGAN.compiled_steps

    def poisoned(self):
        step_fn, r1_fn = real_steps(self)

        def step(data):
            out = step_fn(data)
            if int(data[2]) >= 3:
                out = dict(out, g_loss=float("nan"))
            return out
        return step, r1_fn

    monkeypatch.setattr(gan_model.DCGAN, "compiled_steps", poisoned)
    run = tmp_path / "run"
    result = train(_cfg(photos, tmp_path, steps=6, checkpoint_every=2), run, progress=False)
    assert result.status == "diverged"
    assert _state(run)[1]["step"] == 2                      # the last good checkpoint
    err = capsys.readouterr().err
    assert "diverged at step 3" in err and "rolled back to the last good checkpoint (step 2)" in err
    assert not (run / "bundle").exists()


@pytest.mark.slow
def test_init_from_bundle_starts_with_its_weights_and_records_it(photos, tmp_path):
    """Fine-tuning: a new run started from a bundle begins with that bundle's G and D (not the
    seed's fresh weights), its card says which bundle and how long that one trained, a bundle
    older than an architecture field still starts one, and a bundle of another architecture is
    refused before any training."""
    import keras

    from gan.bundle import load_bundle
    from gan.training.loop import TrainingError, train

    base = train(_cfg(photos, tmp_path, steps=2, seed=7), tmp_path / "base", progress=False).bundle
    base_g = load_bundle(base).generator.get_weights()

    run = tmp_path / "tuned"
    cfg = _cfg(photos, tmp_path, steps=0, init_from=str(base))
    result = train(cfg, run, progress=False)      # 0 steps: export the starting point itself
    tuned = load_bundle(result.bundle)
    for a, b in zip(tuned.generator.get_weights(), base_g):
        np.testing.assert_array_equal(a, b)
    fresh = train(_cfg(photos, tmp_path, steps=0), tmp_path / "fresh", progress=False).bundle
    assert any(not np.array_equal(a, b) for a, b in
               zip(load_bundle(fresh).generator.get_weights(), base_g))
    tr = tuned.card["training"]
    assert tr["init_from"]["bundle"] == str(base) and tr["init_from"]["steps"] == 2
    assert tr["total_steps"] == 2
    base_cpu = load_bundle(base).card["training"]["cpu_seconds"]   # totals include the start's CPU
    assert base_cpu > 0 and tr["total_cpu_seconds"] >= base_cpu

    # a bundle exported before an architecture field existed was built with its default
    card = json.loads((base / "model.json").read_text())
    del card["config"]["extra_convs_max_res"]
    (base / "model.json").write_text(json.dumps(card))
    keras.backend.clear_session()
    train(_cfg(photos, tmp_path, steps=0, init_from=str(base)), tmp_path / "older", progress=False)

    keras.backend.clear_session()
    with pytest.raises(TrainingError, match="g_channels"):
        train(_cfg(photos, tmp_path, steps=1, g_channels=16, init_from=str(base)),
              tmp_path / "wrong", progress=False)
    assert not (tmp_path / "wrong" / "checkpoint.npz").exists()


def test_checkpoint_from_before_cpu_counting_says_where_counting_starts():
    from gan.card import make_card
    from gan.config import TrainConfig
    from gan.training.loop import _cpu_meta

    assert _cpu_meta({"step": 2750, "training_seconds": 3700.0}) == {"seconds": 0.0, "from_step": 2750}
    assert _cpu_meta({"step": 9, "cpu_seconds": 5.5, "cpu_counted_from_step": 0}) == {
        "seconds": 5.5, "from_step": 0}
    tr = make_card(TrainConfig(), step=9000, cpu={"seconds": 7200.0, "from_step": 2750})["training"]
    assert tr["cpu_hours"] == 2.0 and tr["cpu_counted_from_step"] == 2750


@pytest.mark.slow
def test_export_from_a_checkpoint_ships_held_out_examples(photos, tmp_path):
    """`train.py --out RUN --export models/NAME` while (or after) a run trains: the bundle ships
    held-out photos for the detect page's "try it", and still exports when the data is gone."""
    import shutil

    from gan.bundle import load_bundle
    from gan.training.loop import export_run, train

    data = tmp_path / "photos"
    shutil.copytree(photos, data)
    run = tmp_path / "run"
    result = train(_cfg(data, tmp_path, steps=4, holdout_fraction=0.25), run, progress=False,
                   stop_at=2)
    assert result.status == "interrupted"
    report = json.loads((run / "data_report.json").read_text())
    held_n = report["holdout"]["held_out"]
    b = load_bundle(export_run(run, tmp_path / "bundle"))
    assert b.card["training"]["steps"] == 2
    assert len(list((b.path / "examples" / "real").glob("*.png"))) == min(8, held_n)
    assert b.card["examples"]["note"] == "held-out photos never trained on"

    shutil.rmtree(data)
    b = load_bundle(export_run(run, tmp_path / "bundle-no-data"))
    assert not (b.path / "examples").exists() and "examples" not in b.card


def _bright_when_labelled(n=64, seed=0):
    """Real 'photos' whose label says whether they are bright or dark."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2).astype("float32")[:, None]
    images = np.where(labels[:, :, None, None] > 0, 0.6, -0.6) + 0.2 * rng.standard_normal((n, 32, 32, 3))
    return images.astype("float32"), labels


def _label_gap_after_training(label_loss: float, steps: int = 150, label_edit: float = 0.0
                              ) -> tuple[float, dict, float]:
    """(mean brightness of label-1 faces minus label-0 faces, last step's losses, mean
    |G(z, 1) - G(z, 0)| for the same z) after training on the bright/dark toy."""
    import keras
    import tensorflow as tf

    from gan.training.gan_model import DCGAN

    keras.utils.set_random_seed(0)
    model = DCGAN(tiny_config(labels="bright", label_loss=label_loss, label_edit=label_edit,
                              diffaugment=""), n_labels=1)
    step_fn, _ = model.compiled_steps()
    images, labels = _bright_when_labelled()
    rng = np.random.default_rng(0)
    for step in range(steps):
        i = rng.choice(len(images), 8, replace=False)
        out = step_fn((tf.constant(images[i]), tf.constant(labels[i]), tf.constant(step, tf.int64)))
    z = tf.random.stateless_normal([64, 16], seed=[1, 2])
    y = tf.constant(labels)          # half 0, half 1 in one batch (BN in training mode)
    mean = model.generator([z, y], training=True).numpy().mean(axis=(1, 2, 3))
    same_z = tf.concat([z[:32], z[:32]], axis=0)
    both = model.generator([same_z, tf.constant([[0.0]] * 32 + [[1.0]] * 32)], training=True).numpy()
    edit = float(np.abs(both[32:] - both[:32]).mean())
    return float(mean[1::2].mean() - mean[0::2].mean()), {k: float(v) for k, v in out.items()}, edit


@pytest.mark.slow
def test_label_loss_makes_the_generator_follow_its_labels():
    """With the label loss, D's classifier learns the label from real photos and the generator
    draws what the label says (bright for 1, dark for 0) far more clearly than with the
    projection term alone after the same steps."""
    without, _, _ = _label_gap_after_training(0.0)
    with_loss, out, edit = _label_gap_after_training(1.0)
    assert out["label_real"] < 0.1                      # the classifier has learned the labels
    assert with_loss > 0.2 and with_loss > 3 * abs(without), (with_loss, without)
    _, out, small_edit = _label_gap_after_training(1.0, label_edit=5.0)
    # the edit penalty shrinks what a label change alters in the same face
    assert "label_edit" in out and small_edit < 0.7 * edit, (small_edit, edit)


@pytest.mark.slow
def test_label_loss_switched_on_when_resuming_starts_its_classifier_fresh(tmp_path):
    """A run resumed with --label-loss loads its checkpoint (which has no classifier) and goes
    on; the next checkpoint holds the classifier, so later resumes restore it."""
    from gan.training.loop import train

    photos = write_photo_folder(tmp_path / "photos", n=24, classes=("a", "b"))
    run = tmp_path / "run"
    train(_cfg(photos, tmp_path, steps=2, labels="auto"), run, progress=False)
    assert "label_head" not in _state(run)[1]["counts"]
    result = train(_cfg(photos, tmp_path, steps=4, labels="auto", label_loss=0.5), run,
                   resuming=True, progress=False)
    assert result.status == "finished" and result.step == 4
    assert _state(run)[1]["counts"]["label_head"] > 0
    card = json.loads((run / "bundle" / "model.json").read_text())
    assert card["labels"]["kinds"] == ["onehot"] * len(card["labels"]["names"])
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert "label_real" in rows[-1] and "label_real" not in rows[0]


@pytest.mark.slow
def test_discriminator_learns_to_redraw_real_photos_with_d_recon():
    """With --d-recon, D's 8x8 features come to describe the photo: the decoder's error falls
    well below what the untrained decoder makes of them, and D's loss carries the term (so D
    itself learns from it, not the decoder alone)."""
    import keras
    import tensorflow as tf

    from gan.training.gan_model import DCGAN

    images, _ = _bright_when_labelled()
    batch = lambda i, step: (tf.constant(images[i]), tf.zeros((8, 0)), tf.constant(step, tf.int64))  # noqa: E731

    def model_after(steps, d_recon):
        keras.utils.set_random_seed(0)
        model = DCGAN(tiny_config(d_recon=d_recon, diffaugment=""))
        step_fn, _ = model.compiled_steps()
        rng = np.random.default_rng(0)
        outs = [step_fn(batch(rng.choice(len(images), 8, replace=False), step)) for step in range(steps)]
        return model, [float(o.get("recon", np.nan)) for o in outs]

    model, recon = model_after(150, 1.0)
    assert np.mean(recon[-10:]) < 0.5 * np.mean(recon[:3]), (recon[:3], recon[-10:])
    # the exported discriminator is the plain one: the decoder is not among its layers
    assert all("recon" not in layer.name for layer in model.discriminator.layers)
    # one step from the same start with and without the term: D's weights differ, so the
    # reconstruction's gradient reaches D itself
    with_term, _ = model_after(1, 1.0)
    without, _ = model_after(1, 0.0)
    diff = [np.abs(a - b).max() for a, b in zip(with_term.discriminator.get_layer("down8").get_weights(),
                                               without.discriminator.get_layer("down8").get_weights())]
    assert max(diff) > 0


@pytest.mark.slow
def test_d_recon_resumes_with_its_decoder_and_refuses_tiny_images(tmp_path, photos):
    """The decoder and its optimizer are in the checkpoint, so a resume continues it; a run
    switching it on when resumed starts it fresh; too small a resolution is refused up front."""
    from gan.config import ConfigError
    from gan.training.loop import train

    run = tmp_path / "run"
    train(_cfg(photos, tmp_path, steps=2), run, progress=False)
    assert "recon_decoder" not in _state(run)[1]["counts"]
    train(_cfg(photos, tmp_path, steps=4, d_recon=1.0), run, resuming=True, progress=False)
    assert _state(run)[1]["counts"]["recon_decoder"] > 0
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert "recon" in rows[-1] and "recon" not in rows[0]
    with pytest.raises(ConfigError, match="d-recon"):
        tiny_config(resolution=16, d_recon=1.0)


@pytest.mark.slow
def test_mode_seeking_term_is_large_for_alike_faces_and_spreads_a_generator():
    """The term punishes a generator that gives different z nearly the same face, and a short
    training with it spreads the toy generator's faces further apart than without it."""
    import tensorflow as tf

    from gan.training.gan_model import DCGAN

    z = tf.random.stateless_normal([8, 16], seed=[0, 1])
    alike = tf.ones([8, 32, 32, 3]) * 0.3 + 0.001 * tf.random.stateless_normal([8, 32, 32, 3], seed=[0, 2])
    varied = tf.random.stateless_uniform([8, 32, 32, 3], seed=[0, 3], minval=-1, maxval=1)
    assert float(DCGAN.mode_seeking_loss(alike, z)) > 100 * float(DCGAN.mode_seeking_loss(varied, z))

    spreads = {}
    for weight in (0.0, 1.0):
        import keras

        keras.utils.set_random_seed(0)
        model = DCGAN(tiny_config(mode_seeking=weight, diffaugment=""))
        step_fn, _ = model.compiled_steps()
        images, _ = _bright_when_labelled()
        no_labels = tf.zeros([8, 0])
        rng = np.random.default_rng(0)
        for step in range(60):
            i = rng.choice(len(images), 8, replace=False)
            step_fn((tf.constant(images[i]), no_labels, tf.constant(step, tf.int64)))
        faces = model.generator(tf.random.stateless_normal([32, 16], seed=[5, 6]), training=True).numpy()
        spreads[weight] = float(np.abs(faces[:16] - faces[16:]).mean())
    assert spreads[1.0] > 1.2 * spreads[0.0], spreads


def test_mode_seeking_on_detail_ignores_colour_and_layout_but_not_structure():
    """With mode_seeking_on="detail", faces that differ only in overall colour and a smooth
    layout count as alike (the term stays large), while the same faces with different fine
    structure count as varied; on whole images the colour difference alone is enough."""
    import tensorflow as tf

    from gan.training.gan_model import DCGAN

    z = tf.random.stateless_normal([8, 16], seed=[0, 1])
    texture = 0.3 * tf.random.stateless_uniform([1, 32, 32, 3], seed=[0, 4], minval=-1, maxval=1)
    ramp = tf.reshape(tf.linspace(-0.5, 0.5, 32), [1, 32, 1, 1])
    tint = tf.reshape(tf.linspace(-0.6, 0.6, 8), [8, 1, 1, 1])
    coloured = tf.tile(texture, [8, 1, 1, 1]) + tint * (1.0 + ramp)       # same structure, tints
    structured = 0.3 * tf.random.stateless_uniform([8, 32, 32, 3], seed=[0, 5], minval=-1, maxval=1)

    image = {name: float(DCGAN.mode_seeking_loss(x, z, "image"))
             for name, x in (("coloured", coloured), ("structured", structured))}
    detail = {name: float(DCGAN.mode_seeking_loss(x, z, "detail"))
              for name, x in (("coloured", coloured), ("structured", structured))}
    assert image["coloured"] < 2 * image["structured"], image
    assert detail["coloured"] > 10 * detail["structured"], detail

    with pytest.raises(ValueError, match="mode_seeking_on"):
        tiny_config(mode_seeking_on="colour").validate()


def test_older_configs_with_the_retired_loss_and_step_options_still_load(tmp_path):
    """Runs and bundles from before the earlier demos' loss and the alternating step moved to
    bench/ carry `loss` and `shared_forward`: their library values load, others are refused."""
    from gan.config import ConfigError, TrainConfig

    # the config of a card written then (the models/default of 2026-12-02, abridged)
    older_card = {"resolution": 128, "batch_size": 32, "g_channels": 12, "d_channels": 24,
                  "labels": "male,smiling", "lr_g": 5e-05, "lr_d": 5e-05, "r1_gamma": 0.2,
                  "loss": "logistic", "shared_forward": True}
    cfg = TrainConfig.from_dict(older_card)
    assert cfg.g_channels == 12 and cfg.lr_g == 5e-05
    assert not hasattr(cfg, "loss") and not hasattr(cfg, "shared_forward")
    old = tmp_path / "config.json"
    old.write_text(json.dumps({"resolution": 64, "loss": "logistic", "shared_forward": True}))
    assert TrainConfig.load(old).resolution == 64
    for key, value in (("loss", "bce_rmsprop"), ("shared_forward", False)):
        with pytest.raises(ConfigError, match=f"{key} = .*bench/recipe_step.py"):
            TrainConfig.from_dict({key: value})


def test_top_k_generator_loss_learns_only_from_the_fakes_d_finds_most_real():
    """Top-k updates (Sinha et al. 2020): at share 0.25 of a batch of 8, G's loss is the mean
    over the 2 fakes with the highest logits, and the others get no gradient; the share anneals
    from 1 by 0.99 per epoch and stops at `top_k`; a short run logs it and stays finite."""
    import tensorflow as tf

    from gan.training.gan_model import DCGAN

    model = DCGAN(tiny_config(top_k=0.5, diffaugment=""))
    logits = tf.constant([[3.0], [-1.0], [0.5], [2.0], [-4.0], [0.0], [1.0], [-2.0]])
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = model.top_k_g_loss(logits, tf.constant(0.25))
    expected = float(np.mean(np.log1p(np.exp(-np.array([3.0, 2.0])))))
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    grad = tape.gradient(loss, logits).numpy().ravel()
    assert np.count_nonzero(grad) == 2 and grad[0] != 0 and grad[3] != 0

    model.steps_per_epoch = 10
    assert float(model.top_k_share(0)) == pytest.approx(1.0)
    assert float(model.top_k_share(10)) == pytest.approx(0.99)
    assert float(model.top_k_share(10_000)) == pytest.approx(0.5)

    step_fn, _ = model.compiled_steps()
    images, _ = _bright_when_labelled()
    out = step_fn((tf.constant(images[:8]), tf.zeros([8, 0]), tf.constant(20, tf.int64)))
    assert float(out["top_k_share"]) == pytest.approx(0.99 ** 2, rel=1e-5)
    assert np.isfinite(float(out["g_loss"]))
    with pytest.raises(ValueError, match="top_k"):
        tiny_config(top_k=0.0).validate()


@pytest.mark.slow
def test_sample_grids_log_the_predicted_broken_share(photos, tmp_path):
    """Each sample grid adds the share of its faces gan.metrics.broken calls broken to the log
    (a row of its own when the grid falls between log rows) and to TensorBoard."""
    import tensorflow as tf

    from gan.training.loop import train

    run = tmp_path / "run"
    cfg = _cfg(photos, tmp_path, steps=4, log_every=3, broken_figure=True)
    assert train(cfg, run, progress=False).status == "finished"
    rows = [json.loads(l) for l in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 3, 4]
    assert [("broken_predicted" in r) for r in rows] == [True, False, True]
    assert all(0 <= r["broken_predicted"] <= 1 and np.isfinite(r["d_loss"])
               for r in rows if "broken_predicted" in r)
    tags = {v.tag for f in (run / "tb").iterdir()
            for e in tf.compat.v1.train.summary_iterator(str(f)) for v in e.summary.value}
    assert "broken_predicted" in tags


@pytest.mark.slow
def test_training_goes_on_without_the_broken_figure_when_dlib_models_are_missing(
        photos, tmp_path, monkeypatch, capsys):
    from gan.metrics import broken
    from gan.training.loop import train

    def missing(self):
        raise broken.BrokenFigureUnavailable("the face landmark models are not installed")

    monkeypatch.setattr(broken.Describer, "__init__", missing)
    run = tmp_path / "run"
    assert train(_cfg(photos, tmp_path, steps=2, broken_figure=True), run,
                 progress=False).status == "finished"
    assert "broken_predicted is not logged: the face landmark models" in capsys.readouterr().err
    rows = [json.loads(l) for l in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and not any("broken_predicted" in r for r in rows)
