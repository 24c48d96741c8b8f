"""Distributed training (`train.py --strategy mirrored|multiworker`, gan.training.distribute):
two worker processes on localhost train alike, only the chief writes the run and the bundle,
and after one worker is killed both resume from the chief's checkpoint; mirrored training on
one device is the default path; replicas split the global batch; a bad TF_CONFIG is one
`error:` line that touches nothing."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.factories import tiny_config, write_photo_folder

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--resolution", "32", "--latent-dim", "16", "--g-channels", "8", "--g-max-channels", "32",
        "--d-channels", "8", "--d-max-channels", "32", "--batch-size", "8", "--crop", "center",
        "--precision", "float32", "--sample-every", "100", "--log-every", "1", "--n-jobs", "1",
        "--no-progress", "--no-broken-figure"]   # its dlib pass is tested once (test_training)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_photo_folder(tmp_path_factory.mktemp("photos"), n=24)


def _checkpoint(run_dir: Path) -> tuple[dict, dict]:
    with np.load(run_dir / "checkpoint.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k != "__meta__"}, json.loads(str(z["__meta__"]))


# --- one device, several replicas -------------------------------------------------------------
def test_replicas_slices_make_up_the_one_device_global_batch():
    """The replicas of a step together train on exactly the photos (and flips) one device
    trains on with the global batch, so resuming on another number of replicas is seamless."""
    from gan.data.pipeline import make_dataset

    images = np.stack([np.full((8, 8, 3), i, np.uint8) for i in range(10)])
    images[:, :, 0] = 255                        # a flip shows as the bright column moving
    one = [x.numpy() for x, _ in make_dataset(images, None, 6, seed=4, start_step=2).take(3)]
    # 3 replicas of batch 2: two on worker 0 (replicas 0, 1), one on worker 1 (replica 2)
    w0 = [x.numpy() for x, _ in make_dataset(images, None, 2, seed=4, start_step=2,
                                              shard=(0, 2, 3)).take(6)]
    w1 = [x.numpy() for x, _ in make_dataset(images, None, 2, seed=4, start_step=2,
                                              shard=(2, 1, 3)).take(3)]
    for step in range(3):
        joined = np.concatenate([w0[2 * step], w0[2 * step + 1], w1[step]])
        np.testing.assert_array_equal(joined, one[step])


@pytest.mark.slow
def test_mirrored_on_one_device_trains_as_the_default_path(photos, tmp_path):
    """--strategy mirrored on a machine with one device (this CPU) is one replica: the same
    weights, optimizer state and losses as the default strategy."""
    from gan.training.loop import train

    runs = {}
    for strategy in ("default", "mirrored"):
        runs[strategy] = tmp_path / strategy
        result = train(tiny_config(data=str(photos), n_jobs=1, steps=4, strategy=strategy),
                       runs[strategy], progress=False)
        assert result.status == "finished" and result.bundle is not None
    a, meta_a = _checkpoint(runs["default"])
    b, meta_b = _checkpoint(runs["mirrored"])
    assert a.keys() == b.keys() and meta_b["replicas"] == 1
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-7, err_msg=k)
    logs = [[json.loads(l)["g_loss"] for l in (r / "log.jsonl").read_text().splitlines()]
            for r in runs.values()]
    np.testing.assert_allclose(logs[0], logs[1], rtol=1e-6)


TWO_CPU_REPLICAS = r"""
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from gan.training import loop
from tests.factories import tiny_config
sessions = []
finish = loop._finish
loop._finish = lambda s, *a: sessions.append(s) or finish(s, *a)
cfg = tiny_config(data=sys.argv[1], n_jobs=1, steps=4, strategy="mirrored",
                  precision="mixed_float16", labels="auto", label_loss=0.5, d_norm="batch",
                  r1_every=2)
result = loop.train(cfg, sys.argv[2], progress=False)
s = sessions[0]
copies = [[x.numpy() for x in v.value.values] for vs in s.groups.values() for v in vs]
print(json.dumps({"status": result.status, "replicas": s.strategy.num_replicas_in_sync,
                  "differ": sum(not all((c[0] == o).all() for o in c[1:]) for c in copies),
                  "groups": sorted(s.groups)}))
