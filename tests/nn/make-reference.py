#!/usr/bin/python3
"""Writes the PyTorch reference files of tests/nn/test-reference.c into tests/nn/reference/.

Run with Debian's python3-torch:  /usr/bin/python3 tests/nn/make-reference.py
(CI does not need torch: the outputs are committed.)

Every parameter and input is made by a counter-based hash that test-reference.c implements
too, so the files hold only results: outputs, gradients (a sample of each parameter tensor for
the whole networks) and losses. Layouts are Gemba's: activations NHWC, convolution weights
[out][kh][kw][in/groups].
"""
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch_models as tm  # noqa: E402

OUT = os.path.join(HERE, "reference")
MASK = 0xFFFFFFFF


def hash_uniform(seed, n):
    """Uniform [0, 1) values; gemba's test computes the same sequence."""
    i = torch.arange(n, dtype=torch.int64)
    h = (i * 2654435761 + seed * 97531 + 12345) & MASK
    h = h ^ (h >> 16)
    h = (h * 0x45D9F3B) & MASK
    h = h ^ (h >> 16)
    h = (h * 0x45D9F3B) & MASK
    h = h ^ (h >> 16)
    return h.to(torch.float64) / 4294967296.0


def sym(seed, n, scale):
    return ((hash_uniform(seed, n) * 2 - 1) * scale).to(torch.float32)


class Ref:
    def __init__(self):
        self.items = []

    def add(self, name, t):
        if not torch.is_tensor(t):
            t = torch.tensor(t, dtype=torch.float32)
        self.items.append((name, t.detach().to(torch.float32).contiguous().reshape(-1)))

    def save(self, filename):
        with open(os.path.join(OUT, filename), "wb") as f:
            f.write(b"GMBR")
            f.write(struct.pack("<I", len(self.items)))
            for name, a in self.items:
                nb = name.encode()
                f.write(struct.pack("<I", len(nb)))
                f.write(nb)
                f.write(struct.pack("<I", a.numel()))
                f.write(a.numpy().astype("<f4").tobytes())


def nhwc(t):
    return t.permute(0, 2, 3, 1) if t.dim() == 4 else t


def nchw_from(flat, n, h, w, c):
    return flat.reshape(n, h, w, c).permute(0, 3, 1, 2).contiguous()


def conv_w_to_torch(flat, o, kh, kw, i):
    return flat.reshape(o, kh, kw, i).permute(0, 3, 1, 2).contiguous()


# ---- single layers ------------------------------------------------------------------------

