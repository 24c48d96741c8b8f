"""Evaluation is a library in gan.metrics; gan.evaluate is only its command line, so
importing the library neither imports the CLI nor changes the process environment."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_library_imports_no_cli_and_sets_no_environment():
    code = ("import os, sys; import gan.metrics.evaluate, gan.metrics.report, gan.data.split; "
            "print('gan.evaluate' in sys.modules, 'TF_CPP_MIN_LOG_LEVEL' in os.environ)")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()
    assert out == ["False", "False"]


def test_the_cli_keeps_its_documented_names():
    import gan.evaluate as cli
    from gan.metrics import evaluate

    assert cli.evaluate_bundle is evaluate.evaluate_bundle and callable(cli.main)
    assert cli.EVAL_DIR == "evaluation"
