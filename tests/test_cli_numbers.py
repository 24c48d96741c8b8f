"""Numbers the CLIs take (seeds, counts, truncation) are checked as they are parsed: a negative
seed, a NaN truncation or a count below its least is one usage line naming the option, exit 2,
before any work and with nothing written (not NumPy's traceback, nor grey faces with exit 0).
Tiny untrained bundles from tests.factories."""
from __future__ import annotations

import importlib

import pytest

from tests.factories import make_tiny_bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("bundle") / "b", label_names=["male", "smiling"])


CASES = [
    # (cli, arguments, the option the message names)
    ("gan.generate", ["--n", "2", "--seed", "-5", "--out", "{out}"], "--seed"),
    ("gan.generate", ["--interpolate", "-1", "2", "--out", "{out}.gif"], "--interpolate"),
    ("gan.generate", ["--n", "2", "--truncation", "nan", "--out", "{out}"], "--truncation"),
    ("gan.generate", ["--n", "2", "--truncation", "inf", "--out", "{out}"], "--truncation"),
    ("gan.generate", ["--interpolate", "1", "2", "--truncation", "nan", "--out", "{out}.gif"],
     "--truncation"),
    ("gan.evaluate", ["--seed", "-1", "--out", "{out}"], "--seed"),
    ("gan.evaluate", ["--truncation", "nan", "--out", "{out}"], "--truncation"),
    ("gan.audit", ["sheet", "--seed", "-1", "--out", "{out}"], "--seed"),
    ("gan.audit", ["sheet", "--real-seed", "-1", "--out", "{out}"], "--real-seed"),
    ("gan.audit", ["pair", "--model", "{model}", "--seed", "-1", "--out", "{out}"], "--seed"),
    ("gan.audit", ["pair", "--model", "{model}", "--real-seed", "-2", "--out", "{out}"],
     "--real-seed"),
    ("gan.attributes", ["--seed", "-1", "--out", "{out}"], "--seed"),
    ("gan.attributes", ["--truncation", "nan", "--out", "{out}"], "--truncation"),
    ("gan.attributes", ["--truncation=-inf", "--out", "{out}"], "--truncation"),
]


@pytest.mark.parametrize("cli, args, option", CASES,
                         ids=[f"{c} {' '.join(a[:-2])}" for c, a, _ in CASES])
def test_a_bad_number_is_one_usage_line_naming_the_option(bundle, tmp_path, capsys, cli, args,
                                                          option):
    out = tmp_path / "out"
    argv = [a.format(out=out, model=bundle) for a in args]
    if argv[0] in ("sheet", "pair"):
        argv[1:1] = ["--model", str(bundle)]
    else:
        argv[:0] = ["--model", str(bundle)]
    with pytest.raises(SystemExit) as e:
        importlib.import_module(cli).main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2, err
    assert f"argument {option}" in err and "Traceback" not in err
    assert "whole number from 0" in err or "above 0 and at most 2" in err
    assert not any(tmp_path.iterdir())                                 # nothing written


def test_the_types_take_what_is_good(bundle):
    from gan.cli import seed_number, truncation_number, whole_number

    assert seed_number("0") == 0 and seed_number("123456789") == 123456789
    assert truncation_number("0.5") == 0.5 and truncation_number("2") == 2.0
    assert whole_number(1, 10)("10") == 10
    for bad in ("1.5", "x", ""):
        with pytest.raises(Exception, match="not a whole number"):
            seed_number(bad)
    with pytest.raises(Exception, match="from 1 to 10"):
        whole_number(1, 10)("11")
