#!/usr/bin/python3
"""PyTorch reference tensors for the neural-network core (tests/test_nn.c).

Regenerate (Debian: apt-get install python3-torch):
    /usr/bin/python3 tools/gen_torch_reference.py tests/data/torch

Each case is one file of named float32 tensors in the format tests/test_nn.c reads:
    b"BMLT", u32 version (1), u32 count, then per tensor: u32 name length, name (UTF-8),
    u32 ndim, u32 dims[ndim], float32 data (row-major, little-endian).
Inputs, weights, outputs and every gradient are stored, so the C side runs the same computation on the
same numbers and compares.
"""
import os
import struct
import sys

import torch

torch.set_num_threads(1)


def write(path, tensors):
    with open(path, "wb") as f:
        f.write(b"BMLT")
        f.write(struct.pack("<II", 1, len(tensors)))
        for name, t in tensors:
            t = t.detach().to(torch.float32).contiguous()
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)))
            f.write(nb)
            f.write(struct.pack("<I", t.dim()))
            f.write(struct.pack("<%dI" % t.dim(), *t.shape))
            f.write(t.numpy().astype("<f4").tobytes())


def linear_case(out):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 5, generator=g, requires_grad=True)
    lin = torch.nn.Linear(5, 3)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(3, 5, generator=g))
        lin.bias.copy_(torch.randn(3, generator=g))
    dout = torch.randn(4, 3, generator=g)
    y = lin(x)
    y.backward(dout)
    write(os.path.join(out, "linear.bin"), [("x", x), ("w", lin.weight), ("b", lin.bias), ("dout", dout), ("out", y),
                                           ("dx", x.grad), ("dw", lin.weight.grad), ("db", lin.bias.grad)])


def layernorm_case(out):
    g = torch.Generator().manual_seed(2)
    x = (3 * torch.randn(4, 6, generator=g) + 1).requires_grad_(True)
    ln = torch.nn.LayerNorm(6)
    with torch.no_grad():
        ln.weight.copy_(torch.randn(6, generator=g))
        ln.bias.copy_(torch.randn(6, generator=g))
    dout = torch.randn(4, 6, generator=g)
    y = ln(x)
    y.backward(dout)
    write(os.path.join(out, "layernorm.bin"), [("x", x), ("w", ln.weight), ("b", ln.bias), ("dout", dout), ("out", y),
                                              ("dx", x.grad), ("dw", ln.weight.grad), ("db", ln.bias.grad)])


def activation_case(out):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(20, generator=g, requires_grad=True)
    dout = torch.randn(20, generator=g)
    r = torch.relu(x)
    r.backward(dout)
    dr = x.grad.clone()
    x.grad = None
    t = torch.tanh(x)
    t.backward(dout)
    write(os.path.join(out, "activations.bin"), [("x", x), ("dout", dout), ("relu", r), ("drelu", dr), ("tanh", t),
                                                ("dtanh", x.grad)])


