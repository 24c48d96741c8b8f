"""App-only helpers for the Streamlit pages (`app.py`, `pages/`).

Layering: `faces`, `detection` and `card_text` are plain Python (no Streamlit), so tests and
benchmarks call them directly; `state` and `ui` are the only modules importing Streamlit.
Nothing here imports training code: the app sees models only through `gan.bundle`.
"""
