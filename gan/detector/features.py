"""What the forensic detector looks at: the discriminator's own features of a face.

The discriminator has learned, over its whole training, which traces tell the generator's faces
from photos. Its last layer turns them into one number for one generator at one moment of
training; the forensic detector keeps the features and learns a new, simpler read-out (a
logistic regression) from labelled faces of several generators and several real sources.

Two views are concatenated: the flattened penultimate activations (`FEATURES_LAYER`, 4x4 per
channel, where in the face a trace sits) and, for every downsampling block, the mean and the
mean absolute value of each channel over the image (what traces there are, wherever they sit,
which a crop or shift does not move). Images go in as `to_model_input` makes them; labels are
not used (the features come before the label projection).
"""
from __future__ import annotations

import numpy as np

from gan.data.preprocess import to_model_input

FEATURE_VERSION = 1


def _block_outputs(discriminator) -> list:
    """The activation after each downsampling block (the LeakyReLU that follows `downN`),
    from the finest to the coarsest."""
    names = [l.name for l in discriminator.layers]
    outs = []
    for i, name in enumerate(names):
        if name.startswith("down") and not name.endswith("_bn"):
            j = i + 1
            while j < len(names) and names[j].endswith("_bn"):
                j += 1
            outs.append(discriminator.layers[j].output)
    return outs


class FeatureExtractor:
    """uint8 faces [n, R, R, 3] -> float32 features [n, dim], in batches."""

    def __init__(self, bundle):
        import keras

        from gan.models import FEATURES_LAYER  # lazy: gan.models loads TensorFlow/Keras

        d = bundle.discriminator
        image_input = d.inputs[0]
        try:
            flat = d.get_layer(FEATURES_LAYER).output
        except ValueError as e:
            raise ValueError(f"the discriminator of {bundle.name} has no layer named "
                             f"{FEATURES_LAYER!r}, so it has no features to read") from e
        blocks = _block_outputs(d)
        self.model = keras.Model(image_input, [flat, *blocks], name="detector_features")
        self.resolution = bundle.resolution

    def __call__(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        images = np.asarray(images)
        out = []
        for i in range(0, len(images), batch_size):
            x = to_model_input(images[i:i + batch_size])
            flat, *blocks = self.model(x, training=False)
            parts = [np.asarray(flat, np.float32)]
            for b in blocks:
                b = np.asarray(b, np.float32)
                parts += [b.mean(axis=(1, 2)), np.abs(b).mean(axis=(1, 2))]
            out.append(np.concatenate(parts, axis=1))
        if not out:
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate(out).astype(np.float32)

    @property
    def dim(self) -> int:
        flat, *blocks = self.model.outputs
        return int(flat.shape[-1]) + 2 * sum(int(b.shape[-1]) for b in blocks)
