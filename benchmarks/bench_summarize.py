"""Time the whole `archcalc summarize specs/resnet50.yaml` process against torchinfo summarising the same
ResNet-50 built in torch, and report median wall time and peak memory (max RSS) of each process.

    python benchmarks/bench_summarize.py [--runs 9]

Each measurement is a fresh process, so import time counts, as it does for a user. Peak memory is the
child's own ru_maxrss from os.wait4. torchvision is not needed: the ResNet-50 below is torchvision's
architecture written in plain torch (the child checks it has torchvision's 25,557,032 parameters).
torchinfo is skipped when it is not installed. A third process, bare python importing click, yaml and
tabulate, shows the floor that archcalc's start-up is measured against: archcalc and the floor run
alternately, run by run, so a busy machine slows both alike, and the ratio of their medians is printed
(goal, issue 11: at most 1.25×).
"""
import argparse
import os
import sys
from pathlib import Path

from processes import FLOOR, ROOT, alternating, archcalc_command, measure, medians

SPEC = ROOT / "specs" / "resnet50.yaml"


def median_of(command, runs):
    return medians([measure(command) for _ in range(runs)])


def torchinfo_child():
    """Build torchvision's ResNet-50 in plain torch and print torchinfo's summary of it."""
    import torch
    import torchinfo
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, inplanes, width, stride, downsample):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(width * 4)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, width * 4, 1, stride, bias=False), nn.BatchNorm2d(width * 4),
            ) if downsample else None

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            return self.relu(self.bn3(self.conv3(out)) + identity)

    def stage(inplanes, width, blocks, stride):
        layers = [Bottleneck(inplanes, width, stride, True)]
        layers += [Bottleneck(width * 4, width, 1, False) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    model = nn.Sequential(
        nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1),
        stage(64, 64, 3, 1), stage(256, 128, 4, 2), stage(512, 256, 6, 2), stage(1024, 512, 3, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000),
    )
    assert sum(p.numel() for p in model.parameters()) == 25_557_032
    with torch.no_grad():
        print(torchinfo.summary(model, input_size=(1, 3, 224, 224), verbose=0))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="processes per measurement (median)")
    parser.add_argument("--child", choices=["torchinfo"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return torchinfo_child()

    ours, bare = alternating([archcalc_command() + ["summarize", str(SPEC)], FLOOR], args.runs)
    rows = [("archcalc summarize resnet50", ours), ("python + click, yaml, tabulate (floor)", bare)]
    try:
        import torchinfo  # noqa: F401  (only to know whether it is installed)
        has_torchinfo = True
    except ImportError:
        has_torchinfo = False
    if has_torchinfo:
        child = [sys.executable, str(Path(__file__).resolve()), "--child", "torchinfo"]
        rows.append(("torch ResNet-50 + torchinfo.summary", median_of(child, args.runs)))

    print(f"median of {args.runs} fresh processes each, {sys.executable}, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'process':<42} {'wall (s)':>9} {'peak RSS (MiB)':>15}")
    for label, (wall, rss) in rows:
        print(f"{label:<42} {wall:>9.3f} {rss / 2**20:>15.1f}")
    ratio = ours[0] / bare[0]
    print(f"archcalc summarize resnet50 / floor: {ratio:.2f}× (goal: <= 1.25×, "
          f"{'met' if ratio <= 1.25 else 'not met'}; alternating runs, same interpreter)")
    if has_torchinfo:
        (wall, rss), (t_wall, t_rss) = rows[0][1], rows[2][1]
        ceiling = t_wall / bare[0]
        print(f"archcalc is {t_wall / wall:.1f}× faster and uses {t_rss / rss:.1f}× less peak memory "
              f"(goal: >= 20× and >= 10×: {'met' if t_wall / wall >= 20 and t_rss / rss >= 10 else 'not met'}; "
              f"no program that imports click, yaml and tabulate can be more than {ceiling:.1f}× faster here, "
              "torch's time over the floor's)")
    else:
        print("torchinfo is not installed: install it to compare (pip install torchinfo)")


if __name__ == "__main__":
    main()
