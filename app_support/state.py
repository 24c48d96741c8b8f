"""Which models the app serves and the one shared copy of each.

Bundles load once per server process (`st.cache_resource`) and are shared by every session, so
pages only call them (Keras inference is thread-safe) and never change them. The cache key
includes the card's size and mtime, so an updated bundle on disk is picked up.
`FACEGAN_MODELS_DIR` points the app at another models folder (tests use a temporary one).
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from app_support import card_text, ui
from app_support.faces import (FaceCache, Faces, StoredFaces, labels_key, png, stored_faces,
                                toward_key)
from app_support.gate import model_call
from gan import sampling
from gan.bundle import (CARD, Bundle, BundleError, list_bundles, load_bundle, model_files,
                        read_card, verify_files)
from gan.images import gif_bytes

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # keep TensorFlow's start-up chatter out of logs

MODELS_ENV = "FACEGAN_MODELS_DIR"
REPO = Path(__file__).resolve().parent.parent
PICK_KEY = "model"


_this_run = threading.local()    # a script run happens in one thread, one session per thread


@contextmanager
def routing(pages: list):
    """app.py's `st.navigation(pages)`; inside the block, pages know they run through app.py."""
    nav = st.navigation(pages)
    _this_run.routed = True
    try:
        yield nav
    finally:
        _this_run.routed = False


def ensure_navigation() -> None:
    """Call first thing on every page. While a `pages/` folder exists, Streamlit starts each
    server in its older folder-based multipage mode and leaves it only once `st.navigation`
    has been called (its documented switch: the folder is ignored from then on); until then a
    visitor who opens /generate or /detect directly gets the page without app.py (no model
    picker, wrong menu). So a page that runs outside app.py's `routing` calls `st.navigation`
    itself (the folder's pages: this run ends at once) and reruns through app.py, which keeps
    the requested page (both modes name it after the file)."""
    if getattr(_this_run, "routed", False):
        return
    folder = sorted((REPO / "pages").glob("*.py"))
    st.navigation([st.Page(str(REPO / "app.py"), default=True), *map(st.Page, folder)],
                  position="hidden")
    st.rerun()


def models_dir() -> Path:
    return Path(os.environ.get(MODELS_ENV) or REPO / "models")


def bundle_key(path: Path) -> tuple:
    """Identity of a bundle on disk: path + card stamp (a re-export changes the card)."""
    try:
        st_ = (path / CARD).stat()
        return (str(path.resolve()), st_.st_mtime_ns, st_.st_size)
    except OSError:
        return (str(path), 0, 0)


class _Loads:
    """Bundles loading or loaded, each in its own thread, once per (path, card stamp). The
    home page starts the chosen model loading while it shows faces stored in the bundle, so a
    newcomer does not wait for TensorFlow; every page that needs the model waits for that same
    load. A failed load is not kept: the next request tries again (a fixed bundle then loads)."""

    def __init__(self, max_entries: int = 4):
        self.max_entries = int(max_entries)
        self._futures: OrderedDict[tuple, Future] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, path: str, stamp: tuple) -> Future:
        with self._lock:
            fut = self._futures.get((path, stamp))
            if fut is None or (fut.done() and fut.exception() is not None):
                fut = Future()
                self._futures[(path, stamp)] = fut
                threading.Thread(target=self._run, args=(fut, path), daemon=True,
                                 name=f"facegan-load-{Path(path).name}").start()
            self._futures.move_to_end((path, stamp))
            while len(self._futures) > self.max_entries:
                self._futures.popitem(last=False)
            return fut

    @staticmethod
    def _run(fut: Future, path: str) -> None:
        try:
            bundle = load_bundle(path)
            sampling.generate(bundle, 1)   # warm up Keras here, not in a visitor's request
            _out_of_the_gcs_way()
        except BaseException as e:  # noqa: BLE001 - handed to whoever waits for the load
            fut.set_exception(e)
        else:
            fut.set_result(bundle)


@st.cache_resource(show_spinner=False)
def _loads() -> _Loads:
    return _Loads()


def preload(path: Path | None) -> Future | None:
    """Start loading the bundle at `path` in the background (once per process) and return at
    once: the model is ready by the time the visitor asks for new faces."""
    if path is None:
        return None
    return _loads().start(str(path), bundle_key(path))


def _out_of_the_gcs_way() -> None:
    """After every script run Streamlit calls `keras.backend.clear_session()`, whose full
    garbage collection walks every object of TensorFlow, Keras and the loaded models: 0.3-0.7 s
    of CPU per click here. Those objects live as long as the process, so once a bundle is loaded
    they go to the permanent generation (`gc.freeze`, Python's documented way to keep long-lived
    objects out of collections) and that call costs next to nothing. Streamlit's clean-up itself
    is left as it is (it also drops TF's eager kernel cache: about 20-30 ms of CPU on the next
    inference)."""
    import gc

    gc.collect()       # what is garbage now should not be frozen
    gc.freeze()


@st.cache_resource(show_spinner=False)
def face_cache() -> FaceCache:
    return FaceCache(max_entries=32)


@dataclass(frozen=True)
class Morph:
    pngs: tuple[bytes, ...]   # the frames, A to B
    gif: bytes                # the animated GIF (A to B and back)


@st.cache_resource(max_entries=16, show_spinner=False)
def _morph(_bundle: Bundle, bundle_key: tuple, seed_a: int, seed_b: int, frames: int,
           truncation: float, labels: tuple, shift: bytes | None, toward: tuple = ()) -> Morph:
    import numpy as np

    z_shift = None if shift is None else np.frombuffer(shift, np.float32)
    with model_call():
        images = sampling.interpolate(_bundle, seed_a, seed_b, frames, truncation,
                                      dict(labels) or None, z_shift,
                                      {k: (e, t) for k, e, t in toward} or None)
    return Morph(tuple(png(f) for f in images), gif_bytes(images, duration_ms=100))


