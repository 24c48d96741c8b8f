"""Real or generated: the detectors a bundle offers, how photos reach them, how they are fitted
and measured. Everything about detection lives in this package; each idea in one module.

    python -m gan.detector fit --model models/NAME       # fit both, then measure (report)
    python -m gan.detector report --model models/NAME    # measure the stored detectors again
    python -m gan.detect --model models/NAME FILE...     # score photos (one JSON line each)

Using a detector (the CLI `gan.detect` and the app's `app_support.detection` use these):
- `stored`: the bundle's detectors (the discriminator, the forensic one) as raw score,
  P(generated) and threshold, best first; `pick` chooses one by name;
- `photos`: the one path from a file to a verdict: prepare it like an upload, score in batches;
- `verdict`: the verdict rule ("generated" when P(generated) >= the threshold);
- `calibrate`: the calibration maths: sigmoid, Platt fit and apply (`probability` reads a
  card's calibration), thresholds for a false-positive rate, AUC, reliability (NumPy);
- `forensic`: the stored forensic detector file (plain arrays, no pickle): load, check, score;
- `features`: the discriminator's features the forensic detector reads.

Fitting and measuring them (`python -m gan.detector`, this package's `__main__`):
- `data`: the photos, split into train / calib / test parts by file-name hash, perturbations;
- `fit`: fitting both detectors (scikit-learn); `report` and `figures`: the measurements;
- `explain`: the report in plain words for the app.

Nothing here imports training code or Streamlit; the app never imports `fit`, `data` or
`report`. Importing this package imports none of its modules.
"""
