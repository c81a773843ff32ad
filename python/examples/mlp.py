"""The seed guide's MLP example with the batteryml package:

    model = MLPModel(input_dim=15, hidden_dims=[64, 32], dropout=0.1, output_dim=1)
    history = Trainer(model, config, tracker).fit(train_samples, val_samples)

The summary_set features of experiment 5, trained on the 10 and 40 degC cells with early stopping on the
25 degC ones (inputs imputed and standardised with training statistics, as `batteryml run` does); prints
the training history's last epochs and the validation error, and shows that the saved model predicts the
same after loading. Usage: python3 mlp.py"""
import os
import tempfile

import numpy as np

import batteryml

table = batteryml.features(["data.experiment=5"])
features, target = table.attrs["features"], table.attrs["targets"][0]
train, val = table[table.temperature_c != 25], table[table.temperature_c == 25]

model = batteryml.MLPRegressor(hidden_dims=(64, 32), dropout=0.1, activation="relu", epochs=200, patience=20)
model.fit(train[features], train[target], eval_set=[(val[features], val[target])])
print(model.history_.tail(3).to_string(index=False))
print("best epoch %d of %d" % (model.fit_info_["best_epoch"], model.fit_info_["epochs_run"]))
y_pred = model.predict(val[features])
print("validation (25 degC, %d samples): RMSE %.4f, R2 %.3f"
      % (len(val), np.sqrt(np.mean((y_pred - val[target].to_numpy()) ** 2)), model.score(val[features], val[target])))

with tempfile.TemporaryDirectory() as d:
    model.save(os.path.join(d, "model"))  # the library's format: what `batteryml run` writes as <run>/model
    again = batteryml.load_model(os.path.join(d, "model"))
    print("saved and loaded: predictions identical:", bool((again.predict(val[features]) == y_pred).all()))
