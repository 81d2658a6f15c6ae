#!/usr/bin/env python3
"""Opens an advd model.safetensors with the safetensors library, loads it into the same
architecture built in PyTorch (every tensor must match: strict, but for BatchNorm's counter), and
evaluates it on the Fashion-MNIST test set from Debian's dataset-fashion-mnist package.

Optional (needs `pip install torch safetensors numpy`); CI never runs it. It shows that advd's
checkpoints follow PyTorch's names and layouts: the accuracy printed here equals advd's own.

    python3 bench/check_pytorch_load.py runs/fashion-mnist-mlp/model.safetensors
"""
import gzip
import sys

import numpy as np
import torch

from advd_models import load   # advd's architectures in PyTorch, beside this script

FOLDER = "/usr/share/datasets/fashion-mnist"


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    path = sys.argv[1]
    model, spec = load(path)
    images = torch.from_numpy(idx(f"{FOLDER}/t10k-images-idx3-ubyte.gz").astype(np.float32) / 255).unsqueeze(1)
    labels = torch.from_numpy(idx(f"{FOLDER}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
    with torch.no_grad():
        accuracy = (model(images).argmax(1) == labels).float().mean().item()
    print(f"{path}: {spec['architecture']} loaded into PyTorch (strict), test accuracy {accuracy * 100:.2f}%")


if __name__ == "__main__":
    main()
