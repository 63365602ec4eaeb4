"""The RetinaFace network (MobileNetV1-0.25 or ResNet-50 backbone, FPN, SSH, three heads) in plain torch.

Module and attribute names follow the biubug6/Pytorch_Retinaface checkpoints exactly
(`mobilenet0.25_Final.pth`, `Resnet50_Final.pth`), so their state dicts load with strict=True:

    body.*          backbone: `stage1..3` (MobileNet) or torchvision-style `conv1, bn1, layer1..4` (ResNet-50)
    fpn.*           output1..3 (1x1 lateral), merge1..2 (3x3 after the top-down sum)
    ssh1..3.*       conv3X3, conv5X5_1, conv5X5_2, conv7X7_2, conv7x7_3
    ClassHead.i / BboxHead.i / LandmarkHead.i .conv1x1   one per pyramid level, 2 anchors per cell

The backbones are written here (torchvision is not a dependency). Layers that carry no weights
(activations, pooling) keep the original Sequential positions so the indices in the keys agree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ANCHORS_PER_CELL = 2

# network name -> (backbone stage-2 width, FPN/SSH width); the three backbone outputs have
# 2x, 4x and 8x the stage-2 width (MobileNet 64/128/256, ResNet-50 512/1024/2048).
NETWORKS: dict[str, tuple[int, int]] = {"mobilenet0.25": (32, 64), "resnet50": (256, 256)}


def canonical_network(network: str) -> str:
    """'mobilenet0.25' or 'resnet50' (accepts the original repo's 'Resnet50' spelling)."""
    name = network.strip().lower()
    if name not in NETWORKS:
        raise ValueError(f"unknown RetinaFace network {network!r}; choose one of {', '.join(NETWORKS)}")
    return name


def conv_bn(cin: int, cout: int, stride: int = 1, leaky: float = 0.0, kernel: int = 3,
            act: bool = True) -> nn.Sequential:
    """[0] conv (no bias), [1] batch norm, [2] LeakyReLU(leaky) when `act` (slope 0 = ReLU)."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.LeakyReLU(negative_slope=leaky, inplace=True))
    return nn.Sequential(*layers)


def conv_dw(cin: int, cout: int, stride: int, leaky: float = 0.1) -> nn.Sequential:
    """Depthwise-separable block: [0-2] 3x3 depthwise conv/bn/act, [3-5] 1x1 pointwise conv/bn/act."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
        nn.LeakyReLU(negative_slope=leaky, inplace=True),
        nn.Conv2d(cin, cout, 1, 1, 0, bias=False), nn.BatchNorm2d(cout),
        nn.LeakyReLU(negative_slope=leaky, inplace=True),
    )


class MobileNetV1(nn.Module):
    """MobileNetV1 at width 0.25, cut after stage3 (no classifier): strides 8, 16, 32."""

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(  # (B, 3, H, W) -> (B, 64, H/8, W/8)
            conv_bn(3, 8, 2, leaky=0.1), conv_dw(8, 16, 1), conv_dw(16, 32, 2),
            conv_dw(32, 32, 1), conv_dw(32, 64, 2), conv_dw(64, 64, 1))
        self.stage2 = nn.Sequential(  # -> (B, 128, H/16, W/16)
            conv_dw(64, 128, 2), *[conv_dw(128, 128, 1) for _ in range(5)])
        self.stage3 = nn.Sequential(conv_dw(128, 256, 2), conv_dw(256, 256, 1))  # -> (B, 256, H/32, W/32)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The three stage outputs, finest first."""
        c1 = self.stage1(x)
        c2 = self.stage2(c1)
        return [c1, c2, self.stage3(c2)]


class Bottleneck(nn.Module):
    """torchvision's ResNet v1.5 bottleneck (stride on the 3x3 conv), same attribute names."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, cin, H, W) -> (B, 4*width, H/stride, W/stride)."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        skip = x if self.downsample is None else self.downsample(x)
        return self.relu(out + skip)


class ResNet50(nn.Module):
    """ResNet-50 without avgpool/fc; returns layer2..4 (strides 8, 16, 32; 512/1024/2048 channels)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (width, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], 1):
            layer = [Bottleneck(cin, width, stride)] + [Bottleneck(width * 4, width) for _ in range(blocks - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*layer))
            cin = width * 4

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The three outputs used by the FPN, finest first."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, 64, H/4, W/4)
        c2 = self.layer2(self.layer1(x))  # (B, 512, H/8, W/8)
        c3 = self.layer3(c2)  # (B, 1024, H/16, W/16)
        return [c2, c3, self.layer4(c3)]  # last (B, 2048, H/32, W/32)


