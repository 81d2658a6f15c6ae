#!/usr/bin/env python3
"""Attack strength against an independent implementation: advd's PGD and torchattacks' PGD, on the
same weights (advd's model.safetensors loaded into PyTorch) and the same Fashion-MNIST test examples,
should give the same robust accuracy within about one percentage point (random starts differ).

Optional (needs `pip install torch safetensors torchattacks numpy` and a release build); CI never runs it.

    python3 bench/attack_strength.py runs/fashion-mlp-standard/model.safetensors [--examples 1000]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
import torchattacks

sys.path.insert(0, os.path.dirname(__file__))
from advd_models import load  # noqa: E402
from check_pytorch_load import FOLDER, idx  # noqa: E402

import numpy as np  # noqa: E402


def advd_robust_accuracy(weights, examples, eps, alpha, steps, out):
    manifest = os.path.join(out, "strength.yaml")
    with open(manifest, "w") as f:
        f.write(f"""name: strength
dataset: {{name: fashion-mnist, test_examples: {examples}}}
model: {{weights: {os.path.abspath(weights)}}}
threat_model: {{norm: linf, epsilon: {eps}}}
evaluation:
  attacks: [{{name: pgd, steps: {steps}, step_size: {alpha}}}]
  sanity_checks: false
""")
    subprocess.run([".build/release/advd", "run", manifest, "--out", os.path.join(out, "run")], check=True,
                   stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "run", "metrics.json")) as f:
        evaluation = json.load(f)["evaluation"]
    return evaluation["cleanAccuracy"], evaluation["worstCaseRobustAccuracy"]


def torchattacks_robust_accuracy(weights, examples, eps, alpha, steps):
    model, _ = load(weights)
    images = torch.from_numpy(idx(f"{FOLDER}/t10k-images-idx3-ubyte.gz")[:examples].astype(np.float32) / 255).unsqueeze(1)
    labels = torch.from_numpy(idx(f"{FOLDER}/t10k-labels-idx1-ubyte.gz")[:examples].astype(np.int64))
    torch.manual_seed(0)
    attack = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)
    with torch.no_grad():
        clean = (model(images).argmax(1) == labels).float().mean().item()
    adversarial = attack(images, labels)
    with torch.no_grad():
        robust = (model(adversarial).argmax(1) == labels).float().mean().item()
    return clean, robust


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights")
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        advd_clean, advd_robust = advd_robust_accuracy(args.weights, args.examples, args.eps, args.alpha, args.steps, out)
    torch_clean, torch_robust = torchattacks_robust_accuracy(args.weights, args.examples, args.eps, args.alpha, args.steps)
    print(f"PGD-{args.steps}, L-inf eps {args.eps}, step {args.alpha}, {args.examples} Fashion-MNIST test examples")
    print(f"advd:          clean {advd_clean * 100:.2f}%  robust {advd_robust * 100:.2f}%")
    print(f"torchattacks:  clean {torch_clean * 100:.2f}%  robust {torch_robust * 100:.2f}%")
    print(f"difference in robust accuracy: {abs(advd_robust - torch_robust) * 100:.2f} percentage points")


if __name__ == "__main__":
    main()
