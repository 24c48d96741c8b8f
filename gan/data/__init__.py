"""Face photo ingestion: any folder of faces in, clean training data out.

    from gan.data import load_faces, prepare_image, make_dataset

``preprocess`` (no TensorFlow) is the single preprocessing path used by training and
inference; ``dataset`` loads and caches whole sources; ``pipeline`` (TensorFlow) turns
the uint8 arrays into a tf.data pipeline. ``make_dataset`` is imported lazily so that
importing ``gan.data`` (the app, the decode workers) never loads TensorFlow.
"""

from .dataset import FaceData, default_cache_dir, load_faces
from .dedup import DEFAULT_THRESHOLD as DEDUP_THRESHOLD
from .dedup import find_duplicates, find_pairs, phash
from .preprocess import (
    CROP_MODES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_SIZE,
    MIN_SIZE,
    PREPROCESS_VERSION,
    ImageError,
    Preprocessed,
    open_image,
    prepare_image,
    preprocess_image,
    to_model_input,
    to_uint8,
)
from .sources import IMAGE_EXTENSIONS, detect_source

__all__ = [
    "CROP_MODES",
    "DEDUP_THRESHOLD",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_SIZE",
    "IMAGE_EXTENSIONS",
    "MIN_SIZE",
    "PREPROCESS_VERSION",
    "FaceData",
    "ImageError",
    "Preprocessed",
    "default_cache_dir",
    "detect_source",
    "find_duplicates",
    "find_pairs",
    "load_faces",
    "make_dataset",
    "open_image",
    "phash",
    "prepare_image",
    "preprocess_image",
    "to_model_input",
    "to_uint8",
]


def __getattr__(name):
    if name == "make_dataset":
        from .pipeline import make_dataset  # lazy: loads TensorFlow; gan.data must not

        return make_dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
