"""BatchNorm for the training networks as one fused op (same variables, same function).

Keras 3's BatchNormalization trains from unfused ops: a cast to float32, `moments` (two
reductions), the normalisation (several element-wise passes) and a cast back, each with its own
gradient op. At 128 px those passes over the activations cost more than the convolutions they
follow: measured here, BN + LeakyReLU forward and backward on a [32, 128, 128, 32] bfloat16
batch took 337 ms of CPU with the Keras layer against 69 ms with TensorFlow's FusedBatchNormV3
(oneDNN), and 3-5x less at every shape of our networks (bench/README.md).

`FusedBatchNormalization` is a BatchNormalization whose training-mode call is that fused op:
the same variables (gamma, beta, moving mean and variance, in the same order), the same
normalisation (biased batch variance, the layer's epsilon) and the same moving-average update,
up to float rounding. Inference mode is the parent's code. Only the training copies of the
networks use it (`with_fused_batchnorm`); the EMA generator and every exported bundle keep the
standard layer, so bundles still load with `safe_mode=True` and no custom objects, and
checkpoints (plain weight lists) do not change.

Under a tf.distribute strategy each replica normalises by its own batch's moments (as Keras's
layer does), but the moving averages are updated from the global batch's moments: Keras 3
updates only a replica's own copy of a variable, and the replicas' copies would drift apart.
"""
from __future__ import annotations

import keras
import tensorflow as tf


class FusedBatchNormalization(keras.layers.BatchNormalization):
    def call(self, inputs, training=None, mask=None):
        if (not training or not self.trainable or mask is not None or self.renorm
                or self.synchronized or len(inputs.shape) != 4 or self.axis not in (-1, 3)):
            return super().call(inputs, training=training, mask=mask)
        c = int(inputs.shape[-1])
        x = inputs
        # oneDNN's bfloat16 kernel is fast when the channels are a multiple of 16 and several
        # times slower otherwise; there float32 (with the casts) is the quicker path.
        if x.dtype != tf.float32 and (x.dtype != tf.bfloat16 or c % 16):
            x = tf.cast(x, tf.float32)
        gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([c], tf.float32)
        beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([c], tf.float32)
        y, mean, var = tf.compat.v1.nn.fused_batch_norm(
            x, gamma, beta, epsilon=self.epsilon, is_training=True, data_format="NHWC")
        # the op returns the unbiased batch variance for the moving average; Keras uses the
        # biased one (which the op itself normalises with)
        n = tf.cast(tf.size(x, out_type=tf.int64) // c, tf.float32)
        var = var * ((n - 1.0) / tf.maximum(n, 1.0))
        mean, var = _global_moments(mean, var)
        m = tf.cast(self.momentum, tf.float32)
        self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))
        self.moving_variance.assign(self.moving_variance * m + var * (1.0 - m))
        return tf.cast(y, self.compute_dtype)


def _global_moments(mean, var):
    """The global batch's mean and (biased) variance from each replica's, for replicas of
    equal batches; the replica's own on one device."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return mean, var
    mean_all, square_all = context.all_reduce("MEAN", [mean, var + tf.square(mean)])
    return mean_all, square_all - tf.square(mean_all)


def with_fused_batchnorm(model: keras.Model) -> keras.Model:
    """`model` with every BatchNormalization layer replaced by FusedBatchNormalization (same
    names, configs, weights and layer RNG states, e.g. Dropout's); `model` itself when it has
    none."""
    if not any(type(layer) is keras.layers.BatchNormalization for layer in model.layers):
        return model

    def clone(layer):
        cls = FusedBatchNormalization if type(layer) is keras.layers.BatchNormalization else layer.__class__
        return cls.from_config(layer.get_config())

    fused = keras.models.clone_model(model, clone_function=clone)
    fused.set_weights(model.get_weights())
    for old, new in zip(model.layers, fused.layers):
        if hasattr(old, "seed_generator"):          # same dropout masks as the unfused network
            new.seed_generator.state.assign(old.seed_generator.state)
    return fused
