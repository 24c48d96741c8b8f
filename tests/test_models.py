"""The networks' promises a user relies on: a generator with noise inputs still draws the same
face for the same seed, its noise gives each face its own detail, and noise added to a trained
generator starts silent (a fine-tune begins from exactly the bundle's faces)."""
from __future__ import annotations

import numpy as np

from tests.factories import tiny_config


def _generators(**kw):
    import keras

    from gan.models import build_generator

    keras.utils.set_random_seed(3)
    plain = build_generator(tiny_config(**kw), dtype="float32")
    noisy = build_generator(tiny_config(g_noise="16,32", **kw), dtype="float32")
    return plain, noisy


def test_noise_starts_silent_then_gives_each_face_its_own_detail():
    from gan.training.loop import _copy_layer_weights

    plain, noisy = _generators()
    added = _copy_layer_weights(plain, noisy, may_add=("noise",))
    assert sorted(added) == ["noise16", "noise16_scale", "noise32", "noise32_scale"]
    z = np.random.default_rng(0).standard_normal((6, 16)).astype("float32")
    np.testing.assert_allclose(noisy(z, training=False), plain(z, training=False), atol=1e-6)

    for name in ("noise16_scale", "noise32_scale"):      # as training would: the scales grow
        layer = noisy.get_layer(name)
        layer.set_weights([np.full_like(w, 0.5) for w in layer.get_weights()])
    detail = noisy(z, training=False).numpy() - plain(z, training=False).numpy()
    assert np.abs(detail).mean() > 1e-3
    np.testing.assert_allclose(noisy(z, training=False), noisy(z, training=False))   # same seed, same face
    # each face gets its own detail, not one pattern shared by all
    flat = detail.reshape(len(z), -1)
    corr = np.corrcoef(flat)[np.triu_indices(len(z), 1)]
    assert np.abs(corr).max() < 0.6


def test_noise_maps_are_near_independent_unit_noise_over_faces():
    """The map is a fixed projection of z: over faces each pixel is ~N(0, 1), and neighbouring
    pixels are nearly uncorrelated (noise, not a smooth pattern)."""
    import keras

    _, noisy = _generators()
    maps = keras.Model(noisy.input, noisy.get_layer("noise32_map").output)
    z = np.random.default_rng(1).standard_normal((2000, 16)).astype("float32")
    m = maps(z).numpy()[..., 0]
    assert abs(m.std() - 1.0) < 0.35 and abs(m.mean()) < 0.1
    right = np.corrcoef(m[:, :, :-1].reshape(len(z), -1).ravel(), m[:, :, 1:].reshape(len(z), -1).ravel())[0, 1]
    assert abs(right) < 0.1


def test_a_bundle_with_noise_layers_cannot_seed_a_run_without_them():
    import pytest

    from gan.training.loop import TrainingError, _copy_layer_weights

    plain, noisy = _generators()
    with pytest.raises(TrainingError, match="noise"):
        _copy_layer_weights(noisy, plain, may_add=("noise",))
    with pytest.raises(TrainingError, match="noise16"):
        _copy_layer_weights(plain, noisy)          # adding layers must be allowed explicitly
