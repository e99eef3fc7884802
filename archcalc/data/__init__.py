"""Package data: accelerators.yaml (datasheet figures of GPUs, read by analysis.roofline). No code."""
