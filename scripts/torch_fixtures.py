"""Reference values for funnel-train from PyTorch (PyPI `torch`, CPU, float64 maths on the
same float32 inputs): an MLP's loss and gradients, one step of every optimiser, the GELU
(tanh) activation, softmax cross-entropy, the logQ-corrected sampled softmax, and DCN-V2's
cross network (full-rank layers and the mixture of low-rank experts), DIN's activation
unit, and a GRU over rows of different lengths.

    python3 -m venv .venv-torch && .venv-torch/bin/pip install torch numpy
    .venv-torch/bin/python scripts/torch_fixtures.py          # writes the fixture
    .venv-torch/bin/python scripts/torch_fixtures.py --check  # recomputes and compares

Writes crates/train/tests/fixtures/torch.json, read by crates/train/tests/torch.rs.
Inputs are drawn here (numpy, seed 0) and stored in the file, so Rust needs no RNG of
numpy's. The reference maths run in float64 from the float32 inputs, so the fixture is
the exact answer and Funnel's float32 result is checked against it to 1e-5.
"""
import json, os, sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "train", "tests", "fixtures", "torch.json")
rng = np.random.default_rng(0)


def f32(shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def t(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def flat(x):
    return [float(v) for v in np.asarray(x.detach() if torch.is_tensor(x) else x, dtype=np.float64).ravel()]


fx = {}

# --- MLP 12 -> 16 -> 8 -> 1 (ReLU), BCE with logits and sample weights, batch 6 ---------
sizes = [12, 16, 8, 1]
x = f32((6, 12))
y = (rng.random(6) < 0.5).astype(np.float32)
w = (0.5 + rng.random(6)).astype(np.float32)
Ws = [f32((o, i), (2.0 / i) ** 0.5) for i, o in zip(sizes[:-1], sizes[1:])]
bs = [f32((o,), 0.1) for o in sizes[1:]]
xt = t(x, True)
params = [(t(W, True), t(b, True)) for W, b in zip(Ws, bs)]
h = xt
for k, (W, b) in enumerate(params):
    h = h @ W.T + b
    if k < len(params) - 1:
        h = torch.relu(h)
loss = torch.nn.functional.binary_cross_entropy_with_logits(h.squeeze(1), t(y), weight=t(w))
loss.backward()
fx["mlp"] = {
    "sizes": sizes,
    "x": flat(x), "y": flat(y), "w": flat(w),
    "weights": [flat(W) for W in Ws], "biases": [flat(b) for b in bs],
    "loss": loss.item(),
    "grad_x": flat(xt.grad),
    "grad_weights": [flat(W.grad) for W, _ in params],
    "grad_biases": [flat(b.grad) for _, b in params],
}

# --- optimisers: three steps on one parameter with given gradients -----------------------
p0 = f32(10)
grads = [f32(10) for _ in range(3)]
opts = {
    "sgd": lambda p: torch.optim.SGD([p], lr=0.1),
    "momentum": lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9),
    "nesterov": lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True),
    "adagrad": lambda p: torch.optim.Adagrad([p], lr=0.1),
    "rmsprop": lambda p: torch.optim.RMSprop([p], lr=0.01),
    "adam": lambda p: torch.optim.Adam([p], lr=0.01, weight_decay=0.1),
    "adamw": lambda p: torch.optim.AdamW([p], lr=0.01, weight_decay=0.1),
    "amsgrad": lambda p: torch.optim.Adam([p], lr=0.01, amsgrad=True),
}
fx["optimizers"] = {"p0": flat(p0), "grads": [flat(g) for g in grads], "after": {}}
for name, make in opts.items():
    p = t(p0, True)
    o = make(p)
    for g in grads:
        o.zero_grad()
        p.grad = t(g)
        o.step()
    g = o.param_groups[0]
    fx["optimizers"]["after"][name] = {"lr": g["lr"], "weight_decay": g["weight_decay"], "p": flat(p)}

# --- GELU (tanh approximation) and its derivative ----------------------------------------
z = f32(20, 2.0)
zt = t(z, True)
g = torch.nn.functional.gelu(zt, approximate="tanh")
g.sum().backward()
fx["gelu"] = {"x": flat(z), "y": flat(g), "dy": flat(zt.grad)}

# --- softmax cross-entropy and sampled softmax with logQ ---------------------------------
logits = f32((4, 6), 2.0)
targets = [5, 0, 2, 3]
lt = t(logits, True)
ce = torch.nn.functional.cross_entropy(lt, torch.tensor(targets))
ce.backward()
logq = np.log(rng.uniform(0.01, 0.5, (4, 6))).astype(np.float32)
lt2 = t(logits, True)
ss = torch.nn.functional.cross_entropy(lt2 - t(logq), torch.zeros(4, dtype=torch.long))
ss.backward()
fx["softmax"] = {
    "logits": flat(logits), "rows": 4, "cols": 6, "targets": targets,
    "loss": ce.item(), "grad": flat(lt.grad),
    "log_q": flat(logq), "sampled_loss": ss.item(), "sampled_grad": flat(lt2.grad),
}

