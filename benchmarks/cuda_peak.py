"""The CUDA training peak of zoo specs, measured against archcalc's prediction: the README's table.

    python benchmarks/cuda_peak.py [--batch 8] [SPEC ...]      # every zoo spec when none is named

For each spec, `archcalc.bridges.verify.verify(spec, device="cuda", train=True)` runs one untimed step, then one
measured training-mode forward + backward, and compares `torch.cuda.max_memory_allocated` (less the
cuBLAS workspace the untimed step left allocated) with `archcalc memory --mode training --device cuda`.
Prints a Markdown table with the error per spec and whether every exact quantity (shapes, parameters,
FLOPs, saved-for-backward bytes) agreed. Needs torch with CUDA and an NVIDIA GPU.
"""
import argparse
import sys

from archcalc.spec import zoo
from archcalc.bridges.verify import verify


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", help="zoo names or spec files (default: the whole zoo)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-gib", type=float, default=60, help="larger predicted peaks are skipped")
    options = parser.parse_args()
    import torch
    if not torch.cuda.is_available():
        sys.exit("cuda_peak.py needs an NVIDIA GPU that torch can see")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, batch {options.batch}, fp32\n")
    print("| spec | predicted (bytes) | measured (bytes) | error | cuBLAS workspace (bytes) | exact checks |")
    print("|---|---:|---:|---:|---:|---|")
    for spec in options.specs or zoo.names():
        result = verify(spec, device="cuda", batch=options.batch, train=True, max_gib=options.max_gib)
        if result.memory is None:
            print(f"| {spec} | | | not measured: {'; '.join(result.not_measured)} | | |")
            continue
        predicted, measured = result.memory["predicted_peak"], result.memory["measured_peak"]
        print(f"| {spec} | {predicted:,} | {measured:,} | {(predicted - measured) / measured:+.2%} | "
              f"{result.memory['library_bytes']:,} | {'all agree' if result.ok else 'DISAGREE'} |", flush=True)


if __name__ == "__main__":
    main()