"""


@pytest.mark.slow
def test_two_cpu_replicas_in_float16_keep_every_copy_alike(tmp_path):
    """Two replicas (the CPU split in two) with loss-scaled float16, BatchNorm in both
    networks and the label classifier: every variable's two copies stay equal, since BatchNorm's
    moving averages take the global batch's moments and the loss scale skips steps together."""
    data = write_photo_folder(tmp_path / "photos", n=24, classes=("a", "b"))
    out = subprocess.run([sys.executable, "-c", TWO_CPU_REPLICAS, str(data), str(tmp_path / "run")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"status": "finished", "replicas": 2, "differ": 0, "groups": got["groups"]}
    assert "loss_scale" in got["groups"] and "label_head" in got["groups"]
    card = json.loads((tmp_path / "run" / "bundle" / "model.json").read_text())
    assert card["training"]["images_seen"] == 4 * 8 * 2


# --- two worker processes ---------------------------------------------------------------------
def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class _Cluster:
    """Two `train.py --strategy multiworker` processes on localhost, the same command each."""

    def __init__(self, photos: Path, run: Path, bundle: Path, logs: Path):
        self.ports = _free_ports(2)
        self.photos, self.run, self.bundle, self.logs = photos, run, bundle, logs
        self.procs: list[subprocess.Popen] = []

    def start(self, steps: int, tag: str, scratch: Path) -> None:
        scratch.mkdir(parents=True, exist_ok=True)
        cluster = {"worker": [f"localhost:{p}" for p in self.ports]}
        self.procs = []
        for index in range(2):
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TMPDIR=str(scratch),
                       TF_CONFIG=json.dumps({"cluster": cluster,
                                             "task": {"type": "worker", "index": index}}))
            cmd = [sys.executable, str(ROOT / "train.py"), "--data", str(self.photos),
                   "--out", str(self.run), "--export", str(self.bundle), "--steps", str(steps),
                   "--strategy", "multiworker", "--checkpoint-every", "2", *TINY]
            self.procs.append(subprocess.Popen(
                cmd, cwd=ROOT, env=env, stderr=open(self.logs / f"{tag}{index}.txt", "w")))

    def stderr(self, tag: str, index: int) -> str:
        return (self.logs / f"{tag}{index}.txt").read_text()

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.mark.slow
def test_two_workers_train_alike_export_once_and_resume_after_one_is_killed(photos, tmp_path):
    """Two workers (TF_CONFIG, localhost ports) train until the chief has checkpointed; one is
    killed with SIGKILL and the chief stops with one error line; the same command on both
    resumes from the chief's checkpoint, and at the end both hold the same state as the
    chief's checkpoint, and only the chief has written the run and the one bundle."""
    from gan.bundle import load_bundle
    from gan.training.checkpoint import read_meta, state_fingerprint

    run, bundle = tmp_path / "run", tmp_path / "bundle"
    cluster = _Cluster(photos, run, bundle, tmp_path)
    try:
        cluster.start(100_000, "first", tmp_path / "scratch1")
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                if read_meta(run / "checkpoint.npz")["step"] >= 2:
                    break
            except Exception:  # noqa: BLE001 - not written yet
                pass
            assert all(p.poll() is None for p in cluster.procs), cluster.stderr("first", 0)
            time.sleep(0.2)
        cluster.procs[1].send_signal(signal.SIGKILL)
        chief = cluster.procs[0]
        chief.wait(timeout=120)   # the coordination service misses the worker's heartbeats
        err = cluster.stderr("first", 0)
        assert chief.returncode == 2, err[-3000:]
        lines = [l for l in err.splitlines() if l.startswith("error:")]
        assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
        assert "lost contact with worker 1" in lines[0] and "same command" in lines[0]
        saved = read_meta(run / "checkpoint.npz")["step"]
        assert saved >= 2 and f"step {saved})" in lines[0]
        assert not bundle.exists()

        cluster.start(saved + 2, "second", tmp_path / "scratch2")
        for p in cluster.procs:
            p.wait(timeout=240)
        errs = [cluster.stderr("second", i) for i in range(2)]
        assert [p.returncode for p in cluster.procs] == [0, 0], errs[0][-2000:] + errs[1][-2000:]
    finally:
        cluster.stop()
    assert f"Resuming {run} at step {saved}" in errs[0]
    assert f"starts from the chief's state at step {saved}" in errs[1]
    prints = [[l.rsplit(" ", 1)[1] for l in e.splitlines() if "state fingerprint" in l] for e in errs]
    arrays, meta = _checkpoint(run)
    assert meta["step"] == saved + 2 and meta["replicas"] == 2
    assert prints == [[state_fingerprint(arrays)]] * 2           # both workers: the same state
    assert "Exported bundle" in errs[0] and "Exported bundle" not in errs[1]
    card = load_bundle(bundle).card
    assert card["training"]["steps"] == saved + 2
    assert card["training"]["images_seen"] == (saved + 2) * 8 * 2
    steps = [json.loads(l)["step"] for l in (run / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, saved + 3))        # the chief's log, continued after resume
    assert not list((tmp_path / "scratch2").glob("facegan-*"))  # the worker removed its scratch


