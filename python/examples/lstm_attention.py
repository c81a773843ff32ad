"""The seed guide's LSTM + attention example with the batteryml package:

    model = LSTMAttentionModel(input_dim=5, hidden_dim=64, num_layers=2, num_heads=4, dropout=0.1)
    history = Trainer(model, config, tracker).fit(train_samples, val_samples)
    attention_weights = model.explain(x_batch)

One sequence per cell (pipeline latent_ode_seq: the cell's ageing sets as steps), trained on the 10 and
40 degC cells of experiment 5, validated at 25 degC; prints the validation error over the steps and the
attention of the first validation cell's last step over its ageing sets. Usage: python3 lstm_attention.py"""
import batteryml
from batteryml.estimators import to_sequences

table = batteryml.features(["pipeline=latent_ode_seq", "data.experiment=5"])  # one row per cell and step
seq = to_sequences(table)  # X (cells, T, F) padded with NaN rows, y (cells, T), t (cells, T) in days
train = (seq.meta.temperature_c != 25).to_numpy()
val = ~train

model = batteryml.LSTMAttentionRegressor(hidden_dim=64, num_heads=4, dropout=0.1, epochs=100)
model.fit(seq.X[train], seq.y[train], eval_set=[(seq.X[val], seq.y[val])])
print("validation (25 degC, %d cells x %d steps): R2 %.3f, best epoch %d"
      % (val.sum(), seq.X.shape[1], model.score(seq.X[val], seq.y[val]), model.fit_info_["best_epoch"]))

w = model.attention(seq.X[val])  # (cells, T, T): query step x key step, averaged over the heads
cell = seq.cells[val.nonzero()[0][0]]
print("attention of cell %s, last step, over its ageing sets:" % cell)
last = seq.lengths[val][0] - 1
for k, a in enumerate(w[0, last, :last + 1]):
    print("  set %2d  %.3f" % (k, a))
