"""The fused BatchNorm of the training networks computes what Keras's layer computes."""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from gan.config import TrainConfig  # noqa: E402
from gan.training.fused_bn import FusedBatchNormalization  # noqa: E402
from gan.training.gan_model import DCGAN  # noqa: E402


def _run(layer, x, r):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(tf.nn.leaky_relu(tf.cast(y, tf.float32), 0.2) * r)
    grads = tape.gradient(loss, [x] + layer.trainable_weights)
    return (np.asarray(tf.cast(y, tf.float32)), [np.asarray(g) for g in grads],
            [np.asarray(w) for w in layer.non_trainable_weights],
            np.asarray(tf.cast(layer(x, training=False), tf.float32)))


@pytest.mark.parametrize("channels,scale", [(12, True), (32, False)])
def test_same_outputs_gradients_and_moving_statistics(channels, scale):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(1.0, 3.0, (4, 8, 8, channels)), tf.float32)
    r = tf.constant(rng.normal(size=(4, 8, 8, channels)), tf.float32)
    plain = keras.layers.BatchNormalization(scale=scale, dtype="float32")
    fused = FusedBatchNormalization(scale=scale, dtype="float32")
    for layer in (plain, fused):
        layer.build(x.shape)
    weights = [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in plain.weights]
    plain.set_weights(weights)
    fused.set_weights(weights)
    (ya, ga, ma, ia), (yb, gb, mb, ib) = _run(plain, x, r), _run(fused, x, r)
    np.testing.assert_allclose(yb, ya, atol=1e-5)
    for a, b in zip(ga, gb):
        np.testing.assert_allclose(b, a, atol=1e-5 * max(1.0, np.abs(a).max()))
    for a, b in zip(ma, mb):          # moving mean and (biased) variance updated the same way
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ib, ia, atol=1e-5)


@pytest.mark.slow
def test_dcgan_with_fused_batchnorm_trains_the_same_and_exports_standard_layers():
    cfg = TrainConfig(resolution=32, g_channels=8, d_channels=8, precision="float32")
    keras.utils.set_random_seed(0)
    plain = DCGAN(cfg, fused_bn=False)
    keras.utils.set_random_seed(0)
    fused = DCGAN(cfg)
    assert any(isinstance(l, FusedBatchNormalization) for l in fused.generator.layers)
    assert not any(isinstance(l, FusedBatchNormalization) for l in fused.ema_generator.layers)
    sp, sf = plain.state_variables(), fused.state_variables()
    assert list(sp) == list(sf)
    for group in sp:                  # checkpoints keep their layout
        assert [tuple(v.shape) for v in sp[group]] == [tuple(v.shape) for v in sf[group]]
    real = tf.random.stateless_uniform((4, 32, 32, 3), seed=[1, 2], minval=-1, maxval=1)
    labels = tf.zeros((4, 0))
    step_p, _ = plain.compiled_steps()
    step_f, _ = fused.compiled_steps()
    for step in range(2):
        out_p = step_p((real, labels, tf.constant(step, tf.int64)))
        out_f = step_f((real, labels, tf.constant(step, tf.int64)))
        for k in ("d_loss", "g_loss"):
            assert float(out_f[k]) == pytest.approx(float(out_p[k]), rel=1e-3, abs=1e-4)
    for a, b in zip(plain.ema_generator.weights, fused.ema_generator.weights):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=1e-4)
