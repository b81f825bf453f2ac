"""CPU time of a sub-task's linear layer from sparse differences against the dense layer.

Usage: .venv/bin/python bench/sharing_kernels.py [--batch 64] [--repeats 20] [--threads 0]

For the linear layers of the standard ViT (``D = 64``, ``32×32`` images in ``4×4`` patches: 64
tokens per image, ``batch × 64`` rows) it times, side by side on the same inputs, the dense
layer ``F.linear(x_sub, W_sub, b_sub)`` (what an independent network computes) and

- ``layer``: :class:`~mtlgroup.sharing.sparse.SparseDeltaLinear` as the shared model runs it
  (difference, threshold, CSR of ``δ``, both sparse products added into ``y_base``; dense
  fallback off);
- ``y_base + W_base·δ`` by the chosen kernel (``addmm``: CSR built from the non-zeros, added
  into ``y_base``) and by the ways it did not choose: ``csr @ W`` then an addition,
  ``to_sparse_csr`` (torch's own conversion) and ``gather`` (``index_add_`` of the weight
  columns of each non-zero), each followed by the addition;
- ``y_base + (M⊙Δ)·x`` by the stored CSR in ``addmm`` (chosen), by ``csr @ x`` then an
  addition, and by ``gather`` (``index_add_`` over output rows).

Each number is a median time over the dense layer's median time (below 1: faster than dense),
for activation sparsities (fraction of ``δ`` dropped) and weight densities. Then the whole
model: :class:`~mtlgroup.sharing.model.SharedMultiTaskViT` with one sub-task against the two
independent networks, at thresholds giving each sparsity (per-layer quantiles of ``|δ|``).

Measured (torch 2.13 CPU, 1 thread, batch 64, on a 2-core machine shared with other jobs, so
±30%): the sub-task layer is 2–3.5× the dense layer's time at 99% activation sparsity and 1%
weight density, 3–5× at 90% / 5%; of its parts, ``δ:addmm`` is 1.0–2.2× and ``Δ:addmm``
0.9–1.2×, each faster than ``csr @`` + addition, ``to_sparse_csr`` and ``gather``. The whole
model counts 0.62–0.65 of the independent networks' FLOPs at 90–99% sparsity, yet takes
1.7–2.4× their time: fewer FLOPs, not less CPU time, at ``D = 64``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from mtlgroup.models.vit import vit_network
from mtlgroup.sharing.deltas import LinearRecorder, TaskDelta, own_state_of, subtask_network
from mtlgroup.sharing.model import SharedMultiTaskViT
from mtlgroup.sharing.sparse import SparseDeltaLinear, csr_of_nonzeros
from mtlgroup.tasks import Task

LAYERS = {"qkv": (192, 64), "proj": (64, 64), "fc1": (128, 64), "fc2": (64, 128)}
"""Linear layers of one block of the standard ViT: name → (d_out, d_in)."""
SPARSITIES = (0.5, 0.9, 0.99)
COLUMNS = (("layer", 6), ("δ:addmm", 7), ("δ:csr@", 6), ("δ:to_csr", 8), ("δ:gather", 8),
           ("Δ:addmm", 7), ("Δ:csr@", 6), ("Δ:gather", 8))
WIDTHS = tuple(width for _, width in COLUMNS)
DENSITIES = (0.01, 0.05, 0.1)


def median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: first calls allocate
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sparse_like(shape: tuple[int, int], fraction_zero: float, generator: torch.Generator) -> Tensor:
    values = torch.randn(shape, generator=generator)
    return values * (torch.rand(shape, generator=generator) >= fraction_zero)


def gather_rows(delta: Tensor, weight: Tensor) -> Tensor:
    """``δ·Wᵀ`` by adding, for each non-zero ``δ[r, c]``, ``δ[r, c]·W[:, c]`` to row ``r``."""
    rows, cols = delta.nonzero(as_tuple=True)
    out = delta.new_zeros(delta.shape[0], weight.shape[0])
    return out.index_add_(0, rows, weight.t()[cols] * delta[rows, cols, None])


def gather_weight(x: Tensor, weight_delta: Tensor) -> Tensor:
    """``x·(M⊙Δ)ᵀ`` by adding, for each non-zero ``Δ[o, i]``, ``Δ[o, i]·x[:, i]`` to column o."""
    outs, ins = weight_delta.nonzero(as_tuple=True)
    out = x.new_zeros(x.shape[0], weight_delta.shape[0])
    return out.index_add_(1, outs, x[:, ins] * weight_delta[outs, ins])


def kernel_table(tokens: int, repeats: int) -> None:
    generator = torch.Generator().manual_seed(0)
    print(f"kernels, {tokens} rows; time / dense F.linear time (median of {repeats})")
    print(f"{'layer':>5} {'d_out×d_in':>10} {'dense ms':>8} {'sparsity':>8} {'density':>7} "
          + " ".join(f"{name:>{width}}" for name, width in COLUMNS))
    for name, (d_out, d_in) in LAYERS.items():
        weight = torch.randn(d_out, d_in, generator=generator) / d_in**0.5
        bias = torch.randn(d_out, generator=generator)
        x_base = torch.randn(tokens, d_in, generator=generator)
        for sparsity in SPARSITIES:
            delta = sparse_like((tokens, d_in), sparsity, generator)
            for density in DENSITIES:
                weight_delta = sparse_like((d_out, d_in), 1 - density, generator)
                dense, row = kernel_row(x_base, delta, weight, bias, weight_delta, repeats)
                print(f"{name:>5} {f'{d_out}×{d_in}':>10} {dense * 1e3:8.3f} {sparsity:8.2f} "
                      f"{density:7.2f} " + " ".join(f"{v:{w}.2f}" for v, w in
                                                   zip(row, WIDTHS, strict=True)))


def kernel_row(x_base: Tensor, delta: Tensor, weight: Tensor, bias: Tensor,
               weight_delta: Tensor, repeats: int) -> tuple[float, list[float]]:
    """The dense layer's median seconds, and each way's time over it (see the docs)."""
    x_sub = x_base + delta
    y_base = F.linear(x_base, weight, bias)
    w_sub = weight + weight_delta
    layer = SparseDeltaLinear.from_dense(weight_delta)
    csr_delta = _csr_delta(weight_delta)
    dense = median_time(lambda: F.linear(x_sub, w_sub, bias), repeats)
    ways: list[Callable[[], object]] = [
        lambda: layer(x_sub, x_base, y_base, weight),
        lambda: torch.addmm(y_base, csr_of_nonzeros(delta, delta != 0)[0], weight.t()),
        lambda: y_base + csr_of_nonzeros(delta, delta != 0)[0] @ weight.t(),
        lambda: y_base + delta.to_sparse_csr() @ weight.t(),
        lambda: y_base + gather_rows(delta, weight),
        lambda: torch.addmm(y_base.t(), csr_delta, x_sub.t()).t(),
        lambda: y_base + (csr_delta @ x_sub.t()).t(),
        lambda: y_base + gather_weight(x_sub, weight_delta),
    ]
    return dense, [median_time(way, repeats) / dense for way in ways]


def _csr_delta(weight_delta: Tensor) -> Tensor:
    csr, _ = csr_of_nonzeros(weight_delta, weight_delta != 0)
    return csr


def model_table(batch: int, repeats: int) -> None:
    """The whole shared model (base + one sub-task) against two independent ViTs."""
    torch.manual_seed(0)
    shape = (3, 32, 32)
    base = vit_network([Task("a", "label", 5)], shape).eval()
    single = vit_network([Task("b", "label", 5)], shape).eval()
    x = torch.randn(batch, *shape)
    print(f"\nwhole model, batch {batch}: shared (base a + sub-task b) / two independent ViTs")
    print(f"{'density':>7} {'sparsity':>8} {'FLOPs':>6} {'time':>6}")
    for density in (0.05,):
        weights = {}
        for name in base.encoder.linear_names:
            w = base.encoder.linear_layer(name).weight.detach()
            weights[name] = sparse_like(tuple(w.shape), 1 - density, torch.Generator()
                                        .manual_seed(1)) * 0.02
        own = own_state_of(base.encoder)
        delta = TaskDelta("b", weights, own, single.heads["b"])
        reference = subtask_network(base, delta).eval()
        for sparsity in (0.0, 0.9, 0.99):
            delta.thresholds = thresholds(base, reference, x, sparsity)
            shared = SharedMultiTaskViT(base, "a", {"b": delta}).eval()
            flops_ratio, time_ratio = compare(shared, [base, reference], x, repeats)
            print(f"{density:7.2f} {sparsity:8.2f} {flops_ratio:6.3f} {time_ratio:6.2f}")


def compare(shared: SharedMultiTaskViT, independent: list[torch.nn.Module], x: Tensor,
            repeats: int) -> tuple[float, float]:
    """Counted FLOPs and median time of ``shared`` over those of the independent networks."""
    with torch.inference_mode():
        flops = shared.counted_flops(x)
        alone = median_time(lambda: [network(x) for network in independent], repeats)
        measured = median_time(lambda: shared(x), repeats)
    return flops.ratio, measured / alone


def thresholds(base: torch.nn.Module, sub: torch.nn.Module, x: Tensor,
               sparsity: float) -> dict[str, float]:
    """Per layer, the ``sparsity`` quantile of ``|x_sub − x_base|`` (0: keep everything)."""
    if sparsity == 0:
        return {}
    recorded = [LinearRecorder(), LinearRecorder()]
    with torch.inference_mode():
        base.encoder(x, recorded[0])
        sub.encoder(x, recorded[1])
    found = {}
    for name, x_base in recorded[0].inputs.items():
        difference = (recorded[1].inputs[name] - x_base).abs().flatten()
        found[name] = float(torch.quantile(difference[:1 << 20], sparsity))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64, help="images per batch (64 tokens each)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: as set)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    with torch.inference_mode():
        kernel_table(args.batch * 64, args.repeats)
    model_table(args.batch, args.repeats)


if __name__ == "__main__":
    main()
