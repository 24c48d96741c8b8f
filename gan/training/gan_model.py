"""The DCGAN training model: generator, discriminator, EMA generator and one `train_step`.

One step: a single generator forward pass feeds both losses and both networks are updated from
that same forward (simultaneous gradients), with the non-saturating logistic loss on D's logits
(softplus; Goodfellow et al. 2014, StyleGAN) and Adam. The earlier demos' loss and optimizer and
the alternating D-then-G step are benchmark baselines only: bench/recipe_step.py.

Label loss (optional, `label_loss` > 0 in a conditional run; AC-GAN, Odena et al. 2017): a
linear classifier of the labels on D's features, trained on real photos only, whose verdict on
the generator's faces joins the generator's loss. The projection term alone let the label
conditioning fade as a long run gained variety (docs/metrics.md has the slider figures).
The classifier is a training aid: it is not part of the exported discriminator. It learns at
HEAD_LR_FACTOR times D's rate: a fresh linear classifier at D's own rate learned too slowly in a
fine-tune to mean much to G (docs/metrics.md).

Label edits (optional, `label_edit` > 0, conditional runs): the generator's loss gains the mean
absolute difference between G(z, y) and G(z, y'), y' another face's labels, so that moving a
slider changes only what the label needs and the face stays the same person; the label loss
keeps the edit from vanishing.

Mode seeking (optional, `mode_seeking` > 0; MSGAN, Mao et al. 2019): the generator's loss
gains 1 / (d(G(z1), G(z2)) / d(z1, z2)) over pairs of the batch (mean absolute differences),
so faces from different z are pushed apart while D keeps them realistic. With
`mode_seeking_on="detail"` the distance is taken on the faces' structure only (each image minus
its 1/8-size copy): on whole images the cheapest way apart is overall colour and layout, which
spread beyond real photos' (the SWD's coarsest level rises) before features do.

Top-k generator updates (optional, `top_k` < 1; Sinha et al. 2020): the generator learns only
from the share of each batch's faces D finds most real, annealed from the whole batch by 0.99
per epoch (`steps_per_epoch`, set by the loop) down to `top_k`. The paper's reason: the
gradients of the faces D rejects most point away from realistic faces, not towards them.

Reconstruction by D (optional, `d_recon` > 0; FastGAN's self-supervised discriminator, Liu et
al. 2021): a small decoder redraws each real photo D sees, at 32 px, from D's 8x8 feature map,
and D's loss gains the mean absolute error. D must then keep a description of the whole face
in its features rather than only the few cues that tell the generator's faces apart; the
decoder is a training aid and is not part of the exported discriminator.

Every random draw of the step itself is stateless, seeded by (config seed, step, replica); the
only other RNG is the state of D's Dropout layer, which the checkpoint stores with the weights,
the optimizer slots and the step number.

Distribution (gan.training.distribute): built inside a tf.distribute strategy's scope, the model
runs this same step on every replica (`compiled_steps`). Each loss is a mean over the global
batch (`global_mean`: tf.nn.compute_average_loss), so the optimizers' sum of the replicas'
gradients is the global batch's gradient, and each replica draws its own z and augmentations.
With `precision="mixed_float16"` the optimizers scale the loss (Keras's LossScaleOptimizer), as
float16 gradients underflow without it; bfloat16 has float32's range and needs no scaling.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from gan.config import TrainConfig
from gan.models import FEATURES_LAYER, build_discriminator, build_generator
from gan.training.diffaugment import diff_augment, parse_policies
from gan.training.fused_bn import with_fused_batchnorm


HEAD_LR_FACTOR = 10.0
RECON_LAYER = "down8"   # D's conv whose 8x8 output the reconstruction reads
RECON_SIZE = 32         # side of the reconstructed photo
# what a step reports that is the same on every replica: averaged over replicas, not summed
SAME_ON_EVERY_REPLICA = ("ema_decay", "top_k_share")


class DCGAN(keras.Model):
    """Holds the three networks and their optimizers; `train_step` is one GAN step."""

    def __init__(self, cfg: TrainConfig, n_labels: int = 0, *, build_g=build_generator,
                 build_d=build_discriminator, fused_bn: bool = True, **kwargs):
        """`build_g` / `build_d`: functions with the signature of `gan.models.build_generator`
        / `build_discriminator`, `(cfg, n_labels, dtype=None) -> keras.Model`; other
        architectures plug in here (the benchmarks run this step on the earlier demos' one).
        `fused_bn`: the training networks run BatchNorm as one fused op (same variables and
        function, several times cheaper here; see fused_bn.py); False keeps Keras's own."""
        super().__init__(**kwargs)
        self.cfg, self.n_labels = cfg, n_labels
        self.steps_per_epoch = 1000   # the loop sets it from the photos and the global batch
        self.generator = build_g(cfg, n_labels)
        self.discriminator = build_d(cfg, n_labels)
        if fused_bn:
            self.generator = with_fused_batchnorm(self.generator)
            self.discriminator = with_fused_batchnorm(self.discriminator)
        # the EMA generator is float32: it is what samples, metrics and the bundle use
        self.ema_generator = build_g(cfg, n_labels, dtype="float32")
        self.ema_generator.set_weights(self.generator.get_weights())
        self.policies = parse_policies(cfg.diffaugment)
        self.g_optimizer = self._loss_scaled(self.make_optimizer(cfg.lr_g, "g_opt"))
        self.d_optimizer = self._loss_scaled(self.make_optimizer(cfg.lr_d, "d_opt"))
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.label_head = self.recon_decoder = None
        d = self.discriminator
        extra = {}   # D's inner outputs the optional terms read, by name
        if cfg.label_loss > 0 and n_labels:
            extra["features"] = d.get_layer(FEATURES_LAYER).output
        if cfg.d_recon > 0:
            extra["map8"] = d.get_layer(RECON_LAYER).output
        self.d_with_extra = keras.Model(d.inputs, {"logits": d.outputs[0], **extra},
                                        name="d_with_extra") if extra else None
        if "map8" in extra:
            self.recon_decoder = build_recon_decoder(extra["map8"].shape[-1])
            self.recon_optimizer = keras.optimizers.Adam(cfg.lr_d, beta_1=cfg.beta_1,
                                                         beta_2=cfg.beta_2, name="recon_opt")
            self.recon_optimizer.build(self.recon_decoder.trainable_variables)
        if "features" in extra:
            self.label_head = keras.layers.Dense(n_labels, name="label_head", dtype="float32")
            self.label_head.build((None, d.get_layer(FEATURES_LAYER).output.shape[-1]))
            self.head_optimizer = keras.optimizers.Adam(cfg.lr_d * HEAD_LR_FACTOR, beta_1=cfg.beta_1,
                                                        beta_2=cfg.beta_2, name="head_opt")
            self.head_optimizer.build(self.label_head.trainable_variables)

    def make_optimizer(self, lr: float, name: str) -> keras.optimizers.Optimizer:
        """G's and D's optimizer (a hook: the benchmarks' recipe step swaps in RMSprop)."""
        return keras.optimizers.Adam(lr, beta_1=self.cfg.beta_1, beta_2=self.cfg.beta_2, name=name)

    def _loss_scaled(self, optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
        """`optimizer`, wrapped in dynamic loss scaling when the networks compute in float16."""
        if self.cfg.precision != "mixed_float16":
            return optimizer
        return keras.optimizers.LossScaleOptimizer(optimizer, name=optimizer.name + "_scaled")

    # --- pieces -------------------------------------------------------------------------------
    def _rng_seed(self, step, salt: int):
        """Seed of one stateless draw of a step; replica r > 0 of a distributed run shifts it,
        so replicas draw different z and augmentations (replica 0 draws what one device does)."""
        context = tf.distribute.get_replica_context()
        replica = tf.cast(context.replica_id_in_sync_group if context else 0, tf.int64)
        return tf.stack([tf.cast(self.cfg.seed, tf.int64) * 1_000_003 + salt + 97 * replica,
                         tf.cast(step, tf.int64)])

    @staticmethod
    def global_mean(per_example):
        """This replica's share of the global batch's mean of a per-example quantity (other
        axes averaged first): summed over the replicas, by the optimizer for gradients and by
        `compiled_steps` for the log, it is the mean over the global batch
        (tf.nn.compute_average_loss); on one device, the plain mean."""
        x = tf.cast(per_example, tf.float32)
        if x.shape.rank != 1:
            x = tf.reduce_mean(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)
        return tf.nn.compute_average_loss(x)

    @staticmethod
    def _gradients(tape, loss, variables, optimizer):
        """d loss / d variables, backpropagated from the optimizer's loss scale instead of 1
        (only a LossScaleOptimizer has one; it divides it out again when applying)."""
        return tape.gradient(loss, variables,
                             output_gradients=optimizer.scale_loss(tf.ones_like(loss)))

    @staticmethod
    def _apply(optimizer, grads, variables) -> None:
        """`optimizer.apply_gradients`. A LossScaleOptimizer skips a step whose gradients are
        not finite, but judges each replica's own gradients before they are summed; so with
        several replicas they first agree, and either all apply the step or all skip it."""
        context = tf.distribute.get_replica_context()
        if (isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
                and context is not None and context.num_replicas_in_sync > 1):
            bad = tf.add_n([tf.reduce_sum(tf.cast(~tf.math.is_finite(g), tf.float32))
                            for g in grads if g is not None])
            bad = context.all_reduce("SUM", bad)
            grads = [g if g is None else tf.where(bad > 0, g * float("nan"), g) for g in grads]
        optimizer.apply_gradients(zip(grads, variables))

    def _g_inputs(self, z, labels):
        return [z, labels] if self.n_labels else z

    def _d(self, images, labels, step, salt, recon: bool = False):
        """D's logits; when the label loss is on, its classifier's label logits (else None);
        with `recon` (real photos, `d_recon` on), also the reconstruction loss of what D saw."""
        x = diff_augment(images, self.policies, self._rng_seed(step, salt)) if self.policies else images
        inputs = [x, labels] if self.n_labels else x
        if self.d_with_extra is None:
            out = {"logits": self.discriminator(inputs, training=True)}
        else:
            out = self.d_with_extra(inputs, training=True)
        classes = self.label_head(tf.cast(out["features"], tf.float32)) if self.label_head is not None else None
        if recon and self.recon_decoder is not None:
            return out["logits"], classes, self.recon_loss(out["map8"], x)
        return out["logits"], classes

    def recon_loss(self, map8, seen):
        """Mean |decoder(D's 8x8 map) - the image D saw, average-pooled to 32 px|."""
        drawn = self.recon_decoder(tf.cast(map8, tf.float32), training=True)
        factor = seen.shape[1] // RECON_SIZE
        target = tf.cast(seen, tf.float32)
        if factor > 1:
            target = tf.nn.avg_pool2d(target, ksize=factor, strides=factor, padding="VALID")
        return self.global_mean(tf.abs(drawn - target))

    def _label_loss(self, label_logits, labels):
        if label_logits is None:
            return tf.constant(0.0)
        return self.global_mean(tf.nn.sigmoid_cross_entropy_with_logits(
            labels=tf.cast(labels, tf.float32), logits=label_logits))

    def _label_edit_loss(self, z, labels, fake):
        """Mean |G(z, y') - G(z, y)| with y' another face's labels (the batch rolled by one)."""
        edited = self.generator(self._g_inputs(z, tf.roll(labels, shift=1, axis=0)), training=True)
        return DCGAN.global_mean(tf.abs(tf.cast(edited, tf.float32) - tf.cast(fake, tf.float32)))

    @staticmethod
    def image_detail(images):
        """The images minus their 1/8-size copy (average-pooled, scaled back up): what is left
        is structure (features, edges, texture), without the overall colour and layout."""
        size = tf.shape(images)[1:3]
        coarse = tf.nn.avg_pool2d(images, ksize=8, strides=8, padding="VALID")
        return images - tf.image.resize(coarse, size, method="bilinear")

    @staticmethod
    def mode_seeking_loss(fake, z, on: str = "image"):
        """MSGAN's term over the pairs (first half of the batch, second half): large when
        different z give similar images; with on="detail", similar in structure, so that the
        generator cannot satisfy it by spreading colours and layouts beyond real photos'."""
        half = tf.shape(fake)[0] // 2
        f = tf.cast(fake, tf.float32)
        if on == "detail":
            f = DCGAN.image_detail(f)
        d_img = tf.reduce_mean(tf.abs(f[:half] - f[half:2 * half]), axis=[1, 2, 3])
        d_z = tf.reduce_mean(tf.abs(z[:half] - z[half:2 * half]), axis=1)
        return DCGAN.global_mean(1.0 / (d_img / d_z + 1e-5))

    def gan_losses(self, real_logits, fake_logits):
        """Non-saturating logistic losses on D's logits: (D's, G's)."""
        d_loss = self.global_mean(tf.nn.softplus(-real_logits)) + self.global_mean(tf.nn.softplus(fake_logits))
        g_loss = self.global_mean(tf.nn.softplus(-fake_logits))
        return d_loss, g_loss

    def top_k_share(self, step):
        """Share of the fakes that train G at `step`: 0.99 ** epochs, but at least `top_k`."""
        epochs = tf.cast(step, tf.float32) / float(max(1, self.steps_per_epoch))
        return tf.maximum(tf.constant(self.cfg.top_k, tf.float32), tf.pow(0.99, epochs))

    def top_k_g_loss(self, fake_logits, share):
        """G's non-saturating loss over the ceil(share * batch) fakes with the highest logits
        (per replica), as a mean over them; the other fakes get no gradient."""
        logits = tf.reshape(tf.cast(fake_logits, tf.float32), [-1])
        n = tf.shape(logits)[0]
        k = tf.clip_by_value(tf.cast(tf.math.ceil(share * tf.cast(n, tf.float32)), tf.int32), 1, n)
        kth = tf.math.top_k(logits, k=k).values[-1]
        mask = tf.cast(logits >= kth, tf.float32)
        mask = mask * tf.cast(n, tf.float32) / tf.reduce_sum(mask)
        return self.global_mean(tf.nn.softplus(-logits) * mask)

    def ema_decay(self, step):
        """Ramped EMA decay: min(decay, (1+n)/(10+n)), so early samples follow the generator
        instead of showing its random start for thousands of steps."""
        n = tf.cast(step, tf.float32)
        return tf.minimum(tf.constant(self.cfg.ema_decay, tf.float32), (1.0 + n) / (10.0 + n))

    def _update_ema(self, step):
        beta = self.ema_decay(step)
        for w, e in zip(self.generator.weights, self.ema_generator.weights):
            e.assign(beta * e + (1.0 - beta) * tf.cast(w, e.dtype))
        return beta

    # --- the step -----------------------------------------------------------------------------
    def _g_extra_losses(self, z, labels, fake, fake_classes) -> dict:
        """The optional generator terms that are switched on, by name (unweighted)."""
        terms = {}
        if fake_classes is not None:
            terms["label_fake"] = self._label_loss(fake_classes, labels)
        if self.cfg.label_edit > 0 and self.n_labels:
            terms["label_edit"] = self._label_edit_loss(z, labels, fake)
        if self.cfg.mode_seeking > 0:
            terms["mode_seeking"] = self.mode_seeking_loss(fake, z, self.cfg.mode_seeking_on)
        return terms

    def _g_total(self, g_loss, terms: dict):
        weights = {"label_fake": self.cfg.label_loss, "label_edit": self.cfg.label_edit,
                   "mode_seeking": self.cfg.mode_seeking}
        return g_loss + sum(weights[name] * value for name, value in terms.items())

    def _apply_d_gradients(self, tape, d_total) -> None:
        """D's loss's gradients for D and, with the label loss, for its classifier (whose
        float32 path needs no loss scale)."""
        d_vars = self.discriminator.trainable_variables
        self._apply(self.d_optimizer, self._gradients(tape, d_total, d_vars, self.d_optimizer), d_vars)
        if self.label_head is not None:
            head_vars = self.label_head.trainable_variables
            self._apply(self.head_optimizer, tape.gradient(d_total, head_vars), head_vars)
        if self.recon_decoder is not None:
            dec_vars = self.recon_decoder.trainable_variables
            self._apply(self.recon_optimizer, tape.gradient(d_total, dec_vars), dec_vars)

    def train_step(self, data):
        """data = (real images [B,R,R,3] in [-1,1], labels [B,K], step scalar)."""
        real, labels, step = data
        batch = tf.shape(real)[0]
        z = tf.random.stateless_normal([batch, self.cfg.latent_dim], seed=self._rng_seed(step, 1))
        g_vars = self.generator.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            fake = self.generator(self._g_inputs(z, labels), training=True)
            real_logits, real_classes, *recon = self._d(real, labels, step, 2, recon=True)
            fake_logits, fake_classes = self._d(fake, labels, step, 3)
            d_loss, g_loss = self.gan_losses(real_logits, fake_logits)
            top_k = {"top_k_share": self.top_k_share(step)} if self.cfg.top_k < 1 else {}
            if top_k:
                g_loss = self.top_k_g_loss(fake_logits, top_k["top_k_share"])
            # the classifier learns from real photos only; the generator must satisfy it
            label_real = self._label_loss(real_classes, labels)
            d_total = d_loss + self.cfg.label_loss * label_real
            d_terms = {"recon": recon[0]} if recon else {}
            if recon:
                d_total += self.cfg.d_recon * recon[0]
            terms = self._g_extra_losses(z, labels, fake, fake_classes)
            g_total = self._g_total(g_loss, terms)
        g_grads = self._gradients(tape, g_total, g_vars, self.g_optimizer)
        self._apply_d_gradients(tape, d_total)
        del tape
        self._apply(self.g_optimizer, g_grads, g_vars)
        beta = self._update_ema(step)
        return self._step_log(d_loss, g_loss, real_logits, fake_logits, beta,
                              label_real if real_classes is not None else None,
                              {**terms, **top_k, **d_terms})

    @staticmethod
    def _step_log(d_loss, g_loss, real_logits, fake_logits, beta, label_real, terms: dict) -> dict:
        """What a step reports to the log and TensorBoard (shared with bench's recipe step)."""
        return {
            "d_loss": d_loss, "g_loss": g_loss,
            "d_real": DCGAN.global_mean(real_logits),
            "d_fake": DCGAN.global_mean(fake_logits),
            "ema_decay": beta,
            **({"label_real": label_real} if label_real is not None else {}),
            **terms,
        }

    def r1_step(self, data):
        """Lazy R1 (Mescheder et al. 2018): penalise D's gradient on real photos every
        `r1_every` steps, scaled by that interval, as a separate D update."""
        real, labels, step = data
        real = tf.cast(real, tf.float32)
        with tf.GradientTape() as tape:
            with tf.GradientTape() as inner:
                inner.watch(real)
                logits = self.discriminator([real, labels] if self.n_labels else real, training=True)
                total = tf.reduce_sum(tf.cast(logits, tf.float32))
            grad = inner.gradient(total, real)
            penalty = self.global_mean(tf.reduce_sum(tf.square(grad), axis=[1, 2, 3]))
            loss = penalty * (self.cfg.r1_gamma * 0.5 * self.cfg.r1_every)
        d_vars = self.discriminator.trainable_variables
        # the logit's bias has no gradient in the penalty (it does not change dD/dx)
        pairs = [(g, v) for g, v in zip(self._gradients(tape, loss, d_vars, self.d_optimizer), d_vars)
                 if g is not None]
        self._apply(self.d_optimizer, [g for g, _ in pairs], [v for _, v in pairs])
        return {"r1": penalty}

    def compiled_steps(self):
        """tf.functions for the step and R1 on the strategy the model was built under (the
        default one-device strategy unless built in a strategy's scope): each runs on every
        replica and returns the log values reduced over the replicas. The replicas' step is
        XLA-compiled when the config asks for it."""
        strategy = self.distribute_strategy
        jit = bool(self.cfg.jit_compile)

        def on_every_replica(step):
            replica_step = tf.function(step, jit_compile=True) if jit else step

            def run(data):
                out = strategy.run(replica_step, args=(data,))
                return {k: strategy.reduce("MEAN" if k in SAME_ON_EVERY_REPLICA else "SUM", v, axis=None)
                        for k, v in out.items()}
            return tf.function(run, reduce_retracing=True)

        return on_every_replica(self.train_step), on_every_replica(self.r1_step)

    # --- state for checkpoints ----------------------------------------------------------------
    def use_configured_learning_rates(self) -> None:
        """Set both optimizers' learning rates from the config. A checkpoint restores the
        optimizers' variables, learning rate included, so without this a run resumed with
        --lr-g/--lr-d would go on at the old rates while config.json showed the new ones."""
        self.g_optimizer.learning_rate.assign(self.cfg.lr_g)
        self.d_optimizer.learning_rate.assign(self.cfg.lr_d)
        if self.label_head is not None:
            self.head_optimizer.learning_rate.assign(self.cfg.lr_d * HEAD_LR_FACTOR)
        if self.recon_decoder is not None:
            self.recon_optimizer.learning_rate.assign(self.cfg.lr_d)

    def state_variables(self) -> dict[str, list]:
        """Every variable a resume needs, grouped; order is fixed by construction. The label
        classifier's group exists only with the label loss, the loss scales only in float16
        (OPTIONAL_GROUPS: a run may switch either on when resumed; it then starts fresh)."""
        groups = {
            "generator": list(self.generator.weights),
            "discriminator": list(self.discriminator.weights),
            "ema_generator": list(self.ema_generator.weights),
            "g_optimizer": list(_unscaled(self.g_optimizer).variables),
            "d_optimizer": list(_unscaled(self.d_optimizer).variables),
            # Keras layers with their own RNG (D's Dropout) keep it in a SeedGenerator
            "layer_rng": [layer.seed_generator.state
                          for net in (self.generator, self.discriminator)
                          for layer in net.layers if hasattr(layer, "seed_generator")],
        }
        if self.label_head is not None:
            groups["label_head"] = list(self.label_head.weights) + list(self.head_optimizer.variables)
        if self.recon_decoder is not None:
            groups["recon_decoder"] = (list(self.recon_decoder.weights)
                                       + list(self.recon_optimizer.variables))
        scaled = [o for o in (self.g_optimizer, self.d_optimizer)
                  if isinstance(o, keras.optimizers.LossScaleOptimizer)]
        if scaled:
            groups["loss_scale"] = [v for o in scaled for v in (o.dynamic_scale, o.step_counter)]
        return groups


def _unscaled(optimizer):
    """The optimizer inside a LossScaleOptimizer (its slots are the same with or without
    loss scaling, so a run may change precision when resumed)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


OPTIONAL_GROUPS = ("label_head", "recon_decoder", "loss_scale")


def build_recon_decoder(channels: int) -> keras.Model:
    """D's 8x8 feature map -> a 32x32 RGB image in [-1, 1]: a 1x1 conv down to 64 channels,
    then two 2x upsamplings with 3x3 convs. Kept narrow, so that the aid adds little to a
    step's cost. float32 whatever the run's precision: it is small, and its loss is compared
    in float32."""
    f32 = {"dtype": "float32"}
    m = keras.Input((8, 8, channels), name="map8")
    h = keras.layers.LeakyReLU(0.2, **f32)(m)
    h = keras.layers.Conv2D(64, 1, **f32)(h)
    h = keras.layers.LeakyReLU(0.2, **f32)(h)
    for width in (32, 16):
        h = keras.layers.UpSampling2D(2, **f32)(h)
        h = keras.layers.Conv2D(width, 3, padding="same", **f32)(h)
        h = keras.layers.LeakyReLU(0.2, **f32)(h)
    out = keras.layers.Conv2D(3, 3, padding="same", activation="tanh", **f32)(h)
    return keras.Model(m, out, name="recon_decoder")