def mlp_case(out, name, dims, act):
    g = torch.Generator().manual_seed(4 + len(dims))
    layers = []
    for i in range(len(dims) - 1):
        layers.append(torch.nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers.append(torch.nn.ReLU() if act == "relu" else torch.nn.Tanh())
            layers.append(torch.nn.Dropout(0.1))
    net = torch.nn.Sequential(*layers).eval()  # eval: dropout off (its random stream is not PyTorch's)
    lins = [m for m in net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for lin in lins:
            lin.weight.copy_(0.5 * torch.randn(lin.weight.shape, generator=g))
            lin.bias.copy_(0.1 * torch.randn(lin.bias.shape, generator=g))
    x = torch.randn(8, dims[0], generator=g, requires_grad=True)
    y = torch.randn(8, dims[-1], generator=g)
    pred = net(x)
    loss = torch.nn.functional.mse_loss(pred, y)
    loss.backward()
    t = [("x", x), ("y", y), ("out", pred), ("loss", loss.reshape(1)), ("dx", x.grad)]
    for i, lin in enumerate(lins):
        t += [("w%d" % i, lin.weight), ("b%d" % i, lin.bias), ("dw%d" % i, lin.weight.grad), ("db%d" % i, lin.bias.grad)]
    write(os.path.join(out, name + ".bin"), t)


def loss_case(out):
    g = torch.Generator().manual_seed(5)
    pred = torch.randn(12, generator=g, requires_grad=True)
    y = torch.randn(12, generator=g)
    t = [("pred", pred), ("y", y)]
    fns = {
        "mse": lambda p: torch.nn.functional.mse_loss(p, y),
        "mae": lambda p: torch.nn.functional.l1_loss(p, y),
        "huber": lambda p: torch.nn.functional.huber_loss(p, y, delta=0.5),
        "mape": lambda p: 100 * torch.mean(torch.abs(p - y) / (torch.abs(y) + 1e-8)),
    }
    for name, fn in fns.items():
        pred.grad = None
        loss = fn(pred)
        loss.backward()
        t += [(name, loss.reshape(1)), ("d" + name, pred.grad.clone())]
    write(os.path.join(out, "losses.bin"), t)


def physics_case(out):
    """physics_informed (SPEC 7): MSE + w_m mean ReLU(p[t+1] - p[t]) + w_s mean (p[t+1] - 2 p[t] + p[t-1])^2
    over unpadded steps; two sequences of 5 steps x 2 outputs, the second padded after 3 steps."""
    g = torch.Generator().manual_seed(12)
    B, T, O = 2, 5, 2
    pred = torch.randn(B, T, O, generator=g, requires_grad=True)
    y = torch.randn(B, T, O, generator=g)
    mask = torch.ones(B, T, O)
    mask[1, 3:] = 0
    valid = mask > 0
    mse = ((pred - y) ** 2)[valid].mean()
    pair = (mask[:, 1:] * mask[:, :-1]) > 0
    mono = torch.relu(pred[:, 1:] - pred[:, :-1])[pair].mean()
    trip = (mask[:, 2:] * mask[:, 1:-1] * mask[:, :-2]) > 0
    smooth = ((pred[:, 2:] - 2 * pred[:, 1:-1] + pred[:, :-2]) ** 2)[trip].mean()
    loss = mse + 0.3 * mono + 0.2 * smooth
    loss.backward()
    write(os.path.join(out, "physics.bin"), [("pred", pred), ("y", y), ("mask", mask), ("loss", loss.reshape(1)),
                                            ("dpred", pred.grad)])


def optim_case(out):
    g = torch.Generator().manual_seed(6)
    p = torch.nn.Parameter(torch.randn(10, generator=g))
    t = [("p0", p.detach().clone())]
    opt = torch.optim.AdamW([p], lr=1e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=50, T_mult=2)
    grads = []
    for step in range(6):
        gr = torch.randn(10, generator=g)
        grads.append(gr)
        p.grad = gr.clone()
        opt.step()
        t.append(("p%d" % (step + 1), p.detach().clone()))
    t.append(("grads", torch.stack(grads)))
    lrs = []
    for epoch in range(400):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    t.append(("lrs", torch.tensor(lrs, dtype=torch.float64)))
    # clip_grad_norm_ over three tensors
    a = torch.nn.Parameter(torch.zeros(3))
    b = torch.nn.Parameter(torch.zeros(2, 2))
    c = torch.nn.Parameter(torch.zeros(4))
    ga, gb, gc = torch.randn(3, generator=g), torch.randn(2, 2, generator=g), torch.randn(4, generator=g)
    a.grad, b.grad, c.grad = ga.clone(), gb.clone(), gc.clone()
    norm = torch.nn.utils.clip_grad_norm_([a, b, c], 1.0)
    t += [("clip_in", torch.cat([ga, gb.flatten(), gc])), ("clip_out", torch.cat([a.grad, b.grad.flatten(), c.grad])),
          ("clip_norm", norm.reshape(1))]
    write(os.path.join(out, "optim.bin"), t)


def lstm_case(out):
    """Bidirectional one-layer LSTM over padded sequences (packed, as lengths differ)."""
    g = torch.Generator().manual_seed(7)
    B, T, C, H = 3, 6, 4, 5
    lengths = torch.tensor([6, 4, 2])
    lstm = torch.nn.LSTM(C, H, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for p in lstm.parameters():
            p.copy_(0.4 * torch.randn(p.shape, generator=g))
    x = torch.randn(B, T, C, generator=g)
    for b in range(B):
        x[b, lengths[b]:] = 0
    x.requires_grad_(True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    y, _ = lstm(packed)
    y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=T)
    dout = torch.randn(B, T, 2 * H, generator=g)
    for b in range(B):
        dout[b, lengths[b]:] = 0
    y.backward(dout)
    t = [("x", x), ("len", lengths.float()), ("dout", dout), ("out", y), ("dx", x.grad)]
    for name, p in lstm.named_parameters():
        t += [(name, p), ("d" + name, p.grad)]
    write(os.path.join(out, "lstm.bin"), t)


def mha_case(out):
    g = torch.Generator().manual_seed(8)
    B, T, D, nh = 2, 5, 8, 2
    lengths = [5, 3]
    mha = torch.nn.MultiheadAttention(D, nh, batch_first=True, dropout=0.0)
    with torch.no_grad():
        for p in mha.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
    x = torch.randn(B, T, D, generator=g, requires_grad=True)
    kpm = torch.tensor([[t >= lengths[b] for t in range(T)] for b in range(B)])
    y, w = mha(x, x, x, key_padding_mask=kpm, need_weights=True, average_attn_weights=True)
    dout = torch.randn(B, T, D, generator=g)
    y.backward(dout)
    write(os.path.join(out, "mha.bin"), [
        ("x", x), ("len", torch.tensor(lengths, dtype=torch.float32)), ("dout", dout), ("out", y), ("weights", w),
        ("dx", x.grad), ("w_in", mha.in_proj_weight), ("b_in", mha.in_proj_bias), ("w_out", mha.out_proj.weight),
        ("b_out", mha.out_proj.bias), ("dw_in", mha.in_proj_weight.grad), ("db_in", mha.in_proj_bias.grad),
        ("dw_out", mha.out_proj.weight.grad), ("db_out", mha.out_proj.bias.grad)])


def conv_bn_case(out):
    g = torch.Generator().manual_seed(9)
    N, Cin, Cout, L = 2, 3, 4, 5
    conv = torch.nn.Conv1d(Cin, Cout, 3, padding=1)
    bn = torch.nn.BatchNorm1d(Cout)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g))
        conv.bias.copy_(torch.randn(Cout, generator=g))
        bn.weight.copy_(torch.randn(Cout, generator=g))
        bn.bias.copy_(torch.randn(Cout, generator=g))
    bn.train()
    x = torch.randn(N, Cin, L, generator=g, requires_grad=True)
    c = conv(x)
    c.retain_grad()
    y = bn(c)
    dout = torch.randn(N, Cout, L, generator=g)
    y.backward(dout)
    write(os.path.join(out, "conv_bn.bin"), [
        ("x", x), ("conv_w", conv.weight), ("conv_b", conv.bias), ("bn_w", bn.weight), ("bn_b", bn.bias),
        ("conv_out", c), ("out", y), ("dout", dout), ("dx", x.grad), ("dconv_out", c.grad),
        ("dconv_w", conv.weight.grad), ("dconv_b", conv.bias.grad), ("dbn_w", bn.weight.grad), ("dbn_b", bn.bias.grad),
        ("run_mean", bn.running_mean), ("run_var", bn.running_var)])


def seq_model_case(out, name, cnn, B=3):
    """The peer's LSTMAttn / CNNLSTM (../shared/bench-peer/models.py) with dropout 0, in training mode
    (BatchNorm on batch statistics), full-length sequences: output, MSE loss and every gradient. B = 50 is a
    batch that the C network runs as three data-parallel shards (16, 17 and 17 sequences)."""
    g = torch.Generator().manual_seed(10 + cnn)
    T, F, O, H = 6, 5, 2, 8
    if cnn:
        front = torch.nn.Sequential(torch.nn.Conv1d(1, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.BatchNorm1d(64),
                                    torch.nn.Conv1d(64, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.BatchNorm1d(32))
    lstm = torch.nn.LSTM(32 if cnn else F, H, num_layers=2, batch_first=True, bidirectional=True, dropout=0.0)
    attn = torch.nn.MultiheadAttention(2 * H, 4, dropout=0.0, batch_first=True)
    norm = torch.nn.LayerNorm(2 * H)
    head = torch.nn.Sequential(torch.nn.Linear(2 * H, 64), torch.nn.ReLU(), torch.nn.Dropout(0.0), torch.nn.Linear(64, O))
    named = []
    if cnn:
        named += [("cnn." + k, p) for k, p in front.named_parameters()]
    named += [("lstm." + k, p) for k, p in lstm.named_parameters()]
    named += [("attn." + k, p) for k, p in attn.named_parameters()]
    named += [("norm." + k, p) for k, p in norm.named_parameters()]
    named += [("head." + k, p) for k, p in head.named_parameters()]
    with torch.no_grad():
        for _, p in named:
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    x = torch.randn(B, T, F, generator=g)
    y = torch.randn(B, T, O, generator=g)
    if cnn:
        c = front(x.reshape(B * T, 1, F)).mean(dim=2).reshape(B, T, 32)
    else:
        c = x
    h, _ = lstm(c)
    a, _ = attn(h, h, h, need_weights=False)
    pred = head(norm(a + h))
    loss = torch.nn.functional.mse_loss(pred, y)
    loss.backward()
    t = [("x", x), ("y", y), ("out", pred), ("loss", loss.reshape(1))]
    for k, p in named:
        t += [(k, p), ("d" + k, p.grad)]
    if cnn:
        t += [("bn1_running_mean", front[2].running_mean), ("bn1_running_var", front[2].running_var),
              ("bn2_running_mean", front[5].running_mean), ("bn2_running_var", front[5].running_var)]
    write(os.path.join(out, name + ".bin"), t)


def acla_case(out):
    """The peer's ACLA (../shared/bench-peer/models.py) with attention dropout 0 and small widths, the
    CNN-LSTM run over every step as there; the ODE solved with torchdiffeq's fixed-grid rk4 (3/8 rule)
    written out here (torchdiffeq is not in Debian) over the union of the samples' shifted step times, each
    sample read at its own times: output, MSE loss and every gradient."""
    g = torch.Generator().manual_seed(20)
    B, T, F, O, A, heads, c1, c2, H, Z, aug, M = 3, 5, 6, 2, 8, 2, 4, 3, 5, 4, 2, 7
    D = Z + aug
    proj_in = torch.nn.Linear(F, A)
    attn = torch.nn.MultiheadAttention(A, heads, dropout=0.0, batch_first=True)
    proj_out = torch.nn.Linear(A, F)
    norm = torch.nn.LayerNorm(F)
    cnn = torch.nn.Sequential(torch.nn.Conv1d(1, c1, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv1d(c1, c2, 3, padding=1), torch.nn.ReLU())
    lstm = torch.nn.LSTM(c2, H, num_layers=1, batch_first=True)
    to_z0 = torch.nn.Linear(H, Z)
    func = torch.nn.Sequential(torch.nn.Linear(D + 1, M), torch.nn.Tanh(), torch.nn.Linear(M, M), torch.nn.Tanh(),
                               torch.nn.Linear(M, D))
    readout = torch.nn.Linear(D, O)
    mods = [("proj_in", proj_in), ("attn", attn), ("proj_out", proj_out), ("norm", norm), ("cnn", cnn), ("lstm", lstm),
            ("to_z0", to_z0), ("func.net", func), ("readout", readout)]
    named = [(m + "." + k, p) for m, mod in mods for k, p in mod.named_parameters()]
    with torch.no_grad():
        for _, p in named:
            p.copy_(0.4 * torch.randn(p.shape, generator=g))
    x = torch.randn(B, T, F, generator=g)
    y = torch.randn(B, T, O, generator=g)
    t = torch.cumsum(0.05 + 0.3 * torch.rand(B, T, generator=g), dim=1)   # each sample its own times
    tau = (t - t[:, :1]).double()
    grid = torch.unique(torch.cat([tau.reshape(-1), torch.zeros(1, dtype=torch.float64)]))  # sorted
    p = proj_in(x)
    a, _ = attn(p, p, p, need_weights=False)
    u = norm(proj_out(a) + x)
    c = cnn(u.reshape(B * T, 1, F)).mean(dim=2).reshape(B, T, c2)
    enc, _ = lstm(c)
    z0 = to_z0(enc[:, 0, :])
    yk = torch.cat([z0, z0.new_zeros(B, aug)], dim=-1)

    def f(tt, yy):
        return func(torch.cat([yy, torch.full((B, 1), float(tt))], dim=-1))
    sol = [yk]
    for k in range(len(grid) - 1):
        t0, dt = float(grid[k]), float(grid[k + 1] - grid[k])
        k1 = f(t0, yk)
        k2 = f(t0 + dt / 3, yk + dt * k1 / 3)
        k3 = f(t0 + dt * 2 / 3, yk + dt * (k2 - k1 / 3))
        k4 = f(t0 + dt, yk + dt * (k1 - k2 + k3))
        yk = yk + dt * (k1 + 3 * (k2 + k3) + k4) * 0.125
        sol.append(yk)
    sol = torch.stack(sol)                                                # (K, B, D)
    idx = torch.searchsorted(grid, tau)                                   # (B, T)
    ys = torch.stack([sol[idx[b], b] for b in range(B)])                  # (B, T, D)
    pred = readout(ys)
    loss = torch.nn.functional.mse_loss(pred, y)
    loss.backward()
    out_t = [("x", x), ("t", t), ("y", y), ("out", pred), ("loss", loss.reshape(1)), ("latent", ys)]
    for k, p in named:
        out_t += [(k, p), ("d" + k, p.grad)]
    write(os.path.join(out, "acla.bin"), out_t)


def main(out):
    os.makedirs(out, exist_ok=True)
    linear_case(out)
    layernorm_case(out)
    activation_case(out)
    mlp_case(out, "mlp_relu", [7, 64, 32, 3], "relu")
    mlp_case(out, "mlp_tanh", [5, 16, 2], "tanh")
    loss_case(out)
    optim_case(out)
    physics_case(out)
    lstm_case(out)
    mha_case(out)
    conv_bn_case(out)
    seq_model_case(out, "lstm_attn", 0)
    seq_model_case(out, "cnn_lstm", 1)
    seq_model_case(out, "lstm_attn_b50", 0, 50)
    seq_model_case(out, "cnn_lstm_b50", 1, 50)
    acla_case(out)
    print("torch", torch.__version__, "->", out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/torch")
