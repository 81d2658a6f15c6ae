#!/usr/bin/env python3
"""PyTorch reference for advbench: the same models, batch, steps and thread counts, on the CPU.

Optional (needs `pip install torch`); CI never runs it. Writes the same JSON shape as
`advbench --json`, so bench/compare.sh can print advd/PyTorch ratios.

Rows: the MLP 784-256-256-10, the wide MLP 784-1024-1024-10, cnn-small (Madry et al.'s MNIST CNN), LeNet-5
and a small pre-activation ResNet, built as advd builds them, on 1x28x28 inputs, batches 32, 128 and 512;
"training" is one clean step (zero_grad, forward, cross-entropy, backward, SGD with momentum 0.9);
"inference" is a forward pass in eval mode under torch.inference_mode(); "PGD-20" attacks the batch
in eval mode (L-inf eps 0.1, step 0.01, uniform random start, cross-entropy, 20 steps, then one forward
to judge), as torchattacks.PGD does, with input gradients only.
"""
import argparse
import json
import time

import torch
import torch.nn as nn

from advd_models import build   # advd's architectures in PyTorch, beside this script


def advd_model(architecture, **options):
    """A constructor of the architecture advd builds for 1x28x28 inputs and 10 classes."""
    return lambda: build({"architecture": architecture, "inputShape": [1, 28, 28], "classes": 10, **options})


MODELS = {"mlp": advd_model("mlp", hidden=[256, 256]), "mlp-wide": advd_model("mlp", hidden=[1024, 1024]),
          "cnn-small": advd_model("cnn-small"), "lenet": advd_model("lenet"), "preact-resnet": advd_model("preact-resnet")}


def flops(model, batch):
    """2 per multiply-add of every Linear and Conv2d (nested ones too); training skips the first such
    layer's input gradient."""
    counts = []

    def hook(layer, inputs, output):
        if isinstance(layer, nn.Linear):
            counts.append(batch * layer.in_features * layer.out_features)
        else:
            counts.append(output.numel() * layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1])
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    with torch.no_grad():
        model.eval()
        model(torch.zeros(batch, 1, 28, 28))
    for handle in handles:
        handle.remove()
    forward = sum(2 * macs for macs in counts)
    training = sum(2 * macs * (2 if index == 0 else 3) for index, macs in enumerate(counts))
    return forward, training


def seconds_per_call(body, warm_up=3, rounds=5, round_seconds=0.4):
    """Best of several rounds, each at least round_seconds long (as advbench's Stopwatch)."""
    for _ in range(warm_up):
        body()
    best = float("inf")
    for _ in range(rounds):
        calls, start = 0, time.perf_counter()
        while True:
            body()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= round_seconds:
                break
        best = min(best, elapsed / calls)
    return best


def pgd(model, x, y, eps, alpha, steps):
    """PGD as torchattacks implements it: gradients w.r.t. the input only."""
    loss_fn = nn.CrossEntropyLoss()
    adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = loss_fn(model(adv), y)
        grad, = torch.autograd.grad(loss, adv)
        adv = adv.detach() + alpha * grad.sign()
        adv = (x + (adv - x).clamp(-eps, eps)).clamp(0, 1)
    return adv.detach()


def pgd20(model, x, y):
    """A PGD-20 evaluation: the attack with frozen parameters, then one judging forward."""
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    adv = pgd(model, x, y, eps=0.1, alpha=0.01, steps=20)
    with torch.no_grad():
        return model(adv).argmax(1)


def measure(name, mode, threads, batch):
    torch.manual_seed(0)
    model = MODELS[name]()
    x = torch.rand(batch, 1, 28, 28)
    y = torch.arange(batch) % 10
    forward_flops, training_flops = flops(model, batch)
    if mode == "training":
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()

        def step():
            optimizer.zero_grad(set_to_none=False)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
        seconds = seconds_per_call(step)
        work = training_flops
    elif mode == "PGD-10 AT":
        # Madry et al.'s step: PGD-10 in eval mode, then an SGD step on the adversarial batch in train mode
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()

        def at_step():
            model.eval()
            for parameter in model.parameters():
                parameter.requires_grad_(False)
            adv = pgd(model, x, y, eps=0.1, alpha=0.025, steps=10)
            for parameter in model.parameters():
                parameter.requires_grad_(True)
            model.train()
            optimizer.zero_grad(set_to_none=False)
            loss_fn(model(adv), y).backward()
            optimizer.step()
        seconds = seconds_per_call(at_step, warm_up=1, rounds=3)
        work = 10 * 2 * forward_flops + training_flops
    elif mode == "PGD-20":
        model.eval()
        seconds = seconds_per_call(lambda: pgd20(model, x, y), warm_up=1, rounds=3)
        # 20 forward + input-gradient passes (as many multiply-adds as the forward), and a judging forward
        work = 20 * 2 * forward_flops + forward_flops
    else:
        model.eval()

        def infer():
            with torch.inference_mode():
                model(x)
        seconds = seconds_per_call(infer)
        work = forward_flops
    return {"model": name, "threads": threads, "batchSize": batch, "mode": mode,
            "samplesPerSecond": batch / seconds, "gflops": work / seconds / 1e9}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--batch-sizes", default="32,128,512")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--json")
    args = parser.parse_args()
    rows = []
    batches = [int(b) for b in args.batch_sizes.split(",")]
    print(f"torch {torch.__version__}, batches {batches}")
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for name in args.models.split(","):
            for batch in batches:
                for mode in ["training", "inference", "PGD-20", "PGD-10 AT"]:
                    row = measure(name, mode, threads, batch)
                    rows.append(row)
                    print(f"{name:14} {threads:7d} {batch:6d}  {mode:10} {row['samplesPerSecond']:11.0f} {row['gflops']:11.1f}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"torch": torch.__version__, "batchSizes": batches, "rows": rows}, out, indent=2)


if __name__ == "__main__":
    main()
