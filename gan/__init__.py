"""FaceGAN Studio library: data -> training -> bundle -> (app pages, CLIs).

Modules never import upwards: `gan.data` knows nothing of training, `gan.bundle` and
`gan.sampling` know nothing of training, and nothing here imports Streamlit.
"""
