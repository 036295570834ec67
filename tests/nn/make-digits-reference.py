#!/usr/bin/python3
"""PyTorch's test accuracy on the handwritten digits, for tests/nn/test-digits.c.

Run with Debian's python3-torch and python3-sklearn:
    /usr/bin/python3 tests/nn/make-digits-reference.py
It writes tests/nn/reference/digits.json. Both sides read the same file
(/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz), split it the same way
(every fifth image is a test image), turn the 0–16 values into the same bytes and normalise
them the same way, and train the same small CNN (8×8 grey input, 16-32-64, batch-norm, ReLU,
max-pool, global average pool, linear) with the same settings: AdamW, learning rate 3e-3,
weight decay 1e-4 on weights, batch 32, one warm-up epoch then cosine, 20 epochs, no
augmentation, He-normal (fan-out) convolutions as Gemba initialises them. The accuracy is the
mean over three seeds.
"""
import gzip
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch_models as tm  # noqa: E402

DIGITS = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"
SETTINGS = {"epochs": 20, "batch-size": 32, "learning-rate": 3e-3, "weight-decay": 1e-4,
            "warmup-epochs": 1, "widths": [16, 32, 64], "mean": 0.5, "std": 0.5,
            "seeds": [1, 2, 3]}


def load():
    rows = []
    with gzip.open(DIGITS, "rt") as f:
        for line in f:
            v = [float(x) for x in line.strip().split(",")]
            rows.append(v)
    x = torch.tensor([r[:64] for r in rows])
    y = torch.tensor([int(r[64]) for r in rows])
    # the same bytes as test-digits.c: round (v * 255 / 16)
    x = torch.floor(x * 255.0 / 16.0 + 0.5)
    x = (x / 255.0 - SETTINGS["mean"]) / SETTINGS["std"]
    x = x.reshape(-1, 1, 8, 8)
    test = torch.arange(len(rows)) % 5 == 0
    return x[~test], y[~test], x[test], y[test]


def lr_at(step, total, warmup, base):
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def train(seed, xtr, ytr, xte, yte):
    torch.manual_seed(seed)
    model = tm.small_cnn(tuple(SETTINGS["widths"]), depth=1, in_c=1, n_classes=10, size=8)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
    decay = [t for _, t, kind in model.gemba_params() if kind in ("conv", "linear")]
    ids = {id(t) for t in decay}
    rest = [p for p in model.parameters() if id(p) not in ids]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": SETTINGS["weight-decay"]},
                             {"params": rest, "weight_decay": 0.0}],
                            lr=SETTINGS["learning-rate"])
    bs = SETTINGS["batch-size"]
    n = len(ytr)
    steps = n // bs + (1 if n % bs > 1 else 0)
    total = steps * SETTINGS["epochs"]
    warmup = SETTINGS["warmup-epochs"] * steps
    step = 0
    for _ in range(SETTINGS["epochs"]):
        model.train()
        perm = torch.randperm(n)
        for b in range(steps):
            idx = perm[b * bs:(b + 1) * bs]
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, warmup, SETTINGS["learning-rate"])
            opt.zero_grad()
            F.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
            step += 1
    model.eval()
    with torch.no_grad():
        pred = model(xte).argmax(1)
    return (pred == yte).float().mean().item()


def main():
    torch.set_num_threads(2)
    xtr, ytr, xte, yte = load()
    accs = [train(s, xtr, ytr, xte, yte) for s in SETTINGS["seeds"]]
    out = dict(SETTINGS)
    out.update({"train-images": len(ytr), "test-images": len(yte), "accuracies": accs,
                "accuracy": sum(accs) / len(accs), "torch": torch.__version__})
    with open(os.path.join(HERE, "reference", "digits.json"), "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
