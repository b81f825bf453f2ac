"""Temporal sharing on scene clips (issue 12, item 4): FLOPs per frame and accuracy of reusing the
previous frame's activations, against processing every frame in full.

Trains one multi-task ViT (``--model vit``, standard size) on ``scenes`` with the package's
trainer, calibrates per-layer thresholds on one clip (:func:`threshold_for_sparsity`: the
fraction of temporal input changes dropped), then runs other clips (other scenes, the ``scenes``
test images' scenes) frame by frame. FLOPs are counted from the non-zeros of each frame's deltas;
metrics are each task's own, against the exact labels of every frame, averaged over the clips.

    .venv/bin/python bench/sharing_video.py [--n-train 2000] [--epochs 5] [--clips 4]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mtlgroup.data import load_dataset
from mtlgroup.data.clips import DEFAULT_SPEED, scene_clip, scene_clips
from mtlgroup.sharing.temporal import evaluate_clip, threshold_for_sparsity
from mtlgroup.training import TrainConfig, train_network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="semseg,depth")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--clips", type=int, default=4, help="evaluation clips (scenes)")
    parser.add_argument("--speed", type=float, default=DEFAULT_SPEED, help="metres per frame")
    parser.add_argument("--sparsity", default="0.5,0.9",
                        help="target fractions of temporal changes dropped (one row each)")
    parser.add_argument("--key-every", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tasks = args.tasks.split(",")

    start = time.perf_counter()
    data = load_dataset("scenes", n_train=args.n_train, n_val=200, n_test=8, size=args.size,
                        seed=args.seed)
    config = TrainConfig(epochs=args.epochs, batch_size=64, seed=args.seed, device="cpu",
                         progress=False)
    network, result = train_network(tasks, data, config=config, model="vit")
    network.eval()
    trained = time.perf_counter() - start
    val = result.loss("val")
    print(f"ViT on scenes {args.size}px, tasks {', '.join(tasks)}: {args.n_train} images, "
          f"{args.epochs} epochs, {trained:.0f} s; val loss "
          + ", ".join(f"{t} {val[t]:.3f}" for t in tasks))

    clips = scene_clips(args.clips, args.frames, args.size, args.seed, args.speed)
    calibration = scene_clip(args.seed, args.frames, args.size, args.speed, index=args.clips)
    settings: list[tuple[str, float | dict[str, float]]] = [("exact deltas (τ=0)", 0.0)]
    for sparsity in (float(s) for s in args.sparsity.split(",")):
        tau = threshold_for_sparsity(network, calibration.images, sparsity)
        settings.append((f"τ: drop {sparsity:.0%} of changes", tau))

    # each task's first own metric (accuracy for semseg, l1 for depth), else its loss
    metric = {t: next((m.name for m in data.tasks[t].metrics), "loss") for t in tasks}
    header = ["setting", "MFLOPs/frame", "ratio", "kept δ"] + [
        f"{t} {metric[t]}" for t in tasks]
    rows = []
    full_scores: dict[str, list[float]] = {t: [] for t in tasks}
    for label, thresholds in settings:
        evaluations = [evaluate_clip(network, clip, tasks, thresholds, args.key_every)
                       for clip in clips]
        if not rows:
            for t in tasks:
                full_scores[t] = [e.full[t][metric[t]] for e in evaluations]
            full_flops = evaluations[0].full_flops
            non_linear = full_flops - evaluations[0].run.linear_flops[0]  # a key frame
            rows.append(["every frame in full", f"{full_flops / 1e6:.2f}", "1.000", "1.000"]
                        + [f"{statistics.mean(full_scores[t]):.4f}" for t in tasks])
        kept = statistics.mean(statistics.mean(e.run.kept.values()) for e in evaluations)
        rows.append([label, f"{statistics.mean(e.mean_flops for e in evaluations) / 1e6:.2f}",
                     f"{statistics.mean(e.flop_ratio for e in evaluations):.3f}",
                     f"{kept:.3f}"]
                    + [f"{statistics.mean(e.temporal[t][metric[t]] for e in evaluations):.4f}"
                       for t in tasks])
    print(f"{args.clips} clips of {args.frames} frames, camera {args.speed} m/frame, "
          f"key frames: {'first only' if args.key_every is None else f'every {args.key_every}'}")
    print(f"outside the linear layers (attention products, heads; always dense): "
          f"{non_linear / full_flops:.1%} of a full frame's FLOPs")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))


if __name__ == "__main__":
    main()
