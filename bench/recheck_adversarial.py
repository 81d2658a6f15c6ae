#!/usr/bin/env python3
"""Re-checks an advd evaluation in PyTorch from its run folder: loads model.safetensors into the same
architecture (bench/check_pytorch_load.py builds it), loads adversarial.safetensors, verifies that every
adversarial input lies within ε of its clean Fashion-MNIST test image in the threat model's norm and
inside [0, 1], re-classifies them, and compares the accuracy with the worst case in metrics.json.

Optional (needs `pip install torch safetensors numpy`); CI never runs it.

    python3 bench/recheck_adversarial.py runs/fashion-mlp-pgd-at
"""
import json
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from advd_models import load
from check_pytorch_load import FOLDER, idx


def main():
    run = sys.argv[1]
    model, _ = load(f"{run}/model.safetensors")

    adversarial = load_file(f"{run}/adversarial.safetensors")
    with safe_open(f"{run}/adversarial.safetensors", framework="pt") as f:
        meta = f.metadata()
    x, labels, indices = adversarial["inputs"], adversarial["labels"], adversarial["indices"]
    images = torch.from_numpy(idx(f"{FOLDER}/t10k-images-idx3-ubyte.gz").astype("float32") / 255).unsqueeze(1)
    clean = images[indices]
    delta = (x - clean).flatten(1)
    norm = delta.abs().amax(1) if meta["norm"] == "linf" else delta.norm(dim=1)
    epsilon = float(meta["epsilon"])
    assert (norm <= epsilon + 1e-6).all(), f"a perturbation exceeds ε = {epsilon}: {norm.max().item()}"
    assert x.min() >= 0 and x.max() <= 1, "an input leaves [0, 1]"

    with torch.no_grad():
        predictions = model(x).argmax(1)
    accuracy = (predictions == labels).float().mean().item()
    reported = json.load(open(f"{run}/metrics.json"))["evaluation"]["worstCaseRobustAccuracy"]
    print(f"{meta['threat_model']}: max ‖δ‖ = {norm.max().item():.4f}; PyTorch's accuracy on the adversarial inputs "
          f"{accuracy * 100:.2f}%, advd's worst case {reported * 100:.2f}%")
    assert (predictions == adversarial["predictions"]).all(), "PyTorch classifies some inputs differently from advd"


if __name__ == "__main__":
    main()
