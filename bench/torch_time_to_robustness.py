#!/usr/bin/env python3
"""PyTorch side of the README's time-to-robustness rows: the recipes of the examples/fashion-cnn-*hour.yaml
manifests in PyTorch.

Trains cnn-small (Madry et al.'s MNIST CNN, as advd builds it), or the architecture the recipe names,
on Fashion-MNIST from Debian's dataset-fashion-mnist package with the manifest's recipe (RECIPES below,
`--example NAME`): adversarial training at L-inf eps 0.1 with the attack run in eval mode from a uniform random start —
fashion-cnn-hour: PGD-5 with step 0.05, 14 epochs; fashion-cnn-fast-hour: FGSM with step 1.25 eps,
32 epochs, and Wong et al.'s guard (it rolls back to the best epoch when held-out PGD-10 accuracy
collapses by 20 points); fashion-cnn-pgd3-hour: PGD-3 with step 0.05, 22 epochs;
fashion-cnn-atta-hour: ATTA (each image's perturbation carried across epochs, one step of eps/4 per
visit), 42 epochs, evaluating the weights' exponential moving average (decay 0.999);
fashion-cnn-wide-atta-hour: the same on cnn-small with 48 and 96 channels, 18 epochs;
fashion-cnn-silu-atta-hour: the same with SiLU in place of ReLU, 32 epochs;
fashion-cnn-trades-atta-hour: TRADES with beta 2 (clean cross-entropy plus beta times the KL divergence
from the clean to the perturbed outputs), its KL attack carried across epochs as ATTA's is (one step of
eps/4 per visit; the first visit starts 0.001 N(0, 1) from the image), 20 epochs;
fashion-resnet-atta-hour: ATTA with the moving average on advd's pre-activation ResNet (16, 32 and 64
channels, one block per stage, BatchNorm), 36 epochs; fashion-resnet96-atta-hour: the same ResNet with
96 channels in its last stage, 26 epochs; fashion-resnet-atta-lowdecay-hour: the 64-channel ResNet with
weight decay 2e-4, 29 epochs; fashion-resnet-silu-atta-hour: the 64-channel ResNet with SiLU after
every BatchNorm in place of ReLU, 26 epochs; fashion-resnet-deep-atta-hour: the ResNet with two blocks
per stage and weight decay 2e-4, 15 epochs; fashion-resnet-deep-atta-wide-ball-hour and
fashion-resnet-deep-atta-ball106-hour: the deep ResNet's recipe with the training attack on a wider ball
than the evaluation's (eps 0.11 and 0.106, step a quarter of it) — SGD lr 0.05,
momentum 0.9, weight decay 5e-4 unless said, cosine annealing per step to 0, batch 128, the last 1,000 training
images held out as advd holds them out (after every epoch: clean and PGD-10 accuracy on them).

It prints the training wall time and the time in training steps alone (advd's metrics.json counts the
latter as training time; both leave out loading the data) and writes OUT/model.safetensors under advd's names and metadata, and
OUT/evaluate.yaml, a manifest that has advd evaluate those weights with the same battery as the advd
run (PGD-20, APGD-CE, APGD-DLR, Square-1000 on all 10,000 test images), so both rows' accuracies
come from one evaluator:

    python3 bench/torch_time_to_robustness.py --example fashion-cnn-hour --threads 2
    .build/release/advd run runs/torch-fashion-cnn-hour/evaluate.yaml --threads 2

Optional (needs `pip install torch safetensors numpy`); CI never runs it.
"""
import argparse
import copy
import json
import os
import platform
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

from advd_models import build   # advd's architectures in PyTorch, beside this script
from check_pytorch_load import FOLDER, idx   # the IDX reader

EPSILON = 0.1
# example manifest -> its training attack (PGD steps and step size; one step of 1.25 eps is fast AT's FGSM),
# epochs, whether fast AT's overfitting guard watches it, whether perturbations carry over between
# epochs (ATTA) and the decay of the weights' moving average (None: the last weights); `architecture`
# (default cnn-small), `widths` (default the architecture's: cnn-small's two convolutions [32, 64], the
# ResNet's stages [16, 32, 64]), `blocks_per_stage` (the ResNet's, default 1) and `activation` (default
# relu) change the model, `weight_decay` (default 5e-4) the optimiser, `epsilon` (default EPSILON) is the
# training attack's radius (validation and evaluation stay at EPSILON), and `trades` (beta) trains
# TRADES's objective with its KL attack in place of the cross-entropy on PGD's points
DEEP_RESNET_ATTA = dict(steps=1, step_size=EPSILON / 4, epochs=15, guard=False, carry=True, average=0.999,
                        architecture="preact-resnet", blocks_per_stage=2, weight_decay=2e-4)
