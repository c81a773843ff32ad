"""The estimators' defaults are the library's: every constructor argument that names a parameter of the model's
registry entry (bml_model_registry_params, what `batteryml list models` prints) defaults to the registry's
default, so that an estimator made with no arguments fits the model `batteryml run model=NAME` fits."""
import inspect

import pytest

import batteryml
from batteryml import estimators
from batteryml._lib import ffi, lib, string


def _registry(model):
    for i in range(lib.bml_model_registry_count()):
        if string(lib.bml_model_registry_name(i)) == model:
            pp = ffi.new("bml_param_info **")
            n = lib.bml_model_registry_params(i, pp)
            return {string(pp[0][k].key): (string(pp[0][k].type), string(pp[0][k].default_value)) for k in range(n)}
    raise AssertionError("no model %s in the registry" % model)


def _same(kind, text, value):
    if kind == "bool":
        return value is (text == "true")
    if kind in ("int", "double"):
        return float(value) == float(text)
    if kind == "list":
        items = [t.strip() for t in text.strip("[]").split(",") if t.strip()]
        return [float(x) for x in value] == [float(x) for x in items]
    return str(value) == text


ESTIMATORS = sorted({c for c in vars(estimators).values()
                     if inspect.isclass(c) and getattr(c, "_model_name", None)}, key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_estimator_defaults_are_the_registry(cls):
    table = _registry(cls._model_name)
    checked = 0
    for name, p in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or name not in table or p.default is inspect.Parameter.empty or p.default is None:
            continue
        kind, text = table[name]
        assert _same(kind, text, p.default), "%s(%s=%r): the library's default is %s" % (cls.__name__, name, p.default, text)
        checked += 1
    assert checked > 0, cls.__name__


def test_a_drifted_default_is_caught():
    """the comparison itself can fail"""
    assert not _same("double", "0.05", 0.1) and not _same("list", "[64, 32]", (64, 16)) and not _same("bool", "true", False)
    assert batteryml is not None
