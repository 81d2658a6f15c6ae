#!/usr/bin/env python3
"""Opens an advd model.safetensors with the safetensors library, loads it into the same
architecture built in PyTorch (every tensor must match: strict, but for BatchNorm's counter), and evaluates it on the
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


class PreActBlock(nn.Module):
    """advd's PreActivationBlock under its names: BN, ReLU, conv 3x3 (stride), BN, ReLU, conv 3x3, plus a
    1x1 convolution of the activated input (`shortcut.0`) where the width or stride changes, else the
    input itself."""
    def __init__(self, inputs, outputs, stride):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(inputs), nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(outputs), nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        changes = stride != 1 or inputs != outputs
        self.shortcut = nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False)) if changes else None

    def forward(self, x):
        activated = torch.relu(self.bn1(x))
        residual = self.conv2(torch.relu(self.bn2(self.conv1(activated))))
        return residual + (self.shortcut(activated) if self.shortcut is not None else x)


class GlobalAvgPool(nn.Module):
    """advd's GlobalAvgPool: the mean of each channel's plane, flattened (one layer, so the classifier
    keeps advd's index)."""
    def forward(self, x):
        return x.mean((2, 3))


def build(spec):
    """The nn.Sequential advd's ModelSpec describes (mlp, linear and cnn-small, with their widths and
    activation; preact-resnet, with its widths and blocks per stage)."""
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
    elif spec["architecture"] == "preact-resnet":
        widths = spec.get("widths") or [16, 32, 64]
        layers, width = [nn.Conv2d(c, widths[0], 3, padding=1, bias=False)], widths[0]
        for stage, stage_width in enumerate(widths):
            for block in range(spec.get("blocksPerStage") or 1):
                layers.append(PreActBlock(width, stage_width, 2 if stage > 0 and block == 0 else 1))
                width = stage_width
        layers += [nn.BatchNorm2d(width), nn.ReLU(), GlobalAvgPool(), nn.Linear(width, spec["classes"])]
    else:
        raise SystemExit(f"this check builds mlp, linear, cnn-small and preact-resnet, not {spec['architecture']}")
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
    # strict but for BatchNorm's num_batches_tracked, a counter advd does not keep
    missing, unexpected = model.load_state_dict(load_file(path), strict=False)
    missing = [name for name in missing if not name.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"{path}: missing {missing}, unexpected {unexpected}")
    model.eval()
    images = torch.from_numpy(idx(f"{FOLDER}/t10k-images-idx3-ubyte.gz").astype(np.float32) / 255).unsqueeze(1)
    labels = torch.from_numpy(idx(f"{FOLDER}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
    with torch.no_grad():
        accuracy = (model(images).argmax(1) == labels).float().mean().item()
    print(f"{path}: {spec['architecture']} loaded into PyTorch (strict), test accuracy {accuracy * 100:.2f}%")


if __name__ == "__main__":
    main()