class FPN(nn.Module):
    """Three-level feature pyramid: 1x1 laterals, nearest upsampling, 3x3 merges on levels 1 and 2."""

    def __init__(self, in_channels: list[int], out: int) -> None:
        super().__init__()
        leaky = 0.1 if out <= 64 else 0.0
        self.output1 = conv_bn(in_channels[0], out, leaky=leaky, kernel=1)
        self.output2 = conv_bn(in_channels[1], out, leaky=leaky, kernel=1)
        self.output3 = conv_bn(in_channels[2], out, leaky=leaky, kernel=1)
        self.merge1 = conv_bn(out, out, leaky=leaky)
        self.merge2 = conv_bn(out, out, leaky=leaky)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        """Three (B, C_i, H_i, W_i) -> three (B, out, H_i, W_i)."""
        p1, p2, p3 = self.output1(feats[0]), self.output2(feats[1]), self.output3(feats[2])
        p2 = self.merge2(p2 + F.interpolate(p3, size=p2.shape[-2:], mode="nearest"))
        p1 = self.merge1(p1 + F.interpolate(p2, size=p1.shape[-2:], mode="nearest"))
        return [p1, p2, p3]


class SSH(nn.Module):
    """Context module: 3x3, 5x5 (two 3x3) and 7x7 (three 3x3) branches, concatenated, then ReLU."""

    def __init__(self, cin: int, out: int) -> None:
        super().__init__()
        leaky = 0.1 if out <= 64 else 0.0
        self.conv3X3 = conv_bn(cin, out // 2, act=False)
        self.conv5X5_1 = conv_bn(cin, out // 4, leaky=leaky)
        self.conv5X5_2 = conv_bn(out // 4, out // 4, act=False)
        self.conv7X7_2 = conv_bn(out // 4, out // 4, leaky=leaky)
        self.conv7x7_3 = conv_bn(out // 4, out // 4, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, cin, H, W) -> (B, out, H, W)."""
        mid = self.conv5X5_1(x)
        branches = [self.conv3X3(x), self.conv5X5_2(mid), self.conv7x7_3(self.conv7X7_2(mid))]
        return F.relu(torch.cat(branches, dim=1))


class Head(nn.Module):
    """1x1 conv predicting `values` numbers per anchor: (B, C, H, W) -> (B, H*W*anchors, values)."""

    def __init__(self, cin: int, values: int, anchors: int = ANCHORS_PER_CELL) -> None:
        super().__init__()
        self.values = values
        self.conv1x1 = nn.Conv2d(cin, anchors * values, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Row-major over cells, anchors innermost (the prior-box order)."""
        out = self.conv1x1(x).permute(0, 2, 3, 1)  # (B, H, W, anchors*values)
        return out.reshape(out.shape[0], -1, self.values)


class RetinaFace(nn.Module):
    """Full detector network; forward gives raw box/landmark offsets and face probabilities."""

    def __init__(self, network: str = "mobilenet0.25") -> None:
        super().__init__()
        self.network = canonical_network(network)
        stage2, out = NETWORKS[self.network]
        self.body = MobileNetV1() if self.network == "mobilenet0.25" else ResNet50()
        self.fpn = FPN([stage2 * 2, stage2 * 4, stage2 * 8], out)
        self.ssh1, self.ssh2, self.ssh3 = SSH(out, out), SSH(out, out), SSH(out, out)
        self.ClassHead = nn.ModuleList([Head(out, 2) for _ in range(3)])
        self.BboxHead = nn.ModuleList([Head(out, 4) for _ in range(3)])
        self.LandmarkHead = nn.ModuleList([Head(out, 10) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) mean-subtracted BGR -> loc (B, N, 4), probs (B, N, 2), landmarks (B, N, 10).

        N = sum over strides 8/16/32 of ceil(H/s) * ceil(W/s) * 2; probs[..., 1] is the face score.
        """
        p = self.fpn(self.body(x))
        feats = [self.ssh1(p[0]), self.ssh2(p[1]), self.ssh3(p[2])]
        loc = torch.cat([h(f) for h, f in zip(self.BboxHead, feats)], dim=1)
        logits = torch.cat([h(f) for h, f in zip(self.ClassHead, feats)], dim=1)
        landmarks = torch.cat([h(f) for h, f in zip(self.LandmarkHead, feats)], dim=1)
        return loc, logits.softmax(dim=-1), landmarks
