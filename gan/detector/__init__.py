"""Real or generated: the detectors a bundle offers, how they are fitted and measured.

    python -m gan.detector fit --model models/NAME       # fit both, then measure (report)
    python -m gan.detector report --model models/NAME    # measure the stored detectors again
    python -m gan.detect --model models/NAME FILE...     # score photos (one JSON line each)

- `data`: the photos, split into train / calib / test parts by file-name hash, perturbations;
- `features`: the discriminator's features the forensic detector reads;
- `calibrate`: Platt scaling, thresholds for a false-positive rate, AUC, reliability (NumPy);
- `forensic`: the stored forensic detector (plain arrays, no pickle): load, check, score;
- `fit`: fitting both detectors (scikit-learn); `report` and `figures`: the measurements;
- `explain`: the report in plain words for the app.

The app uses `stored` (with `forensic`, `features`, `calibrate`, `verdict`) and `explain`;
nothing here imports training code or Streamlit. Importing this package imports none of them.
"""
