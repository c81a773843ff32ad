"""BatteryML-C from Python: the same studies, data loaders, features and models as the `batteryml` program,
over the shared library libbatteryml.so.0 (cffi, ABI mode).

    import batteryml
    run = batteryml.run(["model=mlp", "split=loco"])     # the study `batteryml run model=mlp split=loco` runs
    run.metrics["overall"], run.predictions, run.figures
    batteryml.load_run(run.dir).predict("data/oxford-lgm50t")

Errors raise batteryml.Error (a ValueError) carrying the library's message.
"""
from ._lib import Error
Error.__module__ = __name__  # shown as batteryml.Error
from .run import run, load_run, Run, config_dir
from .data import load_oxford, features, ica_features

from .estimators import (GBDTRegressor, MLPRegressor, LSTMAttentionRegressor, CNNLSTMRegressor,
                         NeuralODERegressor, ACLARegressor, load_model)

__version__ = "0.1.0"
__all__ = ["Error", "run", "load_run", "Run", "config_dir", "load_oxford", "features", "ica_features",
           "GBDTRegressor", "MLPRegressor", "LSTMAttentionRegressor", "CNNLSTMRegressor", "NeuralODERegressor",
           "ACLARegressor", "load_model"]
