#!/usr/bin/env python3
"""Opens an advd model.safetensors with the safetensors library, loads it into the same
architecture built in PyTorch with load_state_dict(strict=True), and evaluates it on the
Fashion-MNIST test set from Debian's dataset-fashion-mnist package.

Optional (needs `pip install torch safetensors numpy`); CI never runs it. It shows that advd's
checkpoints follow PyTorch's names and layouts: the accuracy printed here equals advd's own.

    python3 bench/check_pytorch_load.py runs/fashion-mnist-mlp/model.safetensors
"""
import gzip
import json
import sys

import numpy as np
import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import load_file

FOLDER = "/usr/share/datasets/fashion-mnist"


def build(spec):
    """The nn.Sequential advd's ModelSpec describes (mlp, linear and cnn-small, with their widths and
    activation)."""
    c, h, w = spec["inputShape"] if len(spec["inputShape"]) == 3 else (1, 1, spec["inputShape"][0])
    act = {"relu": nn.ReLU, "silu": nn.SiLU}[spec.get("activation") or "relu"]

    def perceptron(width, hidden):
        layers = [nn.Flatten()]
        for size in hidden:
            layers += [nn.Linear(width, size), act()]
            width = size
        return layers + [nn.Linear(width, spec["classes"])]

    if spec["architecture"] in ("mlp", "linear"):
        layers = perceptron(c * h * w, spec.get("hidden") or [])
    elif spec["architecture"] == "cnn-small":
        # advd pools before a ReLU (the same function) and after a SiLU: PyTorch's order, same indices
        first, second = spec.get("widths") or [32, 64]
        layers = [nn.Conv2d(c, first, 5, padding=2), act(), nn.MaxPool2d(2),
                  nn.Conv2d(first, second, 5, padding=2), act(), nn.MaxPool2d(2)]
        layers += perceptron(second * (h // 4) * (w // 4), spec.get("hidden") or [1024])
    else:
        raise SystemExit(f"this check builds mlp, linear and cnn-small, not {spec['architecture']}")
    return nn.Sequential(*layers)


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    path = sys.argv[1]
    with safe_open(path, framework="pt") as f:
        spec = json.loads(f.metadata()["model"])
    model = build(spec)
    model.load_state_dict(load_file(path), strict=True)
    model.eval()
    images = torch.from_numpy(idx(f"{FOLDER}/t10k-images-idx3-ubyte.gz").astype(np.float32) / 255).unsqueeze(1)
    labels = torch.from_numpy(idx(f"{FOLDER}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
    with torch.no_grad():
        accuracy = (model(images).argmax(1) == labels).float().mean().item()
    print(f"{path}: {spec['architecture']} loaded into PyTorch (strict), test accuracy {accuracy * 100:.2f}%")


if __name__ == "__main__":
    main()