RECIPES = {
    "fashion-cnn-hour": dict(steps=5, step_size=0.05, epochs=14, guard=False, carry=False, average=None),
    "fashion-cnn-fast-hour": dict(steps=1, step_size=1.25 * EPSILON, epochs=32, guard=True, carry=False, average=None),
    "fashion-cnn-pgd3-hour": dict(steps=3, step_size=0.05, epochs=22, guard=False, carry=False, average=None),
    "fashion-cnn-atta-hour": dict(steps=1, step_size=EPSILON / 4, epochs=42, guard=False, carry=True, average=0.999),
    "fashion-cnn-wide-atta-hour": dict(steps=1, step_size=EPSILON / 4, epochs=18, guard=False, carry=True, average=0.999, widths=[48, 96]),
    "fashion-cnn-silu-atta-hour": dict(steps=1, step_size=EPSILON / 4, epochs=32, guard=False, carry=True, average=0.999,
                                       activation="silu"),
    "fashion-cnn-trades-atta-hour": dict(steps=1, step_size=EPSILON / 4, epochs=20, guard=False, carry=True, average=0.999, trades=2.0),
    "fashion-resnet-atta-hour": dict(steps=1, step_size=EPSILON / 4, epochs=36, guard=False, carry=True, average=0.999,
                                     architecture="preact-resnet"),
    "fashion-resnet96-atta-hour": dict(steps=1, step_size=EPSILON / 4, epochs=26, guard=False, carry=True, average=0.999,
                                       architecture="preact-resnet", widths=[16, 32, 96]),
    "fashion-resnet-atta-lowdecay-hour": dict(steps=1, step_size=EPSILON / 4, epochs=29, guard=False, carry=True, average=0.999,
                                              architecture="preact-resnet", weight_decay=2e-4),
    "fashion-resnet-silu-atta-hour": dict(steps=1, step_size=EPSILON / 4, epochs=26, guard=False, carry=True, average=0.999,
                                          architecture="preact-resnet", activation="silu"),
    "fashion-resnet-deep-atta-hour": DEEP_RESNET_ATTA,
    # the deep recipe with its training attack on a wider ball, the step a quarter of its radius
    "fashion-resnet-deep-atta-wide-ball-hour": dict(DEEP_RESNET_ATTA, epsilon=0.11, step_size=0.11 / 4),
    "fashion-resnet-deep-atta-ball106-hour": dict(DEEP_RESNET_ATTA, epsilon=0.106, step_size=0.106 / 4),
}
VALIDATION = 1_000   # advd's default: the last 1,000 training examples


def split(name):
    images = torch.from_numpy(idx(f"{FOLDER}/{name}-images-idx3-ubyte.gz").astype(np.float32) / 255).unsqueeze(1)
    labels = torch.from_numpy(idx(f"{FOLDER}/{name}-labels-idx1-ubyte.gz").astype(np.int64))
    return images, labels


def model_spec(recipe):
    """advd's ModelSpec of the recipe's model (what the weights' metadata records)."""
    spec = {"architecture": recipe.get("architecture", "cnn-small"), "inputShape": [1, 28, 28], "classes": 10}
    if "widths" in recipe:
        spec["widths"] = recipe["widths"]
    if "blocks_per_stage" in recipe:
        spec["blocksPerStage"] = recipe["blocks_per_stage"]
    if recipe.get("activation", "relu") != "relu":
        spec["activation"] = recipe["activation"]
    return spec


def random_start(x, generator, epsilon=EPSILON):
    return (x + (torch.rand(x.shape, generator=generator) * 2 - 1) * epsilon).clamp(0, 1)


def project(adversarial, x, epsilon=EPSILON):
    """The nearest point of the L-inf ball of radius epsilon around x within the valid range [0, 1]."""
    return torch.min(torch.max(adversarial, x - epsilon), x + epsilon).clamp(0, 1)