def morph(bundle: Bundle, bundle_key: tuple, seed_a: int, seed_b: int, frames: int,
          truncation: float, labels: dict[str, float] | None, z_shift=None,
          toward=None) -> Morph:
    """Frames from the first face of seed_a to that of seed_b, made once per process for
    the same settings (every rerun of the page would otherwise regenerate them)."""
    import numpy as np

    shift = None if z_shift is None else np.asarray(z_shift, np.float32).tobytes()
    return _morph(bundle, bundle_key, int(seed_a), int(seed_b), int(frames),
                  round(float(truncation), 4), labels_key(labels), shift, toward_key(toward))


def _read_card(path: Path) -> dict | BundleError:
    """A bundle's card, or why it cannot be used (cheap: the models are not loaded)."""
    try:
        return read_card(path)
    except BundleError as e:
        return e


def _label(name: str, card: dict | BundleError) -> str:
    if isinstance(card, BundleError):
        return f"{name} (damaged)"
    size = card.get("preprocessing", {}).get("size", "?")
    return f"{name} · {size}px · {card_text.steps_label(card)}"


def _reason(path: Path, err: BundleError) -> str:
    """What is wrong with a bundle, short enough for the sidebar (no folder, no how-to)."""
    return str(err).split(" Get a working bundle")[0].replace(f"{path}{os.sep}", "")


def model_picker() -> Path | None:
    """Sidebar choice of bundle (every folder in the models dir); None when there is none.
    A bundle whose card is malformed stays listed as damaged, with its reason below the
    picker, and is not chosen first while a usable one exists."""
    found = list_bundles(models_dir())
    if not found:
        return None
    by_name = {p.name: p for p in found}
    cards = {p.name: _read_card(p) for p in found}
    names = list(by_name)
    usable = [n for n in names if not isinstance(cards[n], BundleError)] or names
    # The choice is kept under a second key too: Streamlit drops a widget's state on a page
    # switch, and the picker must survive the visitor's trip between pages.
    remembered = st.session_state.get("_" + PICK_KEY)
    wanted = st.query_params.get("model")
    if st.session_state.get(PICK_KEY) not in names:
        st.session_state[PICK_KEY] = next((n for n in (remembered, wanted) if n in names), usable[0])
    name = st.sidebar.selectbox("Model", names, key=PICK_KEY,
                                format_func=lambda n: _label(n, cards[n]),
                                help=f"Every bundle in `{models_dir()}`. The same model serves "
                                     "every page and every visitor.")
    st.session_state["_" + PICK_KEY] = name
    if not isinstance(cards[name], BundleError):
        st.sidebar.caption(card_text.steps_sentence(cards[name]))
    for other, card in cards.items():
        if isinstance(card, BundleError) and other != name:    # the chosen one's page says it
            st.sidebar.caption(f":material/warning: `{other}` cannot be used: "
                               f"{_reason(by_name[other], card)}")
    return by_name[name]


def selected_path() -> Path | None:
    """The chosen bundle; before the picker has run, the first usable one."""
    found = list_bundles(models_dir())
    by_name = {p.name: p for p in found}
    chosen = st.session_state.get(PICK_KEY, st.session_state.get("_" + PICK_KEY))
    if chosen in by_name:
        return by_name[chosen]
    return next((p for p in found if not isinstance(_read_card(p), BundleError)),
                found[0] if found else None)


@st.cache_resource(max_entries=8, show_spinner=False)
def _checked_card(path: str, stamp: tuple) -> dict:
    card = read_card(path)
    verify_files(path, card, model_files(card))
    return card


def _chosen_path() -> tuple[Path, tuple]:
    """The chosen bundle's folder and cache key; with no bundle at all, says how to get one and
    stops the page."""
    path = selected_path()
    if path is None:
        ui.no_models(models_dir())
        st.stop()
    return path, bundle_key(path)


def chosen_card() -> tuple[Path, dict, tuple]:
    """The chosen bundle's path, card and cache key, its model files checked against the card
    (sizes and SHA-256) but not loaded: all a page needs that shows no new faces. When there
    is no usable bundle, shows what is wrong and how to get one, then stops the page."""
    path, key = _chosen_path()
    try:
        return path, _checked_card(str(path), key), key
    except BundleError as e:
        ui.bundle_problem(path, e)
        st.stop()


@st.cache_resource(max_entries=8, show_spinner=False)
def _stored(path: str, stamp: tuple, n: int) -> StoredFaces | None:
    return stored_faces(Path(path), read_card(path), n)


def first_faces(path: Path, card: dict, key: tuple, n: int) -> tuple[Faces, StoredFaces | None]:
    """`n` faces of the chosen model for a first look: the ones its evaluation stored when
    there are (no TensorFlow needed: a newcomer sees faces at once), else seed 0's, generated."""
    stored = _stored(str(path), key, int(n))
    if stored is not None:
        return stored.faces, stored
    bundle, key = current_bundle()
    return face_cache().faces(bundle, key, n, seed=0), None


def current_bundle() -> tuple[Bundle, tuple]:
    """The chosen bundle (loaded once per process) and its cache key. When there is no usable
    bundle, shows what is wrong and how to get one, then stops the page."""
    path, key = _chosen_path()
    try:
        fut = _loads().start(str(path), key)
        if not fut.done():
            with st.spinner(f"Loading the model `{path.name}` (once per server)..."):
                fut.result()
        return fut.result(), key
    except BundleError as e:
        ui.bundle_problem(path, e)
        st.stop()
