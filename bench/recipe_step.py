"""The earlier demos' training recipe in our machinery, for benchmarks only (not a user option).

`RecipeDCGAN` is `gan.training.gan_model.DCGAN` with what the library dropped because only
benchmarks chose it:

  recipe_loss   the demos' loss and optimizer: sigmoid, then clipped binary cross-entropy on
                probabilities, with RMSprop (the learning rates come from the config)
  alternating   a D step, then a fresh generator forward for the G step (two G forwards per
                step), instead of one forward shared by both losses

bench/quality_race.py's "emulated" contestant uses both on `bench/baseline_arch.py`'s networks;
bench/train_speed.py's "alternating" lever uses the alternating step alone, to price it.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from gan.config import TrainConfig
from gan.training.gan_model import DCGAN


def bce_on_probs(labels_one: bool, logits):
    """The demos' per-example BCE: on sigmoid probabilities clipped as Keras clips them."""
    p = tf.clip_by_value(tf.sigmoid(logits), 1e-7, 1 - 1e-7)
    return -tf.math.log(p) if labels_one else -tf.math.log(1 - p)


class RecipeDCGAN(DCGAN):
    """DCGAN with the demos' loss/optimizer (`recipe_loss`) and/or the alternating step."""

    def __init__(self, cfg: TrainConfig, n_labels: int = 0, *, recipe_loss: bool = True,
                 alternating: bool = True, **kwargs):
        # set before DCGAN.__init__, which calls make_optimizer
        self.recipe_loss, self.alternating = recipe_loss, alternating
        super().__init__(cfg, n_labels, **kwargs)

    def make_optimizer(self, lr: float, name: str) -> keras.optimizers.Optimizer:
        if self.recipe_loss:
            return keras.optimizers.RMSprop(lr, name=name)
        return super().make_optimizer(lr, name)

    def gan_losses(self, real_logits, fake_logits):
        if not self.recipe_loss:
            return super().gan_losses(real_logits, fake_logits)
        d_loss = tf.reduce_mean(bce_on_probs(True, real_logits)) + \
            tf.reduce_mean(bce_on_probs(False, fake_logits))
        g_loss = tf.reduce_mean(bce_on_probs(True, fake_logits))
        return d_loss, g_loss

    def train_step(self, data):
        """The alternating step: D on real and a detached fake, then G through a new forward."""
        if not self.alternating:
            return super().train_step(data)
        real, labels, step = data
        batch = tf.shape(real)[0]
        z = tf.random.stateless_normal([batch, self.cfg.latent_dim], seed=self._rng_seed(step, 1))
        g_vars = self.generator.trainable_variables
        with tf.GradientTape() as d_tape:
            fake = self.generator(self._g_inputs(z, labels), training=True)
            real_logits, real_classes = self._d(real, labels, step, 2)
            fake_logits, _ = self._d(tf.stop_gradient(fake), labels, step, 3)
            d_loss, _ = self.gan_losses(real_logits, fake_logits)
            label_real = self._label_loss(real_classes, labels)
            d_total = d_loss + self.cfg.label_loss * label_real
        self._apply_d_gradients(d_tape, d_total)
        with tf.GradientTape() as g_tape:
            fake = self.generator(self._g_inputs(z, labels), training=True)
            fake_logits_g, fake_classes = self._d(fake, labels, step, 4)
            _, g_loss = self.gan_losses(real_logits, fake_logits_g)
            terms = self._g_extra_losses(z, labels, fake, fake_classes)
            g_total = self._g_total(g_loss, terms)
        self.g_optimizer.apply_gradients(zip(g_tape.gradient(g_total, g_vars), g_vars))
        beta = self._update_ema(step)
        return self._step_log(d_loss, g_loss, real_logits, fake_logits, beta,
                              label_real if real_classes is not None else None, terms)
