"""The detectors that are Keras models: their training step and their file in a bundle.

The trained-on discriminator (`tuned`) and the learned detector (`learned`) are both the
discriminator's layers trained as a two-class classifier. Both start from `image_features`,
train with `train_step` over `resumable_steps` (a stopped fit resumes mid-training), store with
`to_bytes` and load with `load`, so a damaged or missing file gives the same one-line
DetectorError (what is wrong and how to refit) and costs that detector only.

They are stored as weights alone (`detection/*.npz`, `gan.weights`: each kernel as int8 with
one scale per output channel, the rest as float16), and rebuilt at load from the bundle's discriminator by
the detector's own builder: each is a copy of the discriminator (11 MB at float16 for the
release candidate's), and the 60 MB that models/ may hold has no room for two. A fit measures
the stored values (`as_stored`), never their unrounded originals. Bundles fitted before keep
their .keras files, which `load` still reads.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gan import weights
from gan.bundle import BundleError, load_model, verify_files
from gan.detector.forensic import DetectorError


def image_features(discriminator):
    """(a copy of the discriminator, an image input, the copy's "features" of it): the start
    of both detectors, without a conditional discriminator's labels (an upload has none)."""
    import keras

    d = keras.models.clone_model(discriminator)
    d.set_weights(discriminator.get_weights())
    x = keras.Input(d.inputs[0].shape[1:], name="image")
    return d, x, keras.Model(d.inputs[0], d.get_layer("features").output)(x)


def to_bytes(model) -> bytes:
    """The model's weights as a bundle stores them (see the module's docstring)."""
    return as_stored(model)[0]


def as_stored(model):
    """(bytes, model): the weights as a bundle stores them, and a copy of the model holding
    exactly the values stored, so a fit calibrates and measures the weights that ship."""
    import keras

    data, values = weights.to_bytes(model.get_weights())
    copy = keras.models.clone_model(model, recursive=True)
    copy.set_weights(values)
    return data, copy


def from_bytes(data: bytes, build):
    """The model `build()` makes, holding the weights of a `to_bytes` file."""
    model = build()
    model.set_weights(weights.read(data)[0])
    return model


def stored_or_trained(cached: Path | None, build, train, log, what: str):
    """(bytes, model): the model a training with the same inputs left at `cached` (its .npz; or
    the .keras a fit from before weights-only storage left, stored anew), else
    `train(progress)`'s model stored; kept at `cached` (None: no cache). `progress` is where the
    training keeps its mid-way state (`resumable_steps`; None without a cache), removed once the
    model is stored. `what` starts the log line."""
    if cached is not None and cached.is_file():
        log(f"{what} from the cache ({cached.name})")
        data = cached.read_bytes()
        return data, from_bytes(data, build)
    older = None if cached is None else cached.with_suffix(".keras")
    if older is not None and older.is_file():
        log(f"{what} from the cache ({older.name})")
        data, model = as_stored(load_model(older))
    else:
        data = to_bytes(train(progress_file(cached)))
        model = from_bytes(data, build)        # float32, as the app rebuilds it from the file
    if cached is not None:
        from gan.io import atomic_write_bytes

        cached.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(cached, data)
        progress_file(cached).unlink(missing_ok=True)
    return data, model


def progress_file(cached: Path | None) -> Path | None:
    """Where a training that will be cached at `cached` keeps its state mid-way."""
    return None if cached is None else cached.with_name(cached.stem + ".progress.npz")


def read_stored(path: str | Path, build):
    """A stored detector model: weights (.npz, rebuilt by `build()`) or, from bundles fitted
    before, a whole .keras file."""
    path = Path(path)
    if path.suffix == ".keras":
        return load_model(path)
    return from_bytes(path.read_bytes(), build)


def trainable(model):
    """A copy of `model` (same weights) to train: on a CPU with a bfloat16 unit its
    convolutions compute in bfloat16 while every variable stays float32 (Keras's
    mixed_bfloat16), its Dense layers (the logit) in float32: there (AMX / AVX512-BF16) a step
    takes less than half the CPU time of float32 (`bench/learned_precision.py`). On any other
    CPU bfloat16 is emulated and slower, so the copy stays float32, as GAN training does
    (`gan.config.machine_precision`). Only the float32 variables are stored, and a fit measures
    the float32 model rebuilt from them, as the app scores with (`stored_or_trained`)."""
    import keras

    from gan.config import machine_precision

    policy = machine_precision()            # "mixed_bfloat16" or "float32"

    def at_mixed_precision(layer):
        config = layer.get_config()
        if not isinstance(layer, (keras.layers.InputLayer, keras.layers.Dense)):
            config["dtype"] = policy
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=at_mixed_precision, recursive=True)
    copy.set_weights(model.get_weights())
    return copy


