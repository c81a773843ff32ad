"""The seed guide's ACLA example with the batteryml package:

    model = ACLAModel(input_dim=20, output_dim=3, hidden_dim=64, augment_dim=20, cnn_filters=[64, 32],
                      solver='dopri5', use_adjoint=True)
    history = Trainer(model, config, tracker).fit(train_samples, val_samples)
    attention_weights = model.explain(x_batch)['attention_weights']

One sequence per cell with the three degradation modes as targets (pipeline latent_ode_seq,
target=modes: LAM_NE, LAM_PE, LLI), trained on the 10 and 40 degC cells of experiment 5 with adjoint-method
gradients, validated at 25 degC; prints the error per mode and the attention the first validation cell's
first step (the one that sets the ODE's initial state) pays to each ageing set. Usage: python3 acla.py"""
import numpy as np
from sklearn.metrics import r2_score

import batteryml
from batteryml.estimators import to_sequences

table = batteryml.features(["pipeline=latent_ode_seq", "pipeline.target=modes", "data.experiment=5"])
seq = to_sequences(table, target=table.attrs["targets"])  # y (cells, T, 3)
train = (seq.meta.temperature_c != 25).to_numpy()
val = ~train

model = batteryml.ACLARegressor(hidden_dim=64, augment_dim=20, cnn_filters1=64, cnn_filters2=32, solver="dopri5",
                                use_adjoint=True, epochs=25, learning_rate=0.005)
model.fit(seq.X[train], seq.y[train], t=seq.t[train], eval_set=[(seq.X[val], seq.y[val], seq.t[val])],
          target_names=table.attrs["targets"])
p = model.predict(seq.X[val], t=seq.t[val])  # (cells, T, 3), NaN at padded steps
real = ~np.isnan(p[:, :, 0])
print("validation (25 degC, %d cells):" % val.sum())
for k, name in enumerate(table.attrs["targets"]):
    yt, yp = seq.y[val][:, :, k][real], p[:, :, k][real]
    print("  %-7s RMSE %.4f  R2 %.3f" % (name, np.sqrt(np.mean((yt - yp) ** 2)), r2_score(yt, yp)))

w = model.attention(seq.X[val], t=seq.t[val])  # (cells, T, T), averaged over the heads
print("attention of cell %s's first step over its ageing sets:" % seq.cells[val.nonzero()[0][0]])
for k in range(seq.lengths[val][0]):
    print("  day %5.0f  %.3f" % (seq.t[val][0, k], w[0, 0, k]))
