"""Real or generated: the detectors a bundle offers, how photos reach them, how they are fitted
and measured. Everything about detection lives in this package; each idea in one module.

    python -m gan.detector fit --model models/NAME --sources S.json   # measure, fit, store, report
    python -m gan.detector report --model models/NAME --sources S.json
    python -m gan.detect --model models/NAME FILE...     # score photos (one JSON line each)

Every figure is measured leave-one-source-out: a source is scored only by a detector fitted and
calibrated without it (docs/detector.md).

Using a detector (the CLI `gan.detect` and the app's `app_support.detection` use these):
- `stored`: the bundle's detectors (the panel, discriminator features, learned, forensic,
  the discriminator alone) with one contract: prepare a photo's views, judge them; `pick` chooses one by name;
- `photos`: the one path from a file to a verdict: open it like an upload, prepare, judge in
  batches;
- `verdict`: the verdict rule: generated, real or unsure, and why;
- `dfeatures`: what the discriminator sees of the landmark-aligned face, read by a fitted
  classifier; its stored file and a photo's views;
- `learned`: the discriminator's layers trained on many sources as a classifier of the same
  face; its training, leave-folds-out measurement and stored file;
- `panel`: the learned detector and the discriminator judging together (the higher of their
  ranks among left-out real photos); its measurement from theirs and a photo's views;
- `forensic`: the stored forensic detector file (plain arrays, no pickle: the container both
  fitted detectors use) and a photo's views;
- `texture`: what it looks at (local texture of the face at the photo's own resolution);
- `variants`: how photos are changed (fit-time augmentation, the re-encodings a verdict must
  survive); `classifier`: the read-out; `ood`: photos unlike every fit source;
- `kerasmodels`: the training step and the stored file of the detectors that are Keras models;
- `calibrate`: sigmoid, Platt, upper bounds, AUC (NumPy).

Fitting and measuring them (`python -m gan.detector`, this package's `__main__`):
- `collections`: the sources manifest, sampling, the cached description of each photo;
- `loso`: the leave-one-source-out protocol and the choice of the verdict rule;
- `fit`: every detector measured, fitted and stored; `report` and `figures`: robustness and
  groups; `explain`: the report in plain words for the app.

Nothing here imports training code or Streamlit; the app never imports `fit`, `loso`,
`collections` or `report`. Importing this package imports none of its modules.
"""