def train_step(model, learning_rate: float):
    """The training step: (faces [n, R, R, 3] uint8, targets [n, 1], rng) -> loss; half the
    faces mirrored, then one Adam step (beta_1 0.5) of binary cross-entropy on the logits."""
    import keras
    import tensorflow as tf

    from gan.data.preprocess import to_model_input

    optimizer = keras.optimizers.Adam(learning_rate, beta_1=0.5)
    loss = keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function
    def step(images, targets):
        with tf.GradientTape() as tape:
            value = loss(targets, model(images, training=True))
        grads = tape.gradient(value, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))
        return value

    def run(faces, targets, rng) -> float:
        faces = np.array(faces, np.uint8)
        flip = rng.random(len(faces)) < 0.5
        faces[flip] = faces[flip, :, ::-1]
        return float(step(to_model_input(faces), targets))

    run.model, run.optimizer = model, optimizer
    return run


PROGRESS_EVERY = 250
PROGRESS_FORMAT = "facegan-training-progress/1"


def resumable_steps(steps: int, run, rng: np.random.Generator, progress: Path | None,
                    log=lambda m: None, every: int | None = None):
    """The step numbers 1..steps of a training by `run` (a `train_step`) drawing from `rng`,
    starting after the last step `progress` holds; every `every` steps the state (the model's
    variables, its dropout seeds among them, the optimizer's, `rng`'s) is written there, so a
    fit stopped mid-way (a session's end, a signal) loses minutes, not the training. A resumed
    training takes the same steps as one never stopped."""
    every, start = every or PROGRESS_EVERY, 0
    if progress is not None and progress.is_file():
        try:
            start = _restore(progress, run, rng, steps)
            log(f"resuming at step {start}/{steps} from {progress.name}")
        except (ValueError, OSError, KeyError, RuntimeError) as e:   # CheckpointError: damaged
            log(f"not resuming from {progress.name} ({e}): training from step 0")
            start = 0
    for step in range(start + 1, steps + 1):
        yield step
        if progress is not None and step % every == 0 and step < steps:
            _save(progress, run, rng, step, steps)


def _groups(run) -> dict[str, list]:
    return {"model": list(run.model.variables), "optimizer": list(run.optimizer.variables)}


def _save(path: Path, run, rng, step: int, steps: int) -> None:
    """The state after `step`, in the training checkpoints' format (`gan.training.checkpoint`:
    arrays by name, metadata as JSON, written atomically)."""
    from gan.training.checkpoint import save_checkpoint

    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, _groups(run), {"format": PROGRESS_FORMAT, "step": step, "steps": steps,
                                         "rng": rng.bit_generator.state})


def _restore(path: Path, run, rng, steps: int) -> int:
    """The step `path` was saved after, its state put back into `run` and `rng`; ValueError
    (or CheckpointError) when the file is not the state of a training like this one, found
    before anything is changed."""
    from gan.training.checkpoint import load_checkpoint, read_meta

    meta = read_meta(path)
    if meta.get("format") != PROGRESS_FORMAT:
        raise ValueError("not a training-progress file")
    if meta["steps"] != steps or not 0 < meta["step"] < steps:
        raise ValueError(f"saved at step {meta['step']} of {meta['steps']}, not of {steps}")
    if not run.optimizer.built:
        run.optimizer.build(run.model.trainable_variables)
    groups = _groups(run)
    if meta["counts"] != {g: len(v) for g, v in groups.items()}:
        raise ValueError("saved by a different model")
    load_checkpoint(path, groups)
    rng.bit_generator.state = meta["rng"]
    return int(meta["step"])


def logits(model, faces_uint8: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """The model's logits [n] (float64) of prepared faces [n, R, R, 3] uint8. Keras's
    predict_on_batch runs the model as one compiled graph: the same numbers as calling it, much
    faster for an upload's few faces (an eager call pays Python for every layer)."""
    from gan.data.preprocess import to_model_input

    out = [np.asarray(model.predict_on_batch(to_model_input(faces_uint8[i:i + batch_size])),
                      np.float64).reshape(-1) for i in range(0, len(faces_uint8), batch_size)]
    return np.concatenate(out) if out else np.zeros((0,), np.float64)


def load(bundle, name: str, what: str, fix: str, build):
    """The Keras model stored as `name` (a file the card lists; `build(discriminator)` makes
    its layers), cached on the bundle object by its SHA-256. Raises DetectorError naming
    `what` and saying `fix`."""
    cache = bundle.__dict__.setdefault("_detector_keras_files", {})
    key = (name, (bundle.card.get("files", {}).get(name) or {}).get("sha256"))
    if key not in cache:
        try:
            verify_files(bundle.path, bundle.card, names=[name])
            cache[key] = read_stored(Path(bundle.path) / name,
                                     lambda: build(bundle.discriminator))
        except BundleError as e:
            cache[key] = DetectorError(f"The {what} of {bundle.name} cannot be used: "
                                       f"{str(e).split(' Get a working bundle')[0]} {fix}")
        except Exception as e:  # noqa: BLE001 - a damaged .keras file raises many kinds
            cache[key] = DetectorError(f"The {what} of {bundle.name} cannot be read "
                                       f"({type(e).__name__}). {fix}")
    if isinstance(cache[key], Exception):
        raise cache[key]
    return cache[key]
