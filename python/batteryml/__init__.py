"""BatteryML-C from Python: the same studies, data loaders, features and models as the `batteryml` program,
over the shared library libbatteryml.so.0 (cffi, ABI mode).

    import batteryml
    run = batteryml.run(["model=mlp", "split=loco"])     # the study `batteryml run model=mlp split=loco` runs
    run.metrics["overall"], run.predictions, run.figures
    batteryml.load_run(run.dir).predict("data/oxford-lgm50t")
    batteryml.sweep(["model=ridge,lasso"]).table                 # `batteryml run -m model=ridge,lasso`
    batteryml.lr_find(["model=mlp"]).suggestion                   # `batteryml lr-find model=mlp`
    batteryml.read_cycler(path), batteryml.structure(path, out=)  # cycler exports
    batteryml.compare([run_a, run_b])                             # `batteryml compare` as a DataFrame

Errors raise batteryml.Error (a ValueError) carrying the library's message.
"""
from ._lib import Error
Error.__module__ = __name__  # shown as batteryml.Error
from .run import run, load_run, Run, config_dir
from .data import load_oxford, features, ica_features
from .sweep import sweep, Sweep, lr_find, LRFind, compare
from .cycler import read_cycler, structure, Structure
from .components import list_components
from . import plot

# The estimators (scikit-learn's interface) are imported on first use: `import batteryml` for a study does
# not pay for importing scikit-learn (about half a second). `from batteryml import GBDTRegressor` works as usual.
_ESTIMATORS = ("GBDTRegressor", "MLPRegressor", "OLSRegressor", "RidgeRegressor", "LassoRegressor",
               "ElasticNetRegressor", "ElasticNetCVRegressor", "PLSRegressor", "PCRRegressor", "LSTMAttentionRegressor",
               "CNNLSTMRegressor", "NeuralODERegressor", "ACLARegressor", "load_model")


def __getattr__(name):
    if name in _ESTIMATORS:
        from . import estimators
        value = getattr(estimators, name)
        globals()[name] = value
        return value
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def __dir__():
    return sorted(set(globals()) | set(_ESTIMATORS))

__version__ = "0.1.0"
__all__ = ["Error", "run", "load_run", "Run", "config_dir", "load_oxford", "features", "ica_features",
           "sweep", "Sweep", "lr_find", "LRFind", "compare", "read_cycler", "structure", "Structure", "plot",
           "list_components",
           "GBDTRegressor", "MLPRegressor", "OLSRegressor", "RidgeRegressor", "LassoRegressor", "ElasticNetRegressor",
           "ElasticNetCVRegressor", "PLSRegressor", "PCRRegressor", "LSTMAttentionRegressor", "CNNLSTMRegressor",
           "NeuralODERegressor", "ACLARegressor", "load_model"]
