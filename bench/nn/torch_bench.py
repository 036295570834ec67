#!/usr/bin/python3
"""PyTorch reference for bench/nn: the same architectures as Gemba, same batch and threads.

Prints one line "key=value ..." per measurement (images per second, milliseconds per batch).
The models come from tests/nn/torch_models.py (torchvision is not in Debian 12).
Run with Debian's python3-torch: /usr/bin/python3 bench/nn/torch_bench.py --threads 2
"""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "nn"))
import torch_models  # noqa: E402


def measure(model, size, batch, train, channels_last, seconds):
    x = torch.randn(batch, 3, size, size)
    model.train(train)
    y = torch.arange(batch) % 10
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        if train:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        else:
            with torch.inference_mode():
                model(x)

    for phase in range(2):
        limit = min(1.0, seconds / 4) if phase == 0 else seconds
        n = 0
        t0 = time.perf_counter()
        while True:
            step()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= limit:
                break
    return n * batch / dt, 1000.0 * dt / n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="small-cnn")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--width-mult", type=float, default=1.0)
    p.add_argument("--mode", default="train")
    p.add_argument("--layout", default="nchw", choices=["nchw", "channels_last"])
    p.add_argument("--seconds", type=float, default=4.0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.arch == "small-cnn":
        model = torch_models.small_cnn(size=a.size)
    else:
        model = torch_models.mobilenet_v2(width_mult=a.width_mult, n_classes=10)
    ips, ms = measure(model, a.size, a.batch, a.mode == "train", a.layout == "channels_last",
                      a.seconds)
    print(f"arch={a.arch} size={a.size} batch={a.batch} threads={a.threads} mode={a.mode} "
          f"layout={a.layout} images_per_s={ips:.1f} ms_per_batch={ms:.2f} "
          f"torch={torch.__version__}")


if __name__ == "__main__":
    main()