# --- bad flags ----------------------------------------------------------------------------------
def _fake_run(path: Path) -> dict[str, bytes]:
    """A run directory with a config and a checkpoint (bytes only: nothing may read them)."""
    path.mkdir(parents=True)
    tiny_config(data="nowhere").save(path / "config.json")
    (path / "checkpoint.npz").write_bytes(b"not read")
    return {p.name: p.read_bytes() for p in path.iterdir()}


@pytest.mark.parametrize("tf_config, says", [
    (None, "needs TF_CONFIG"),
    ("{cluster", "not valid JSON"),
    ('["worker"]', 'needs a "cluster" object'),
    ('{"cluster": {"worker": ["localhost:1234"]}}', 'needs a "task" object'),
    ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', '"host:port"'),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', "task index 2"),
    ('{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}',
     "chief and worker tasks only"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', "task type 'chief'"),
])
@pytest.mark.parametrize("new", [False, True])
def test_multiworker_with_a_bad_tf_config_is_one_line_and_keeps_the_run(
        photos, tmp_path, capsys, monkeypatch, tf_config, says, new):
    from train import main

    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    run = tmp_path / "run"
    before = _fake_run(run)
    argv = ["--data", str(photos), "--out", str(run), "--strategy", "multiworker", *TINY]
    rc = main(argv + (["--new"] if new else []))
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.startswith("error:")]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert says in lines[0]
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_an_unknown_strategy_is_refused_by_name(photos, tmp_path, capsys):
    from train import main

    rc = main(["--data", str(photos), "--out", str(tmp_path / "run"), "--strategy", "tpu", *TINY])
    err = capsys.readouterr().err
    assert rc == 2 and "strategy (--strategy) must be default, mirrored or multiworker" in err
    assert not (tmp_path / "run").exists()


def test_the_chief_is_worker_0_unless_the_cluster_names_one():
    from gan.training.distribute import check_strategy

    def role(cluster, kind, index):
        return check_strategy("multiworker", {"TF_CONFIG": json.dumps(
            {"cluster": cluster, "task": {"type": kind, "index": index}})})

    workers = {"worker": ["a:1", "b:2", "c:3"]}
    assert [role(workers, "worker", i).chief for i in range(3)] == [True, False, False]
    with_chief = {"chief": ["a:1"], "worker": ["b:2", "c:3"]}
    assert role(with_chief, "chief", 0).chief and not role(with_chief, "worker", 0).chief
    assert role(with_chief, "worker", 1).workers == 3
    assert check_strategy("mirrored", {}).chief and check_strategy("default", {}).chief


def test_jit_compile_on_several_workers_is_refused_before_anything_is_written(
        photos, tmp_path, capsys, monkeypatch):
    """XLA compiles one replica's step only: two workers with --jit-compile stop at once."""
    from train import main

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    rc = main(["--data", str(photos), "--out", str(tmp_path / "run"), "--strategy", "multiworker",
               "--jit-compile", *TINY])
    err = capsys.readouterr().err
    assert rc == 2 and "error: --jit-compile works on one replica, and this run has 2" in err
    assert not (tmp_path / "run").exists()


def test_a_worker_with_other_options_or_photos_is_refused_by_every_worker():
    """Workers must build the same networks and read the same photos: the one that differs
    names what, the others (the chief among them) refuse too instead of waiting for it."""
    from types import SimpleNamespace

    from gan.training.loop import TrainingError, _check_workers_agree

    class FakeWorkers:
        def __init__(self, chief_facts, anyone_differs):
            self.chief_facts, self.anyone_differs = chief_facts, anyone_differs

        def differ_from_chief(self, facts):
            return sorted(k for k in facts if facts[k] != self.chief_facts[k])

        def any(self, flag):
            return flag or self.anyone_differs

    faces = SimpleNamespace(images=np.zeros((24, 8, 8, 3), np.uint8), labels=None, label_names=[])
    cfg = tiny_config(data="here", n_jobs=1)
    chief = {k: v for k, v in cfg.to_dict().items() if k not in ("data", "n_jobs", "init_from")}
    chief.update({"training photos": 24, "held-out photos": 0, "labels": []})
    _check_workers_agree(tiny_config(data="elsewhere", n_jobs=2), faces, None,
                         FakeWorkers(chief, False))               # paths and decoders may differ
    with pytest.raises(TrainingError, match="this worker's lr_g, training photos differ"):
        fewer = SimpleNamespace(images=faces.images[:20], labels=None, label_names=[])
        _check_workers_agree(tiny_config(data="x", lr_g=1e-3), fewer, None, FakeWorkers(chief, True))
    with pytest.raises(TrainingError, match="another worker was given other options"):
        _check_workers_agree(cfg, faces, None, FakeWorkers(chief, True))
