"""python/examples/: the seed guide's model examples written with the package, each run as a script from an
empty folder (it must find the library, configurations and data by itself) and its output checked."""
import os
import re
import subprocess
import sys

import pytest

import batteryml

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "examples")

# each example and lines its output must hold
EXPECT = {
    "lightgbm.py": [r"validation \(25 degC, 32 samples\): RMSE 0\.\d+, R2 [-\d.]+, best iteration \d+",
                    r"charge_throughput_ah\s+\d\.\d{3}", r"SHAP of the last validation sample"],
    "mlp.py": [r"best epoch \d+ of \d+", r"validation \(25 degC, 32 samples\): RMSE 0\.\d+",
               r"saved and loaded: predictions identical: True"],
    "lstm_attention.py": [r"validation \(25 degC, 2 cells x 16 steps\): R2", r"set 15  0\.\d{3}"],
    "neural_ode.py": [r"validation \(25 degC, 2 cells\): R2", r"latent trajectory: 16 steps x 32 dimensions"],
    "acla.py": [r"LAM_NE  RMSE", r"LAM_PE  RMSE", r"LLI     RMSE", r"day +338  0\.\d{3}"],
}


def test_every_example_is_tested():
    assert sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".py")) == sorted(EXPECT)


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_example(name, tmp_path):
    if not hasattr(batteryml, "features"):
        pytest.skip("the examples read data with batteryml.features (the package's data module)")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(HERE, "..")] + [os.path.abspath(p) for p in sys.path if p])
    from batteryml._lib import library_path
    if os.sep in library_path:  # the library this process loaded, wherever the example runs from
        env["BATTERYML_LIBRARY"] = os.path.abspath(library_path)
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, name)], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    for pattern in EXPECT[name]:
        assert re.search(pattern, r.stdout), "%s: no line matching %r in:\n%s" % (name, pattern, r.stdout)
    assert "nan" not in r.stdout.lower(), r.stdout
