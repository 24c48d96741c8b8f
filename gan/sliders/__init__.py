"""Attribute sliders: what they do in the app, and how well they work.

What lives where:
- `semantics`: what a bundle's sliders do (label values, fitted directions, the card's
  choice); the only module the app imports;
- `identity`: "the same face" after an edit (a feature space and nearest-neighbour rule);
- `classifier`: the attribute judge, a small CNN trained on real labelled photos only;
- `directions`: InterFaceGAN latent directions fitted against that judge;
- `measure`: the measurement, step by step (photos, judge, directions, sweep, choice);
- `report`: its report, figure, card summary and terminal summary.

`python -m gan.attributes` is the command line (gan/attributes.py).
"""
