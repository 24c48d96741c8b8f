"""argparse types the command-line tools share, so a bad number is one usage line naming the
option, never NumPy's traceback or a silent odd result. Light on purpose (no TensorFlow):
a CLI refuses a bad option before it loads anything."""
from __future__ import annotations

import argparse

from gan.sampling import check_truncation


def whole_number(minimum: int = 0, maximum: int | None = None, what: str = ""):
    """An argparse type: a whole number from `minimum` (to `maximum`). A negative seed or count is
    then one usage line naming the option."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            span = f"from {minimum}" + (f" to {maximum}" if maximum is not None else " up")
            raise argparse.ArgumentTypeError(f"must be a whole number {span}{what}, not {value}")
        return value
    return parse


# a seed picks the faces (numpy's generators take 0 and up)
seed_number = whole_number(0, what=" (a seed: 0, 1, 2, ...)")


def truncation_number(text: str) -> float:
    """An argparse type: gan.sampling.check_truncation's range, as a usage line."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    try:
        return check_truncation(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--truncation ")) from None
