"""Models for `archcalc from-torch` tests, written the way people write PyTorch (functional calls,
in-place residual adds, torch.flatten), plus zoo specs built by archcalc.to_torch."""
import torch
import torch.nn.functional as F
from torch import nn

import archcalc


def resnet50():
    return archcalc.to_torch("resnet50")


def mnist_cnn():
    return archcalc.to_torch("mnist_cnn")


class BasicBlock(nn.Module):
    """torchvision's ResNet basic block: two 3×3 convolutions and an identity or 1×1 shortcut."""

    def __init__(self, channels_in, channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = None
        if stride != 1 or channels_in != channels:
            self.downsample = nn.Sequential(nn.Conv2d(channels_in, channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(channels))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return torch.relu(out)


class SmallNet(nn.Module):
    """Residual blocks, a two-branch concat, squeeze-and-excitation and a classifier head."""

    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.block1 = BasicBlock(16, 16)
        self.block2 = BasicBlock(16, 32, stride=2)
        self.branch_a = nn.Conv2d(32, 16, 1)
        self.branch_b = nn.Sequential(nn.Conv2d(32, 8, 3, padding=1, groups=8), nn.MaxPool2d(3, 1, 1))
        self.squeeze = nn.Linear(24, 6)
        self.excite = nn.Linear(6, 24)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(24, classes))

    def forward(self, x):
        x = self.block2(self.block1(self.stem(x)))
        x = torch.cat([self.branch_a(x), self.branch_b(x)], dim=1)
        scale = torch.sigmoid(self.excite(F.relu(self.squeeze(torch.flatten(self.pool(x), 1)))))
        x = x * scale.view(scale.size(0), -1, 1, 1)
        x = self.pool(x)
        return self.head(x.view(x.size(0), -1))


class Unsupported(nn.Module):
    """Layers archcalc has no type for."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.pad = nn.ReflectionPad2d(2)
        self.fold = nn.Unfold(3)

    def forward(self, x):
        return self.fold(self.pad(self.conv(x)))


def not_a_model():
    return 42


class DataDependent(nn.Module):
    """A forward that branches on the data, which torch.fx cannot trace."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x) if x.sum() > 0 else x
