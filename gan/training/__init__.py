"""Training: the GAN step, checkpoints, the run directory and the loop. Imports TensorFlow;
nothing outside training (app, CLIs that only load bundles) imports this package."""
