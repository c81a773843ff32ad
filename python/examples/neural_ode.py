"""The seed guide's neural ODE example with the batteryml package:

    model = NeuralODEModel(input_dim=5, latent_dim=32, hidden_dim=64, solver='dopri5', use_adjoint=True)
    history = Trainer(model, config, tracker).fit(train_samples, val_samples)

A latent ODE over each cell's ageing sets (pipeline latent_ode_seq), solved over the sets' days, trained on
the 10 and 40 degC cells of experiment 5 with adjoint-method gradients, validated at 25 degC; prints the
validation error, the predicted fade of one cell and the size of its latent trajectory.
Usage: python3 neural_ode.py"""
import numpy as np

import batteryml
from batteryml.estimators import to_sequences

table = batteryml.features(["pipeline=latent_ode_seq", "data.experiment=5"])
seq = to_sequences(table)  # t: the steps' days, which the ODE is solved over
train = (seq.meta.temperature_c != 25).to_numpy()
val = ~train

model = batteryml.NeuralODERegressor(latent_dim=32, hidden_dim=64, solver="dopri5", use_adjoint=True,
                                     epochs=60, learning_rate=0.01)
model.fit(seq.X[train], seq.y[train], t=seq.t[train], eval_set=[(seq.X[val], seq.y[val], seq.t[val])])
print("validation (25 degC, %d cells): R2 %.3f after %d epochs (solver: %d function evaluations per forward pass)"
      % (val.sum(), model.score(seq.X[val], seq.y[val], t=seq.t[val]), model.fit_info_["epochs_run"],
         model.fit_info_["nfe_forward_last"]))

i = val.nonzero()[0][0]
p = model.predict(seq.X[[i]], t=seq.t[[i]])[0]
print("cell %s: day, measured SOH, predicted SOH" % seq.cells[i])
for k in range(0, seq.lengths[i], 3):
    print("  %5.0f  %.4f  %.4f" % (seq.t[i, k], seq.y[i, k], p[k]))
z = model.latent(seq.X[[i]], t=seq.t[[i]])[0]
print("latent trajectory: %d steps x %d dimensions, |z| from %.2f to %.2f"
      % (z.shape[0], z.shape[1], np.linalg.norm(z[0]), np.linalg.norm(z[seq.lengths[i] - 1])))
