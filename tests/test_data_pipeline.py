"""gan.data.pipeline.make_dataset: batches, labels, flips, exact resume."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from gan.data.pipeline import batch_indices, flip_mask, make_dataset  # noqa: E402
from gan.data.preprocess import to_model_input  # noqa: E402


def _coded_images(n, s=8):
    """Image i: red channel = i, and a bright left column (shows whether it was flipped)."""
    a = np.zeros((n, s, s, 3), np.uint8)
    a[..., 0] = np.arange(n, dtype=np.uint8)[:, None, None]
    a[:, :, 0, 1] = 255
    return a


def _take(ds, k):
    return [(x.numpy(), y.numpy()) for x, y in ds.take(k)]


def test_shapes_range_and_labels_aligned():
    n = 13
    images = _coded_images(n)
    labels = np.stack([np.arange(n), np.arange(n) % 2], 1).astype(np.float32)
    ds = make_dataset(images, labels, batch_size=4, seed=1)
    for x, y in _take(ds, 10):
        assert x.shape == (4, 8, 8, 3) and x.dtype == np.float32 and y.shape == (4, 2)
        assert x.min() >= -1.0 and x.max() <= 1.0
        idx = np.rint((x[:, 4, 4, 0] + 1.0) * 127.5).astype(int)
        np.testing.assert_array_equal(idx, y[:, 0])  # label row of the very image
        np.testing.assert_array_equal(idx % 2, y[:, 1])


def test_no_labels_gives_empty_columns():
    x, y = _take(make_dataset(_coded_images(5), None, batch_size=3), 1)[0]
    assert y.shape == (3, 0) and y.dtype == np.float32 and x.shape == (3, 8, 8, 3)


def test_epochs_are_fresh_permutations_and_no_image_is_dropped():
    n, b = 10, 4
    pos = np.concatenate([batch_indices(n, b, 7, s) for s in range(5)])  # 20 positions = 2 epochs
    assert sorted(pos[:10]) == list(range(10)) and sorted(pos[10:]) == list(range(10))
    assert list(pos[:10]) != list(pos[10:])
    assert list(batch_indices(n, b, 8, 0)) != list(batch_indices(n, b, 7, 0))
    # Tiny data (fewer images than a batch) still works.
    assert len(batch_indices(3, 8, 0, 5)) == 8


def test_batch_of_step_is_pure_function_of_seed_and_step():
    images = _coded_images(23, 6)
    labels = np.arange(23, dtype=np.float32)[:, None]
    full = _take(make_dataset(images, labels, batch_size=5, seed=11), 12)
    resumed = _take(make_dataset(images, labels, batch_size=5, seed=11, start_step=7), 5)
    for (xa, ya), (xb, yb) in zip(full[7:], resumed):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    other = _take(make_dataset(images, labels, batch_size=5, seed=12), 2)
    assert not np.array_equal(other[0][1], full[0][1])


def test_flips_are_random_horizontal_and_exact():
    n, b = 16, 8
    images = _coded_images(n)
    ds = make_dataset(images, None, batch_size=b, seed=3)
    flipped = 0
    for step, (x, _) in enumerate(_take(ds, 8)):
        idx = batch_indices(n, b, 3, step)
        f = flip_mask(b, 3, step)
        expect = to_model_input(images[idx])
        expect[f] = expect[f, :, ::-1]
        np.testing.assert_array_equal(x, expect)  # same arithmetic as to_model_input
        assert ((x[:, :, -1, 1] > 0.9).all(axis=1) == f).all()  # bright column moved right
        flipped += f.sum()
    assert 0.3 < flipped / (8 * b) < 0.7
    no_flip = _take(make_dataset(images, None, batch_size=b, seed=3, flip=False), 1)[0][0]
    np.testing.assert_array_equal(no_flip, to_model_input(images[batch_indices(n, b, 3, 0)]))


def test_bad_arguments():
    with pytest.raises(ValueError):
        make_dataset(np.zeros((0, 8, 8, 3), np.uint8), None, 4)
    with pytest.raises(ValueError):
        make_dataset(np.zeros((4, 8, 8, 3), np.float32), None, 4)
    with pytest.raises(ValueError):
        make_dataset(_coded_images(4), np.zeros((3, 1)), 4)


def test_read_only_memmap_input(tmp_path):
    """A cache hit hands the pipeline a read-only np.memmap."""
    np.save(tmp_path / "a.npy", _coded_images(6))
    mm = np.load(tmp_path / "a.npy", mmap_mode="r")
    x, _ = _take(make_dataset(mm, None, batch_size=4, seed=2), 1)[0]
    np.testing.assert_array_equal(x[:, 4, 4, 0], to_model_input(mm[batch_indices(6, 4, 2, 0)])[:, 4, 4, 0])
