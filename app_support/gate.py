"""At most MAX_CONCURRENT_MODEL_CALLS model calls at a time in the server process, all sessions
together: the generator making faces or a morph, a detector judging photos.

Each call holds its activations until it returns (about 60 MB for 16 faces at 128 px, four
times that for 64), and TensorFlow already spreads one call over every core, so more calls at
once make none of them sooner: they only add up their memory, which the allocator then keeps.
Measured on 2 cores (`bench/app_load.py`, docs/scaling.md): without this gate, 16 visitors
asking for new faces at once took the server from 0.9 GB to 1.9 GB and 32 to 2.8 GB; 16
threads each generating 16 faces took 2.4-2.9 s in all with every call running at once (+0.9
to 1.2 GB) and 2.4-2.8 s through a gate of 2 (+0.2 GB), with a lower median wait. The others
wait their turn, in arrival order (mostly: threading's semaphore does not promise it).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

MAX_CONCURRENT_MODEL_CALLS = 2
MODEL_GATE = threading.BoundedSemaphore(MAX_CONCURRENT_MODEL_CALLS)


@contextmanager
def model_call():
    """Hold one of the server's model-call slots for the block (waiting for one if need be)."""
    with MODEL_GATE:
        yield
