"""The benchmarks' recipe step (bench/recipe_step.py): the earlier demos' loss and optimizer and
the alternating D-then-G step, which the library's DCGAN no longer offers."""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from bench.recipe_step import RecipeDCGAN, bce_on_probs  # noqa: E402
from gan.training.gan_model import DCGAN  # noqa: E402
from tests.factories import tiny_config  # noqa: E402


def _steps(model, n=2):
    real = tf.random.stateless_uniform((8, 32, 32, 3), seed=[1, 2], minval=-1, maxval=1)
    step_fn, _ = model.compiled_steps()
    return [{k: float(v) for k, v in step_fn((real, tf.zeros((8, 0)), tf.constant(s, tf.int64))).items()}
            for s in range(n)]


def test_recipe_loss_is_bce_on_sigmoid_probabilities_with_rmsprop():
    model = RecipeDCGAN(tiny_config(), recipe_loss=True, alternating=False)
    assert isinstance(model.g_optimizer, keras.optimizers.RMSprop)
    assert isinstance(model.d_optimizer, keras.optimizers.RMSprop)
    real, fake = tf.constant([2.0, -1.0]), tf.constant([0.5, -3.0])
    d_loss, g_loss = model.gan_losses(real, fake)
    bce = keras.losses.BinaryCrossentropy()
    ones, zeros = tf.ones(2), tf.zeros(2)
    want_d = bce(ones, tf.sigmoid(real)) + bce(zeros, tf.sigmoid(fake))
    assert float(d_loss) == pytest.approx(float(want_d), rel=1e-5)
    assert float(g_loss) == pytest.approx(float(bce(ones, tf.sigmoid(fake))), rel=1e-5)
    assert float(tf.reduce_mean(bce_on_probs(True, tf.constant([100.0])))) < 1e-6


def test_without_its_options_it_is_the_library_step():
    cfg = tiny_config()
    keras.utils.set_random_seed(0)
    ours = DCGAN(cfg)
    keras.utils.set_random_seed(0)
    same = RecipeDCGAN(cfg, recipe_loss=False, alternating=False)
    assert isinstance(same.g_optimizer, keras.optimizers.Adam)
    for a, b in zip(_steps(ours), _steps(same)):
        assert b == pytest.approx(a, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("recipe_loss", [True, False])
def test_alternating_step_trains_both_networks_and_keeps_the_checkpoint_layout(recipe_loss):
    cfg = tiny_config()
    model = RecipeDCGAN(cfg, recipe_loss=recipe_loss, alternating=True)
    assert list(model.state_variables()) == list(DCGAN(cfg).state_variables())
    g0 = [np.asarray(w) for w in model.generator.trainable_weights]
    d0 = [np.asarray(w) for w in model.discriminator.trainable_weights]
    outs = _steps(model)
    assert all(np.isfinite(v) for out in outs for v in out.values())
    assert any(not np.allclose(a, np.asarray(b)) for a, b in zip(g0, model.generator.trainable_weights))
    assert any(not np.allclose(a, np.asarray(b)) for a, b in zip(d0, model.discriminator.trainable_weights))
