"""Offline quality metrics for generated faces (no downloads): consumers of bundles, run by
`python -m gan.evaluate` and read by the app's Model quality page.

- `evaluate`: one bundle's evaluation, step by step (`evaluate_bundle`, `real_sets`,
  `generate_faces`); the library behind the `gan.evaluate` command line;
- `report`: the one writer of `<bundle>/evaluation/` and of the card's metrics;
- `swd`: sliced Wasserstein distance on Laplacian-pyramid patches (ProGAN), NumPy;
- `msssim`: MS-SSIM diversity of random pairs, generated beside real (TensorFlow);
- `memorisation`: nearest training photo of generated faces vs of held-out photos;
- `inception`: FID/KID, only from a user-supplied InceptionV3 weights file;
- `figures`: the PNG charts and grids; `explain`: a report in plain words.

Importing this package imports none of them (and so no TensorFlow).
"""
