"""Help and types: every public function and class of the package has a numpydoc docstring (Parameters naming
every parameter, Returns, Raises, Examples; classes Parameters and Examples), every public method and property
its Parameters and Returns; the package ships py.typed and its public functions carry type hints."""
import inspect
import os
import re
import sys

import pytest

import batteryml
import batteryml.components
import batteryml.cycler
import batteryml.data
import batteryml.estimators
import batteryml.plot
import batteryml.sweep

# batteryml.run and batteryml.sweep are the functions; the modules are in sys.modules
MODULES = [batteryml, batteryml.components, batteryml.estimators, batteryml.plot, batteryml.cycler,
           sys.modules["batteryml.sweep"],
           sys.modules["batteryml.run"], batteryml.data]


def _public():
    seen = {}
    for mod in MODULES:
        for name in mod.__all__:
            obj = getattr(mod, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue  # modules, constant tables
            seen.setdefault(id(obj), ("%s.%s" % (mod.__name__, name), obj))
    return sorted(seen.values(), key=lambda t: t[0])


PUBLIC = _public()


def _sections(doc):
    """{section title: its text} of a numpydoc docstring."""
    out, title, buf = {}, "", []
    lines = doc.splitlines()
    i = 0
    while i < len(lines):
        if i + 1 < len(lines) and lines[i].strip() and re.fullmatch(r"\s*-{3,}\s*", lines[i + 1]):
            out[title] = "\n".join(buf)
            title, buf = lines[i].strip(), []
            i += 2
            continue
        buf.append(lines[i])
        i += 1
    out[title] = "\n".join(buf)
    return out


def _params(fn, skip_first):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    names = []
    for k, p in enumerate(sig.parameters.values()):
        if k == 0 and skip_first:
            continue
        names.append(("**" if p.kind == p.VAR_KEYWORD else "*" if p.kind == p.VAR_POSITIONAL else "") + p.name)
    return names


def _check_params(where, doc, names, problems):
    sec = _sections(doc)
    if names and "Parameters" not in sec:
        problems.append("%s: no Parameters section" % where)
        return
    text = sec.get("Parameters", "")
    documented = set()
    for line in text.splitlines():
        m = re.match(r"\s*(\*{0,2}[A-Za-z_][A-Za-z0-9_]*(?:\s*,\s*\*{0,2}[A-Za-z_][A-Za-z0-9_]*)*)\s*(:|$)", line)
        if m and not line.startswith(" " * 8):
            documented.update(n.strip() for n in m.group(1).split(","))
    for n in names:
        if n not in documented and n.lstrip("*") not in documented:
            problems.append("%s: parameter %s not in its Parameters section" % (where, n))


def _own_members(cls):
    """Public methods and properties a class of this package defines (not scikit-learn's, not tuple's)."""
    for klass in cls.__mro__:
        if not klass.__module__.startswith("batteryml"):
            continue
        for name, member in vars(klass).items():
            if name.startswith("_"):
                continue
            if isinstance(member, (classmethod, staticmethod)):
                member = member.__func__
            if inspect.isfunction(member) or isinstance(member, property):
                yield name, getattr(cls, name) if not isinstance(member, property) else member


def test_every_public_callable_has_a_numpydoc_docstring():
    problems = []
    for where, obj in PUBLIC:
        doc = inspect.getdoc(obj)
        if not doc:
            problems.append("%s: no docstring" % where)
            continue
        sec = _sections(doc)
        if inspect.isclass(obj):
            init = obj.__init__ if "__init__" in vars(obj) or issubclass(obj, tuple) else None
            names = _params(obj, False) if init is not None or issubclass(obj, tuple) else []
            _check_params(where, doc, names, problems)
            if "Examples" not in sec:
                problems.append("%s: no Examples section" % where)
            for mname, member in _own_members(obj):
                mwhere = "%s.%s" % (where, mname)
                if isinstance(member, property):
                    mdoc = inspect.getdoc(member.fget) or ""
                    if "Returns" not in _sections(mdoc):
                        problems.append("%s: property without a Returns section" % mwhere)
                    continue
                mdoc = inspect.getdoc(member) or ""
                if not mdoc:
                    problems.append("%s: no docstring" % mwhere)
                    continue
                _check_params(mwhere, mdoc, _params(member, not isinstance(vars(obj).get(mname), staticmethod)),
                              problems)
                if "Returns" not in _sections(mdoc):
                    problems.append("%s: no Returns section" % mwhere)
        else:
            _check_params(where, doc, _params(obj, False), problems)
            for s in ("Returns", "Raises", "Examples"):
                if s not in sec:
                    problems.append("%s: no %s section" % (where, s))
    assert not problems, "\n".join(problems)


def test_sequence_estimators_have_docstrings():
    """issue 23: the class body began with "..." + _TRAIN_DOC, which is not a docstring (__doc__ was None)."""
    for name in ("LSTMAttentionRegressor", "CNNLSTMRegressor", "NeuralODERegressor", "ACLARegressor"):
        assert getattr(batteryml, name).__doc__, name


def test_estimator_parameters_come_from_the_library():
    """The estimators' Parameters sections carry the library's own help and defaults (bml_model_registry_params)."""
    doc = batteryml.MLPRegressor.__doc__
    assert "AdamW learning rate" in doc and "hidden_dims : " in doc
    assert "early-stopping patience" in batteryml.LSTMAttentionRegressor.__doc__


def test_py_typed_is_shipped_and_functions_are_annotated():
    here = os.path.dirname(batteryml.__file__)
    assert os.path.isfile(os.path.join(here, "py.typed"))
    missing = []
    for where, obj in PUBLIC:
        fns = [obj] if inspect.isfunction(obj) else [m for _, m in _own_members(obj) if inspect.isfunction(m)] \
            if inspect.isclass(obj) else []
        for fn in fns:
            ann = getattr(fn, "__annotations__", {})
            if "return" not in ann:
                missing.append("%s.%s" % (where, fn.__name__) if fn is not obj else where)
    assert not missing, "no return annotation: " + ", ".join(missing)


@pytest.mark.parametrize("mod", MODULES, ids=lambda m: m.__name__)
def test_all_names_exist(mod):
    for name in mod.__all__:
        assert hasattr(mod, name), name
