"""Time the reference CTC loss + gradient against torch's native CTC on CPU.

Usage: python benchmarks/ctc_reference_vs_native.py [--repeats 5] [--threads N]

Batch 32, T = 500 frames, 80 classes, targets of length 100, float32.  Each
measurement is one forward and one backward pass through ``log_softmax`` and
the loss; the table reports the median over the repeats after a warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from recog.ctc.lattice import reference_ctc_loss

BATCH_SIZE = 32
NUM_FRAMES = 500
NUM_CLASSES = 80
TARGET_LENGTH = 100


def make_inputs(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(NUM_FRAMES, BATCH_SIZE, NUM_CLASSES, generator=generator)
    targets = torch.randint(1, NUM_CLASSES, (BATCH_SIZE, TARGET_LENGTH), generator=generator)
    input_lengths = torch.full((BATCH_SIZE,), NUM_FRAMES, dtype=torch.long)
    target_lengths = torch.full((BATCH_SIZE,), TARGET_LENGTH, dtype=torch.long)
    return logits, targets, input_lengths, target_lengths


def forward_backward_ms(loss_fn, inputs, repeats: int, warmup: int = 1) -> float:
    """Median wall time in ms of loss + backward w.r.t. the logits."""
    logits, targets, input_lengths, target_lengths = inputs
    times = []
    for i in range(warmup + repeats):
        leaf = logits.detach().requires_grad_()
        start = time.perf_counter()
        loss = loss_fn(leaf.log_softmax(dim=-1), targets, input_lengths, target_lengths)
        loss.backward()
        elapsed = time.perf_counter() - start
        if i >= warmup:
            times.append(elapsed * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    inputs = make_inputs()
    implementations = {
        "torch.nn.functional.ctc_loss": F.ctc_loss,
        "recog reference_ctc_loss": reference_ctc_loss,
    }
    timings = {
        name: forward_backward_ms(loss_fn, inputs, args.repeats)
        for name, loss_fn in implementations.items()
    }
    native_ms = timings["torch.nn.functional.ctc_loss"]

    print(
        f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}: "
        f"N={BATCH_SIZE} T={NUM_FRAMES} C={NUM_CLASSES} S={TARGET_LENGTH} float32, "
        f"median of {args.repeats}"
    )
    print(f"{'implementation':<32} {'ms fwd+bwd':>12} {'x native':>10}")
    for name, ms in timings.items():
        print(f"{name:<32} {ms:>12.1f} {ms / native_ms:>10.1f}")


if __name__ == "__main__":
    main()
