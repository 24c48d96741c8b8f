"""Moved to `gan.detector.stored`; this name stays only until tests/test_safe_loading.py
imports `stored_detectors` from there."""
from gan.detector.stored import stored_detectors  # noqa: F401
