"""PyTorch twins of Gemba's architectures (used by make-reference.py and bench/nn).

The layer order matches Gemba's node order, so that parameters map one to one:
Gemba names a parameter "<node>.<what>", where <node> counts every layer (conv, batch-norm,
ReLU, pool, add, ...). MobileNetV2 follows torchvision's definition (torchvision is not in
Debian 12, so it is rewritten here).
"""
import torch
import torch.nn as nn


def make_divisible(v, divisor=8):
    nv = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if nv < 0.9 * v:
        nv += divisor
    return nv


class Add(nn.Module):
    def forward(self, a, b):
        return a + b


class Graph(nn.Module):
    """A list of (module, input, input2) nodes, as Gemba's GembaNet."""

    def __init__(self):
        super().__init__()
        self.mods = nn.ModuleList()
        self.inputs = []

    def add(self, module, inp=None, inp2=None):
        if inp is None:
            inp = len(self.mods) - 1
        self.mods.append(module)
        self.inputs.append((inp, inp2))
        return len(self.mods) - 1

    def forward(self, x, keep=False):
        outs = []
        for m, (i, i2) in zip(self.mods, self.inputs):
            a = x if i < 0 else outs[i]
            if isinstance(m, Add):
                y = m(a, outs[i2])
            elif isinstance(m, nn.Linear):
                y = m(torch.flatten(a, 1))
            else:
                y = m(a)
            outs.append(y)
        self.outs = outs if keep else None
        return outs[-1]

    def gemba_params(self):
        """(name, tensor, kind) in Gemba's order, Gemba's names and layouts."""
        res = []
        for n, m in enumerate(self.mods):
            if isinstance(m, nn.Conv2d):
                res.append((f"{n}.weight", m.weight, "conv"))
                if m.bias is not None:
                    res.append((f"{n}.bias", m.bias, "vec"))
            elif isinstance(m, nn.Linear):
                res.append((f"{n}.weight", m.weight, "linear"))
                if m.bias is not None:
                    res.append((f"{n}.bias", m.bias, "vec"))
            elif isinstance(m, nn.BatchNorm2d):
                res.append((f"{n}.weight", m.weight, "vec"))
                res.append((f"{n}.bias", m.bias, "vec"))
                res.append((f"{n}.running_mean", m.running_mean, "vec"))
                res.append((f"{n}.running_var", m.running_var, "vec"))
        return res


def to_gemba(t, kind):
    """A tensor in Gemba's layout (convolutions OIHW -> OHWI)."""
    t = t.detach()
    if kind == "conv":
        t = t.permute(0, 2, 3, 1)
    return t.contiguous().reshape(-1)


def conv_bn(g, inp, cin, cout, k, stride, groups, act):
    g.add(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), inp)
    n = g.add(nn.BatchNorm2d(cout))
    if act == "relu":
        n = g.add(nn.ReLU())
    elif act == "relu6":
        n = g.add(nn.ReLU6())
    return n


def small_cnn(widths=(16, 32, 64, 128), depth=1, in_c=3, n_classes=10, size=64, dropout=0.0):
    g = Graph()
    c, h, w = in_c, size, size
    n = -1
    for b, wd in enumerate(widths):
        for _ in range(depth):
            n = conv_bn(g, n, c, wd, 3, 1, 1, "relu")
            c = wd
        if b < len(widths) - 1 and h >= 2 and w >= 2:
            n = g.add(nn.MaxPool2d(2))
            h //= 2
            w //= 2
    g.add(nn.AdaptiveAvgPool2d(1))
    if dropout > 0:
        g.add(nn.Dropout(dropout))
    g.add(nn.Linear(c, n_classes))
    return g


def mobilenet_v2(width_mult=1.0, n_classes=10, in_c=3, dropout=0.2):
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    g = Graph()
    c = make_divisible(32 * width_mult)
    last_c = make_divisible(1280 * max(1.0, width_mult))
    n = conv_bn(g, -1, in_c, c, 3, 2, 1, "relu6")
    for t, ch, reps, s in settings:
        out_c = make_divisible(ch * width_mult)
        for i in range(reps):
            stride = s if i == 0 else 1
            hidden = int(round(c * t))
            block_in = n
            if t != 1:
                n = conv_bn(g, n, c, hidden, 1, 1, 1, "relu6")
            n = conv_bn(g, n, hidden, hidden, 3, stride, hidden, "relu6")
            n = conv_bn(g, n, hidden, out_c, 1, 1, 1, None)
            if stride == 1 and c == out_c:
                n = g.add(Add(), n, block_in)
            c = out_c
    n = conv_bn(g, n, c, last_c, 1, 1, 1, "relu6")
    g.add(nn.AdaptiveAvgPool2d(1))
    if dropout > 0:
        g.add(nn.Dropout(dropout))
    g.add(nn.Linear(last_c, n_classes))
    for m in g.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
    return g
