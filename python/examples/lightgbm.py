"""The seed guide's LightGBM example with the batteryml package:

    model = LGBMModel(n_estimators=500, learning_rate=0.05, max_depth=6, early_stopping_rounds=50)
    model.fit(X_train, y_train, X_val, y_val, feature_names=pipeline.get_feature_names())
    y_pred = model.predict(X_val); model.feature_importances_

The summary_set features of experiment 5 (one row per cell and ageing set), trained on the 10 and 40 degC
cells, validated (and stopped early) on the 25 degC ones; prints the validation error, the feature
importance and the TreeSHAP values of one prediction.
Usage: python3 lightgbm.py"""
import numpy as np

import batteryml

table = batteryml.features(["data.experiment=5"])  # the pipeline's table, as `batteryml features` writes it
features, target = table.attrs["features"], table.attrs["targets"][0]
train, val = table[table.temperature_c != 25], table[table.temperature_c == 25]

model = batteryml.GBDTRegressor(n_estimators=500, learning_rate=0.05, max_depth=6, early_stopping_rounds=50)
model.fit(train[features], train[target], eval_set=[(val[features], val[target])])
y_pred = model.predict(val[features])
rmse = float(np.sqrt(np.mean((y_pred - val[target].to_numpy()) ** 2)))
print("validation (25 degC, %d samples): RMSE %.4f, R2 %.3f, best iteration %d"
      % (len(val), rmse, model.score(val[features], val[target]), model.best_iteration_[0]))

print("feature importance (total gain, normalised):")
for name, imp in zip(features, model.feature_importances_):
    print(f"  {name:24s} {imp:.3f}")

phi = model.shap_values(val[features].iloc[[-1]])[0]  # the features' contributions, then the bias
print("SHAP of the last validation sample (prediction %.4f = bias %.4f + contributions):" % (y_pred[-1], phi[-1]))
for name, v in zip(features, phi[:-1]):
    print(f"  {name:24s} {v:+.4f}")