def pgd(model, x, y, steps, step_size, generator, start=None, epsilon=EPSILON):
    """L-inf PGD on the cross-entropy from `start` (default: a uniform random point of the ball), in eval
    mode, input gradients only."""
    adversarial = random_start(x, generator, epsilon) if start is None else start
    for _ in range(steps):
        adversarial.requires_grad_(True)
        loss = F.cross_entropy(model(adversarial), y)
        gradient, = torch.autograd.grad(loss, adversarial)
        with torch.no_grad():
            adversarial = adversarial + step_size * gradient.sign()
            adversarial = project(adversarial, x, epsilon)
    return adversarial.detach()


def kl_divergence(clean_logits, logits):
    """KL(softmax(clean) || softmax(logits)), summed over classes, averaged over the batch (TRADES's term)."""
    return F.kl_div(F.log_softmax(logits, dim=1), F.log_softmax(clean_logits, dim=1), reduction="batchmean", log_target=True)


def trades_attack(model, x, steps, step_size, generator, start=None, epsilon=EPSILON):
    """TRADES's inner attack: L-inf PGD ascending the KL divergence from the clean outputs, from `start`
    (default: 0.001 N(0, 1) away from x), in eval mode, input gradients only."""
    with torch.no_grad():
        clean_logits = model(x)
    adversarial = project(x + 0.001 * torch.randn(x.shape, generator=generator), x, epsilon) if start is None else start
    for _ in range(steps):
        adversarial.requires_grad_(True)
        gradient, = torch.autograd.grad(kl_divergence(clean_logits, model(adversarial)), adversarial)
        with torch.no_grad():
            adversarial = project(adversarial + step_size * gradient.sign(), x, epsilon)
    return adversarial.detach()


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--example", choices=sorted(RECIPES), default="fashion-cnn-hour",
                        help="the example manifest whose recipe to train: " + "; ".join(f"{name}: {recipe}" for name, recipe in RECIPES.items()))
    parser.add_argument("--epochs", type=int, help="default: the manifest's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="default: runs/torch-<the example's name>")
    parser.add_argument("--train-examples", type=int, help="train on the first N only (a quick check of the script)")
    args = parser.parse_args()
    example, recipe = args.example, RECIPES[args.example]
    args.epochs = args.epochs or recipe["epochs"]
    args.out = args.out or f"runs/torch-{example}"
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)

    images, labels = split("train")
    train_x, train_y = images[:-VALIDATION], labels[:-VALIDATION]
    if args.train_examples:
        train_x, train_y = train_x[:args.train_examples], train_y[:args.train_examples]
    valid_x, valid_y = images[-VALIDATION:], labels[-VALIDATION:]
    model = build(model_spec(recipe))
    batch = 128
    steps_per_epoch = (len(train_x) + batch - 1) // batch
    total_steps = steps_per_epoch * args.epochs
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9,
                                weight_decay=recipe.get("weight_decay", 5e-4))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + np.cos(np.pi * min(step / total_steps, 1))))

    print(f"torch {torch.__version__}, {args.threads} threads, {platform.processor() or platform.machine()}, "
          f"{len(train_x)} training images, {args.epochs} epochs of {steps_per_epoch} steps", flush=True)
    started = time.perf_counter()
    stepping = 0.0   # the training steps' time, without the per-epoch validation: what advd's metrics call training time
    best = None   # fast-at's guard: (held-out PGD-10 accuracy, epoch, weights) of the best epoch
    if recipe["carry"]:   # ATTA: each image's perturbation after its last visit, and whether it had one
        carried, visited = torch.zeros_like(train_x), torch.zeros(len(train_x), dtype=torch.bool)
    average = copy.deepcopy(model) if recipe["average"] else None
    trades = recipe.get("trades")   # TRADES's beta, or None: cross-entropy on the attack's points
    radius = recipe.get("epsilon", EPSILON)   # the training attack's; validation and evaluation use EPSILON
    updates = 0
    for epoch in range(args.epochs):
        epoch_started = time.perf_counter()
        order = torch.randperm(len(train_x), generator=generator)
        steps_started = time.perf_counter()
        for step in range(steps_per_epoch):
            chosen = order[step * batch:(step + 1) * batch]
            x, y = train_x[chosen], train_y[chosen]
            model.eval()
            for parameter in model.parameters():
                parameter.requires_grad_(False)
            start = None
            if recipe["carry"]:
                # advd draws the fresh start for the whole batch, then uses the carried perturbations
                if trades is None:
                    fresh = random_start(x, generator, radius)
                else:
                    fresh = x + 0.001 * torch.randn(x.shape, generator=generator)
                seen = visited[chosen].view(-1, 1, 1, 1)
                start = project(torch.where(seen, x + carried[chosen], fresh), x, radius)
            if trades is None:
                adversarial = pgd(model, x, y, steps=recipe["steps"], step_size=recipe["step_size"], generator=generator,
                                  start=start, epsilon=radius)
            else:
                adversarial = trades_attack(model, x, steps=recipe["steps"], step_size=recipe["step_size"], generator=generator,
                                            start=start, epsilon=radius)
            if recipe["carry"]:
                carried[chosen], visited[chosen] = adversarial - x, True
            for parameter in model.parameters():
                parameter.requires_grad_(True)
            model.train()
            optimizer.zero_grad(set_to_none=False)
            if trades is None:
                F.cross_entropy(model(adversarial), y).backward()
            else:
                clean_logits = model(x)
                (F.cross_entropy(clean_logits, y) + trades * kl_divergence(clean_logits, model(adversarial))).backward()
            optimizer.step()
            schedule.step()
            updates += 1
            if average is not None:
                # advd's rule: decay min(d, (1 + t) / (10 + t)) after t steps, BatchNorm's running
                # statistics included (its step counter, which advd does not keep, is copied)
                keep = min(recipe["average"], (1 + updates) / (10 + updates))
                with torch.no_grad():
                    for mean, live in zip(average.state_dict().values(), model.state_dict().values()):
                        if mean.is_floating_point():
                            mean.mul_(keep).add_(live, alpha=1 - keep)
                        else:
                            mean.copy_(live)
        stepping += time.perf_counter() - steps_started
        measured = average if average is not None else model
        measured.eval()
        clean = accuracy(measured, valid_x, valid_y)
        robust = accuracy(measured, pgd(measured, valid_x, valid_y, steps=10, step_size=EPSILON / 4, generator=generator), valid_y)
        print(f"epoch {epoch + 1}/{args.epochs}  validation acc {clean * 100:.2f}%  validation PGD-10 acc {robust * 100:.2f}%  "
              f"{time.perf_counter() - epoch_started:.1f} s", flush=True)
        if recipe["guard"]:
            # Wong et al.'s guard, as advd's: a collapse of held-out PGD accuracy by more than twenty
            # points below the best restores that epoch's weights and stops
            if best is not None and robust < best[0] - 0.2:
                model.load_state_dict(best[2])
                print(f"catastrophic overfitting at epoch {epoch + 1}: rolled back to epoch {best[1]}", flush=True)
                break
            if best is None or robust >= best[0]:
                best = (robust, epoch + 1, {name: tensor.clone() for name, tensor in model.state_dict().items()})
    seconds = time.perf_counter() - started
    print(f"training took {seconds:.0f} s, {stepping:.0f} s of it in training steps", flush=True)

    os.makedirs(args.out, exist_ok=True)
    weights = os.path.abspath(os.path.join(args.out, "model.safetensors"))
    spec = model_spec(recipe)
    state = {name: tensor.contiguous() for name, tensor in (average if average is not None else model).state_dict().items()}
    save_file(state, weights, metadata={"model": json.dumps(spec), "format": "pt"})
    with open(os.path.join(args.out, "evaluate.yaml"), "w") as manifest:
        manifest.write(f"""# Written by bench/torch_time_to_robustness.py: advd evaluates the PyTorch-trained {spec["architecture"]}
# ({example}'s recipe, {args.epochs} epochs, {args.threads} threads, training steps {stepping:.0f} s of {seconds:.0f} s wall, torch {torch.__version__})
# with the battery of examples/{example}.yaml.
name: {example}-torch
seed: 0
dataset:
  name: fashion-mnist
model:
  weights: {weights}
threat_model:
  norm: linf
  epsilon: {EPSILON}
evaluation:
  attacks:
    - {{name: pgd, steps: 20, step_size: 0.01}}
    - {{name: apgd, loss: ce}}
    - {{name: apgd, loss: dlr}}
    - {{name: square, queries: 1000}}
""")
    with open(os.path.join(args.out, "training.json"), "w") as out:
        json.dump({"torch": torch.__version__, "threads": args.threads, "example": example, "epochs": args.epochs,
                   "trainingSeconds": stepping, "wallSeconds": seconds, "machine": platform.machine()}, out, indent=2)
    print(f"wrote {weights} and {os.path.join(args.out, 'evaluate.yaml')}")


if __name__ == "__main__":
    main()