def layer_cases(ref):
    N = 2
    seed = [100]

    def nxt():
        seed[0] += 1
        return seed[0]

    def run(name, cfg, module, in_shape, params, x2_needed=False, xscale=1.0):
        n, h, w, c = in_shape
        xs = sym(nxt(), n * h * w * c, xscale)
        x = nchw_from(xs, n, h, w, c).requires_grad_(True)
        ref.add(name + ".config", cfg)
        ref.add(name + ".x", xs)
        if x2_needed:
            x2s = sym(nxt(), n * h * w * c, 1.0)
            x2 = nchw_from(x2s, n, h, w, c).requires_grad_(True)
            ref.add(name + ".x2", x2s)
            y = module(x, x2)
        else:
            y = module(x)
        dy = sym(nxt(), y.numel(), 1.0)
        dyt = nchw_from(dy, *nhwc(y).shape) if y.dim() == 4 else dy.reshape(y.shape)
        y.backward(dyt)
        ref.add(name + ".dy", dy)
        ref.add(name + ".y", nhwc(y))
        ref.add(name + ".dx", nhwc(x.grad))
        if x2_needed:
            ref.add(name + ".dx2", nhwc(x2.grad))
        for pname, p, kind in params:
            g = p.grad
            if kind == "conv":
                g = g.permute(0, 2, 3, 1)
            ref.add(name + ".d" + pname, g)

    # convolutions: config = [in_h, in_w, in_c, out_c, kh, kw, stride, pad, groups, bias]
    convs = [
        ("conv3x3", [7, 6, 3, 5, 3, 3, 1, 1, 1, 1]),
        ("conv3x3s2", [9, 8, 4, 6, 3, 3, 2, 1, 1, 0]),
        ("conv1x1", [5, 5, 8, 6, 1, 1, 1, 0, 1, 1]),
        ("conv5x5", [9, 9, 2, 3, 5, 5, 2, 2, 1, 1]),
        ("grouped", [6, 6, 4, 6, 3, 3, 1, 1, 2, 1]),
        ("depthwise", [8, 8, 6, 6, 3, 3, 1, 1, 6, 0]),
        ("depthwise-s2", [9, 9, 5, 5, 3, 3, 2, 1, 5, 1]),
    ]
    for name, cfg in convs:
        ih, iw, ic, oc, kh, kw, s, p, g, b = cfg
        m = nn.Conv2d(ic, oc, (kh, kw), s, p, groups=g, bias=bool(b))
        ws = sym(nxt(), m.weight.numel(), 0.5)
        with torch.no_grad():
            m.weight.copy_(conv_w_to_torch(ws, oc, kh, kw, ic // g))
        ref.add(name + ".w", ws)
        params = [("w", m.weight, "conv")]
        if b:
            bs = sym(nxt(), oc, 0.5)
            with torch.no_grad():
                m.bias.copy_(bs)
            ref.add(name + ".b", bs)
            params.append(("b", m.bias, "vec"))
        run(name, cfg, m, (N, ih, iw, ic), params)

    # batch-norm, training and inference: config = [h, w, c, training]
    for name, training in (("bn-train", 1), ("bn-eval", 0)):
        h, w, c = 4, 5, 6
        m = nn.BatchNorm2d(c)
        gs, bs = 1 + sym(nxt(), c, 0.3), sym(nxt(), c, 0.3)
        rm, rv = sym(nxt(), c, 0.2), 1 + 0.5 * hash_uniform(nxt(), c).float()
        with torch.no_grad():
            m.weight.copy_(gs)
            m.bias.copy_(bs)
            m.running_mean.copy_(rm)
            m.running_var.copy_(rv)
        m.train(bool(training))
        for k, v in (("w", gs), ("b", bs), ("rm", rm), ("rv", rv)):
            ref.add(name + "." + k, v)
        run(name, [h, w, c, training], m, (3, h, w, c),
            [("w", m.weight, "vec"), ("b", m.bias, "vec")])
        ref.add(name + ".rm-after", m.running_mean)
        ref.add(name + ".rv-after", m.running_var)

    # elementwise and pooling: config = [h, w, c, k, stride, pad]
    for name, mod, cfg in (
        ("relu", nn.ReLU(), [5, 4, 3, 0, 0, 0]),
        ("relu6", nn.ReLU6(), [5, 4, 3, 0, 0, 0]),
        ("maxpool2", nn.MaxPool2d(2), [6, 8, 3, 2, 2, 0]),
        ("maxpool3", nn.MaxPool2d(3, 2, 1), [7, 7, 4, 3, 2, 1]),
        ("avgpool2", nn.AvgPool2d(2), [6, 8, 3, 2, 2, 0]),
        ("avgpool3", nn.AvgPool2d(3, 1, 1), [5, 5, 2, 3, 1, 1]),
        ("gap", nn.AdaptiveAvgPool2d(1), [4, 5, 6, 0, 0, 0]),
    ):
        h, w, c = cfg[:3]
        # ReLU6 inputs spread over [-8, 8], so that both kinks are exercised
        run(name, cfg, mod, (N, h, w, c), [], xscale=8.0 if name == "relu6" else 1.0)

    class Lin(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(torch.flatten(x, 1))

    lin = nn.Linear(7, 4)
    ws, bs = sym(nxt(), 28, 0.5), sym(nxt(), 4, 0.5)
    with torch.no_grad():
        lin.weight.copy_(ws.reshape(4, 7))
        lin.bias.copy_(bs)
    ref.add("linear.w", ws)
    ref.add("linear.b", bs)
    run("linear", [7, 4], Lin(lin), (3, 1, 1, 7),
        [("w", lin.weight, "vec"), ("b", lin.bias, "vec")])

    run("add", [3, 4, 5], tm.Add(), (N, 3, 4, 5), [], x2_needed=True)

    # weighted cross-entropy: PyTorch's with class weights, times per-sample weights
    n, k = 6, 4
    logits = (sym(nxt(), n * k, 3.0)).reshape(n, k).requires_grad_(True)
    labels = torch.tensor([0, 3, 1, 1, 2, 3])
    cw = torch.tensor([1.0, 2.0, 0.5, 3.0])
    sw = torch.tensor([1.0, 1.0, 4.0, 1.0, 0.5, 2.0])
    nll = F.cross_entropy(logits, labels, reduction="none")
    wi = cw[labels] * sw
    loss = (nll * wi).sum() / wi.sum()
    loss.backward()
    ref.add("ce.logits", logits)
    ref.add("ce.labels", labels.float())
    ref.add("ce.cw", cw)
    ref.add("ce.sw", sw)
    ref.add("ce.loss", [loss.item()])
    ref.add("ce.dlogits", logits.grad)
    # plain: equals F.cross_entropy(weight=cw)
    ref.add("ce.loss-torch", [F.cross_entropy(logits, labels, weight=cw).item()])


# ---- whole networks ------------------------------------------------------------------------

def init_params(model, kink_free=False):
    """The same deterministic values as test-reference.c's init_params().

    With @kink_free, a batch-norm followed by ReLU6 gets weight ~0.3 and bias ~3, so that the
    ReLU6 inputs stay inside (0, 6): float32 rounding then cannot move a value across a kink,
    which would change a few gradient entries by their whole size in any implementation
    (PyTorch in float32 against float64 included). The clipping itself is compared in the
    layer tests and in the small CNN.
    """
    for j, (name, t, kind) in enumerate(model.gemba_params()):
        n = t.numel()
        seed = 1000 + j
        node = int(name.split(".")[0])
        before_relu6 = (kink_free and node + 1 < len(model.mods)
                        and isinstance(model.mods[node + 1], nn.ReLU6))
        if kind == "conv":
            o, i, kh, kw = t.shape
            v = sym(seed, n, (6.0 / (i * kh * kw)) ** 0.5)
            v = conv_w_to_torch(v, o, kh, kw, i)
        elif kind == "linear":
            v = sym(seed, n, 1.0 / t.shape[1] ** 0.5).reshape(t.shape)
        elif name.endswith("running_var"):
            v = 1 + 0.5 * hash_uniform(seed, n).float()
        elif name.endswith("running_mean"):
            v = sym(seed, n, 0.1)
        elif name.endswith("bias"):
            v = sym(seed, n, 0.1) + (3.0 if before_relu6 else 0.0)
        else:  # batch-norm weight
            v = (1 + sym(seed, n, 0.2)) * (0.3 if before_relu6 else 1.0)
        with torch.no_grad():
            t.copy_(v)


def sample_indices(n, count=48):
    return [(k * 7919) % n for k in range(min(n, count))]


def net_case(ref, prefix, model, batch, size, n_classes, steps, kink_free=False, lr=0.05):
    init_params(model, kink_free)
    x = nchw_from(sym(7, batch * size * size * 3, 1.0), batch, size, size, 3)
    labels = torch.arange(batch) % n_classes

    model.eval()
    with torch.no_grad():
        ref.add(prefix + ".eval-logits", model(x))
    model.train()
    logits = model(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    ref.add(prefix + ".logits", logits)
    ref.add(prefix + ".loss", [loss.item()])
    for name, t, kind in model.gemba_params():
        flat = tm.to_gemba(t.grad if t.grad is not None else t, kind)
        idx = torch.tensor(sample_indices(flat.numel()))
        key = ".grad." if t.grad is not None else ".after."
        ref.add(prefix + key + name, flat[idx])

    # SGD: momentum 0.9, weight decay on convolution and linear weights, from the same start
    init_params(model, kink_free)
    decay = [t for _, t, kind in model.gemba_params() if kind in ("conv", "linear")]
    ids = {id(t) for t in decay}
    rest = [p for p in model.parameters() if id(p) not in ids]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 1e-4},
                           {"params": rest, "weight_decay": 0.0}], lr=lr, momentum=0.9)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    ref.add(prefix + ".sgd-losses", losses)
    ref.add(prefix + ".sgd-lr", [lr])


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)

    ref = Ref()
    layer_cases(ref)
    ref.save("layers.bin")

    ref = Ref()
    net_case(ref, "small", tm.small_cnn((8, 16, 32), depth=2, n_classes=3, size=24), 4, 24, 3, 5)
    ref.save("small-cnn.bin")

    ref = Ref()
    # 96×96 and 16 images: the last stages are 3×3, so batch-norm sees 144 values per channel
    # (with 1×1 maps and a few images float32 rounding is amplified, in PyTorch as anywhere)
    net_case(ref, "mnv2", tm.mobilenet_v2(0.35, n_classes=3, dropout=0.0), 16, 96, 3, 5,
             kink_free=True, lr=0.01)
    ref.save("mobilenetv2.bin")
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)), "bytes")


if __name__ == "__main__":
    main()