# --- DCN-V2 cross networks: full-rank layers, and a mixture of low-rank experts ---------
# Parameters are listed in the order CrossNet::params_mut gives them: per full layer W
# (d x d, PyTorch's out x in) then b; per mixture layer, per expert V^T (r x d), C (r x r),
# U (d x r), the gate (1 x d), then the layer's shared bias. Loss: sum(r * output).
def cross_case(d, rows, layers, rank, experts):
    x0 = f32((rows, d))
    probe = f32((rows, d))
    flat_params = []
    x0t = t(x0, True)
    x = x0t
    for _ in range(layers):
        if rank == 0:
            W, b = t(f32((d, d), 0.4), True), t(f32(d, 0.1), True)
            flat_params += [W, b]
            x = x0t * (x @ W.T + b) + x
        else:
            ex = []
            for _ in range(experts):
                V, C, U, G = (t(f32(s, 0.5), True) for s in ((rank, d), (rank, rank), (d, rank), (1, d)))
                ex.append((V, C, U, G))
                flat_params += [V, C, U, G]
            b = t(f32(d, 0.1), True)
            flat_params.append(b)
            outs, scores = [], []
            for V, C, U, G in ex:
                h = torch.tanh(x @ V.T)
                h = torch.tanh(h @ C.T)
                outs.append(x0t * (h @ U.T + b))
                scores.append(x @ G.T)
            w = torch.softmax(torch.cat(scores, 1), 1)
            x = x + sum(w[:, e:e + 1] * outs[e] for e in range(experts))
    loss = (x * t(probe)).sum()
    loss.backward()
    return {
        "d": d, "rows": rows, "layers": layers, "rank": rank, "experts": experts,
        "x0": flat(x0), "probe": flat(probe),
        "params": [flat(p) for p in flat_params],
        "out": flat(x), "grad_x0": flat(x0t.grad),
        "grad_params": [flat(p.grad) for p in flat_params],
    }


fx["cross_full"] = cross_case(6, 4, 2, 0, 0)
fx["cross_mix"] = cross_case(6, 4, 2, 2, 3)

# --- DIN's activation unit: w = MLP([q, k, q-k, q*k]) (sigmoid hidden layer), pooled
# sum_l mask_l * w_l * k_l; loss = sum(probe * pooled). Gradients of q, keys, MLP weights.
rows, L, d, hid = 3, 4, 5, 6
q = f32((rows, d))
keys = f32((rows, L * d))
mask = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=np.float32)
probe_u = f32((rows, d))
W1, b1, W2, b2 = f32((hid, 4 * d), 0.4), f32(hid, 0.1), f32((1, hid), 0.4), f32(1, 0.1)
qt, kt = t(q, True), t(keys, True)
W1t, b1t, W2t, b2t = (t(v, True) for v in (W1, b1, W2, b2))
kv = kt.reshape(rows, L, d)
qv = qt.unsqueeze(1).expand(rows, L, d)
x = torch.cat([qv, kv, qv - kv, qv * kv], dim=2)
w = torch.sigmoid(x @ W1t.T + b1t) @ W2t.T + b2t  # rows x L x 1
pooled = (w * t(mask).unsqueeze(2) * kv).sum(1)
(pooled * t(probe_u)).sum().backward()
fx["din_unit"] = {
    "rows": rows, "len": L, "dim": d, "hidden": hid,
    "q": flat(q), "keys": flat(keys), "mask": flat(mask), "probe": flat(probe_u),
    "weights": [flat(W1), flat(W2)], "biases": [flat(b1), flat(b2)],
    "pooled": flat(pooled), "grad_q": flat(qt.grad), "grad_keys": flat(kt.grad),
    "grad_weights": [flat(W1t.grad), flat(W2t.grad)], "grad_biases": [flat(b1t.grad), flat(b2t.grad)],
}

# --- GRU (torch.nn.GRU), rows of lengths 4, 1 and 3 over 4 steps: each row runs alone
# on its own steps, and its padding repeats its last state; loss = sum(probe * states).
rows, steps, I, H = 3, 4, 3, 5
lengths = [4, 1, 3]
xg = f32((rows, steps * I))
probe_g = f32((rows, steps * H))
Wih, bih, Whh, bhh = f32((3 * H, I), 0.4), f32(3 * H, 0.1), f32((3 * H, H), 0.4), f32(3 * H, 0.1)
gru = torch.nn.GRU(I, H, batch_first=True)
with torch.no_grad():
    for name, v in [("weight_ih_l0", Wih), ("bias_ih_l0", bih), ("weight_hh_l0", Whh), ("bias_hh_l0", bhh)]:
        getattr(gru, name).copy_(t(v))
xgt = t(xg, True)
xs = xgt.reshape(rows, steps, I)
states = []
for i, n in enumerate(lengths):
    out, _ = gru(xs[i:i + 1, :n])
    pad = out[:, -1:].expand(1, steps - n, H)
    states.append(torch.cat([out, pad], 1).reshape(1, steps * H))
states = torch.cat(states, 0)
(states * t(probe_g)).sum().backward()
fx["gru"] = {
    "rows": rows, "steps": steps, "input": I, "hidden": H, "lengths": lengths,
    "x": flat(xg), "probe": flat(probe_g),
    "params": [flat(Wih), flat(bih), flat(Whh), flat(bhh)],
    "states": flat(states), "grad_x": flat(xgt.grad),
    "grad_params": [flat(getattr(gru, n).grad) for n in ["weight_ih_l0", "bias_ih_l0", "weight_hh_l0", "bias_hh_l0"]],
}

fx["torch_version"] = torch.__version__
if "--check" in sys.argv:
    old = json.load(open(OUT))
    def close(a, b, path="") -> bool:
        if isinstance(a, dict):
            return all(close(a[k], b[k], f"{path}.{k}") for k in a if k != "torch_version")
        if isinstance(a, list):
            return len(a) == len(b) and all(close(u, v, path) for u, v in zip(a, b))
        if isinstance(a, float):
            if abs(a - b) > 1e-9 * max(1.0, abs(a)):
                print("differs:", path, a, b)
                return False
        return True
    sys.exit(0 if close(old, fx) else 1)
with open(OUT, "w") as f:
    json.dump(fx, f)
print("wrote", OUT)
