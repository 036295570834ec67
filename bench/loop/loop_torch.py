#!/usr/bin/python3
"""PyTorch reference for bench/loop: the same loop with a plain, conventional script.

Same frames (the raw pixels make-frames wrote next to the PNGs Gemba imports), same network
(the small CNN of tests/nn/torch_models.py: conv 3x3 16-32-64-128, BN, ReLU, max-pool, global
average pool, linear), a conventional recipe: AdamW, cosine schedule, flips and brightness
augmentation, 15 epochs; then for each list of corrected frames a 4-epoch fine-tune on the old
frames plus the corrections repeated 10 times. Prints one JSON object.

  /usr/bin/python3 bench/loop/loop_torch.py --data DIR --train LIST --fix NAME=LIST ... --seed S
"""
import argparse
import copy
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "nn"))
import torch_models  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def load(data):
    """Every set's pixels (N, 3, S, S floats in 0-1) and labels, and the file → index maps."""
    rows = {}
    with open(os.path.join(data, "truth.tsv")) as f:
        next(f)
        for line in f:
            s, name, klass, _ = line.rstrip("\n").split("\t")
            rows.setdefault(s, []).append((name, int(klass)))
    sets = {}
    for s, items in rows.items():
        raw = np.fromfile(os.path.join(data, s + ".u8"), np.uint8)
        size = int(round((raw.size // len(items) // 3) ** 0.5))
        x = raw.reshape(len(items), size, size, 3).transpose(0, 3, 1, 2).astype(np.float32) / 255
        y = np.array([k for _, k in items], np.int64)
        index = {name: i for i, (name, _) in enumerate(items)}
        sets[s] = (torch.from_numpy(x), torch.from_numpy(y), index)
    return sets


def normalise(x):
    return (x - torch.from_numpy(MEAN)[:, None, None]) / torch.from_numpy(STD)[:, None, None]


def augment(x, gen):
    n = x.shape[0]
    flip_h = torch.rand(n, generator=gen) < 0.5
    flip_v = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip_h[:, None, None, None], x.flip(3), x)
    x = torch.where(flip_v[:, None, None, None], x.flip(2), x)
    gain = 1 + (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.4
    return (x * gain).clamp(0, 1)


def fit(model, x, y, epochs, lr, seed, batch=32):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(x) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            if len(idx) < 2:
                continue
            xb = normalise(augment(x[idx], gen))
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), y[idx])
            loss.backward()
            opt.step()
            sched.step()
    return model


def accuracy(model, x, y):
    model.eval()
    with torch.inference_mode():
        pred = torch.cat([model(normalise(x[i:i + 256])).argmax(1) for i in range(0, len(x), 256)])
    return float((pred == y).float().mean())


def read_list(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--train", required=True, help="file names of the old frames to train on")
    p.add_argument("--fix", action="append", default=[],
                   help="NAME=LIST: fine-tune on the pool frames in LIST, corrected")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--finetune-epochs", type=int, default=4)
    p.add_argument("--repeat", type=int, default=10)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    sets = load(a.data)
    ox, oy, oindex = sets["old"]
    train_idx = torch.tensor([oindex[n] for n in read_list(a.train)])
    tx, ty = ox[train_idx], oy[train_idx]
    n_classes = int(oy.max()) + 1
    result = {"torch": torch.__version__, "threads": a.threads, "n_train": len(tx)}

    t0 = time.perf_counter()
    model = torch_models.small_cnn(n_classes=n_classes, size=ox.shape[2])
    fit(model, tx, ty, a.epochs, 1e-3, a.seed)
    result["train_s"] = time.perf_counter() - t0
    result["base"] = {"old": accuracy(model, *sets["test-old"][:2]),
                      "new": accuracy(model, *sets["test-new"][:2])}

    px, py, pindex = sets["pool"]
    for spec in a.fix:
        name, path = spec.split("=", 1)
        # A review queue may also offer already-labeled old frames: take each from its set.
        names = read_list(path)
        cx = torch.stack([px[pindex[n]] if n in pindex else ox[oindex[n]] for n in names])
        cy = torch.stack([py[pindex[n]] if n in pindex else oy[oindex[n]] for n in names])
        fx = torch.cat([tx] + [cx] * a.repeat)
        fy = torch.cat([ty] + [cy] * a.repeat)
        model.eval()
        with torch.inference_mode():
            errors = int((model(normalise(cx)).argmax(1) != cy).sum())
        t0 = time.perf_counter()
        tuned = fit(copy.deepcopy(model), fx, fy, a.finetune_epochs, 3e-4, a.seed + 1)
        result[name] = {"finetune_s": time.perf_counter() - t0,
                        "old": accuracy(tuned, *sets["test-old"][:2]),
                        "new": accuracy(tuned, *sets["test-new"][:2]),
                        "errors": errors}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
