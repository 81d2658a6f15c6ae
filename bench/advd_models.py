"""advd's architectures in PyTorch, under advd's tensor names (its checkpoints use PyTorch's
state_dict names): the bench scripts build every model from here, from the ModelSpec an advd
checkpoint records ({"architecture": ..., "inputShape": ..., "classes": ..., and its options}).

Needs only torch (and safetensors to load a model file).
"""
import json

import torch
import torch.nn as nn


class PreActBlock(nn.Module):
    """advd's PreActivationBlock under its names: BN, ReLU, conv 3x3 (stride), BN, ReLU, conv 3x3, plus a
    1x1 convolution of the activated input (`shortcut.0`) where the width or stride changes, else the
    input itself; `activation` (a callable: torch.relu, or a module such as nn.SiLU()) in place of the ReLUs."""
    def __init__(self, inputs, outputs, stride, activation=torch.relu):
        super().__init__()
        self.activation = activation
        self.bn1, self.conv1 = nn.BatchNorm2d(inputs), nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(outputs), nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        changes = stride != 1 or inputs != outputs
        self.shortcut = nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False)) if changes else None

    def forward(self, x):
        activated = self.activation(self.bn1(x))
        residual = self.conv2(self.activation(self.bn2(self.conv1(activated))))
        return residual + (self.shortcut(activated) if self.shortcut is not None else x)


class GlobalAvgPool(nn.Module):
    """advd's GlobalAvgPool: the mean of each channel's plane, flattened (one layer, so the classifier
    keeps advd's index)."""
    def forward(self, x):
        return x.mean((2, 3))


def build(spec):
    """The nn.Sequential advd's ModelSpec describes (mlp, linear and cnn-small, with their widths and
    activation; lenet; preact-resnet, with its widths, blocks per stage and activation)."""
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
    elif spec["architecture"] == "lenet":
        # advd pads the first convolution of images up to 28x28, as LeNet-5's 32x32 inputs were padded
        layers = [nn.Conv2d(c, 6, 5, padding=2 if h <= 28 else 0), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()]
        features = nn.Sequential(*layers)(torch.zeros(1, c, h, w)).shape[1]
        layers += [nn.Linear(features, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, spec["classes"])]
    elif spec["architecture"] == "preact-resnet":
        widths = spec.get("widths") or [16, 32, 64]
        layers, width = [nn.Conv2d(c, widths[0], 3, padding=1, bias=False)], widths[0]
        for stage, stage_width in enumerate(widths):
            for block in range(spec.get("blocksPerStage") or 1):
                layers.append(PreActBlock(width, stage_width, 2 if stage > 0 and block == 0 else 1, act()))
                width = stage_width
        layers += [nn.BatchNorm2d(width), act(), GlobalAvgPool(), nn.Linear(width, spec["classes"])]
    else:
        raise SystemExit(f"advd_models builds mlp, linear, cnn-small, lenet and preact-resnet, not {spec['architecture']}")
    return nn.Sequential(*layers)


def load(path):
    """The model an advd model.safetensors holds, built from the spec in its metadata with every tensor
    loaded (strict but for BatchNorm's num_batches_tracked, a counter advd does not keep), in eval
    mode; and that spec."""
    from safetensors import safe_open
    from safetensors.torch import load_file
    with safe_open(path, framework="pt") as f:
        spec = json.loads(f.metadata()["model"])
    model = build(spec)
    missing, unexpected = model.load_state_dict(load_file(path), strict=False)
    missing = [name for name in missing if not name.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"{path}: missing {missing}, unexpected {unexpected}")
    return model.eval(), spec
