"""One-run task affinity: overhead, compute to a grouping, and grouping quality.

(a) Overhead. The same training (same initial weights, data order and number of steps) with and
    without TAG probes every 10 steps, alternated in one process so machine load hits all
    alike; also the cosine-only probe, the vmap-batched lookahead, and selective task group
    updates (STGU) per step against a joint step. Target: TAG ≤ 1.3× at every 10.
(b) Compute to a grouping, in measured per-step times of each network size: TAG (one run) vs
    HOA (singles + pairs, ALGORITHMS §1.1) vs the exhaustive study (2^n − 1 + n networks),
    every network trained for the same number of steps as in a study.
(c) ``--quality STUDY_DIR``: given an exhaustive study's ``val.csv``/``test.csv`` (all subsets +
    half-size singles), the test total loss of the groupings chosen at 2 and 3 groups by TAG,
    CS, proximal and HOA against the optimum and the all-task network, and the Spearman
    correlation of each method's pair scores with the measured pairwise relative performance.
    Affinities are read from ``--affinity-dir``/<method>/affinity.csv when present (e.g. from
    ``mtlgroup affinity``; ``tag-0.2`` for ``--tag-fraction 0.2``), else measured here with the
    training options given (pass the study's: ``--epochs``, ``--lr``, ``--batch-size``,
    ``--n-train``, ``--n-val``, ``--size``, ``--seed``).
(d) ``--tag-cost``: a probe step's CPU time against a joint step's, interleaved on one batch:
    exact TAG with a forward pass of its own (before issue 11), exact TAG reusing the step's
    forward pass, first-order TAG (= CS: gradients only); the overhead at every 10 from them.
    Targets: ≤ 1.15× exact, ≤ 1.10× first-order.
(e) ``--agreement``: one exact TAG run per dataset (``scenes`` task set 1 and ``fashion`` at
    the demo's scale: 1000 images, 4 epochs, batch 64, lr 2e-3) gives exact and first-order TAG
    of the same probes; their Spearman rank correlation over the off-diagonal entries, and
    whether they choose the same groups.

    .venv/bin/python bench/affinity.py [--dataset scenes] [--repeats 3] [--steps 80]
    .venv/bin/python bench/affinity.py --quality runs/study --affinity-dir runs/affinity \\
        --epochs 10 --n-train 2000
    .venv/bin/python bench/affinity.py --tag-cost
    .venv/bin/python bench/affinity.py --agreement
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from mtlgroup.affinity import Affinity, LookaheadProbe, estimate_affinity, pairwise_affinity
from mtlgroup.affinity.stgu import SelectiveGroupStrategy
from mtlgroup.data import MultiTaskData, load_dataset
from mtlgroup.models import make_network
from mtlgroup.training import Callback, TrainConfig, Trainer, TrainState, UpdateStrategy


@dataclass
class Timing:
    """Seconds of one training: the whole ``Trainer.fit`` (with its validations) and the mean
    optimizer step, each as wall time and as this process's CPU time. With one torch thread
    the CPU time is what the work costs, whatever else the machine runs."""

    run_wall: float
    run_cpu: float
    step_wall: float
    step_cpu: float


class LoopClock(Callback):
    """Time from the start of training to the end of its last step (no final evaluation)."""

    def on_train_begin(self, state: TrainState) -> None:
        self.started = (time.perf_counter(), time.process_time())

    def on_step_end(self, state: TrainState) -> None:
        self.wall = time.perf_counter() - self.started[0]
        self.cpu = time.process_time() - self.started[1]
        self.steps = state.step


def bench_data(args: argparse.Namespace) -> tuple[MultiTaskData, list[str]]:
    data = load_dataset(args.dataset, n_train=args.n_train, n_val=args.n_val,
                        n_test=args.n_val)
    if args.dataset == "scenes":
        from mtlgroup.data.scenes import TASK_SET_1

        return data, list(TASK_SET_1)
    return data, list(data.tasks.names)


def timed_run(
    data: MultiTaskData, tasks: Sequence[str], config: TrainConfig, size: float = 1.0,
    callbacks: Sequence[Callback] = (), strategy: UpdateStrategy | None = None,
) -> Timing:
    """Time one training of a freshly seeded network."""
    torch.manual_seed(config.seed)
    model = make_network(data.tasks.subset(tasks), data.input_shape, size=size)
    clock = LoopClock()
    wall, cpu = time.perf_counter(), time.process_time()
    Trainer(config, [*callbacks, clock], strategy).fit(model, data, tasks)
    return Timing(time.perf_counter() - wall, time.process_time() - cpu,
                  clock.wall / clock.steps, clock.cpu / clock.steps)


def alternate(variants: dict[str, Callable[[], Timing]], repeats: int) -> dict[str, Timing]:
    """Median timings of each variant, run in turn ``repeats`` times (after one untimed run of
    the first, which pays for lazy initialisation)."""
    next(iter(variants.values()))()
    runs: dict[str, list[Timing]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            runs[name].append(run())
            print(f"  {name}: {runs[name][-1].step_cpu * 1e3:.1f} ms per step (CPU)",
                  file=sys.stderr, flush=True)
    return {
        name: Timing(*(statistics.median(getattr(t, f.name) for t in timings)
                       for f in fields(Timing)))
        for name, timings in runs.items()
    }


def overhead(args: argparse.Namespace, data: MultiTaskData, tasks: list[str]) -> dict:
    config = TrainConfig(max_steps=args.steps, batch_size=args.batch_size, lr=1e-3,
                         early_fraction=None, device="cpu", progress=False)
    half = len(tasks) // 2
    variants = {
        "joint": lambda: timed_run(data, tasks, config),
        "tag, every 10": lambda: timed_run(data, tasks, config, callbacks=[LookaheadProbe(10)]),
        "tag, every 10, vmap": lambda: timed_run(
            data, tasks, config, callbacks=[LookaheadProbe(10, batched=True)]),
        "cs, every 10": lambda: timed_run(
            data, tasks, config, callbacks=[LookaheadProbe(10, lookahead=False)]),
        f"stgu, {len(tasks)} groups (warm-up)": lambda: timed_run(
            data, tasks, config, strategy=SelectiveGroupStrategy(warmup=args.steps)),
        "stgu, 2 groups": lambda: timed_run(
            data, tasks, config,
            strategy=SelectiveGroupStrategy(groups=[tasks[:half], tasks[half:]])),
    }
    timings = alternate(variants, args.repeats)
    base = timings["joint"]
    print(f"\n(a) overhead: {len(tasks)} tasks ({', '.join(tasks)}), {args.steps} steps of "
          f"batch {args.batch_size}, validation once per epoch ({len(data.train)} training, "
          f"{args.n_val} validation images), torch threads {torch.get_num_threads()}, median "
          f"of {args.repeats} alternated runs; ratios against the joint run")
    print(f"{'variant':30s} {'run wall s':>10s} {'ratio':>6s} {'run CPU s':>10s} {'ratio':>6s}"
          f" {'step CPU ms':>12s} {'ratio':>6s}")
    for name, t in timings.items():
        print(f"{name:30s} {t.run_wall:10.2f} {t.run_wall / base.run_wall:5.2f}x "
              f"{t.run_cpu:10.2f} {t.run_cpu / base.run_cpu:5.2f}x {t.step_cpu * 1e3:12.1f} "
              f"{t.step_cpu / base.step_cpu:5.2f}x")
    ratios = {name: t.step_cpu / base.step_cpu for name, t in timings.items()}
    for name in ("tag, every 10", "cs, every 10"):
        probe_steps = (ratios[name] - 1) * 10  # CPU cost of one probe, in joint steps
        print(f"{name.split(',')[0]}: one probe costs {probe_steps:.1f} joint steps, so the "
              f"overhead is 1 + {probe_steps:.1f}/every: every >= "
              f"{max(1, math.ceil(probe_steps / 0.3))} keeps it <= 1.3x")
    return ratios


def compute_to_grouping(
    args: argparse.Namespace, data: MultiTaskData, tasks: list[str], step_ratio: dict
) -> None:
    n = len(tasks)
    config = TrainConfig(max_steps=args.size_steps, batch_size=args.batch_size, lr=1e-3,
                         eval_every=10**9, early_fraction=None, device="cpu", progress=False)
    variants = {f"{k} task(s)": (lambda k=k: timed_run(data, tasks[:k], config))
                for k in range(1, n + 1)}
    variants["1 task, half size"] = lambda: timed_run(data, tasks[:1], config, size=0.5)
    step = {name: t.step_cpu for name, t in alternate(variants, args.repeats).items()}
    per_k = {k: step[f"{k} task(s)"] for k in range(1, n + 1)}
    half = step["1 task, half size"]
    study_steps = args.study_epochs * math.ceil(args.study_n_train / args.batch_size)
    hours = study_steps / 3600  # CPU hours of one network = study_steps × its step time (s)

    joint = per_k[n] * hours
    costs = {
        "tag (one run)": joint * step_ratio["tag, every 10"],
        "cs (one run)": joint * step_ratio["cs, every 10"],
        "proximal (one stgu run)": hours * per_k[n] * (
            min(args.warmup, study_steps) * step_ratio[f"stgu, {n} groups (warm-up)"]
            + max(0, study_steps - args.warmup) * step_ratio["stgu, 2 groups"]) / study_steps,
        "hoa, n(n+1)/2 singles + pairs": hours * (n * per_k[1] + math.comb(n, 2) * per_k[2]),
        "hoa pairs plan (+ n halves)": hours * (n * per_k[1] + math.comb(n, 2) * per_k[2]
                                                + n * half),
        "exhaustive, 2^n - 1 + n": hours * (sum(math.comb(n, k) * per_k[k]
                                                for k in range(1, n + 1)) + n * half),
    }
    print(f"\n(b) compute to a grouping: {n} tasks, every network trained {study_steps} steps "
          f"({args.study_epochs} epochs of {args.study_n_train} images); CPU time per step "
          f"measured ({args.size_steps} steps, median of {args.repeats}); tag, cs and stgu "
          "step ratios from (a):")
    print("    " + ", ".join(f"{k} task(s) {per_k[k] * 1e3:.0f} ms" for k in per_k)
          + f", half single {half * 1e3:.0f} ms")
    print(f"    proximal: {args.warmup} warm-up steps with every task alone, then 2 groups")
    tag = costs["tag (one run)"]
    print(f"{'method':32s} {'CPU hours':>10s} {'vs tag':>8s}")
    for name, cost in costs.items():
        print(f"{name:32s} {cost:10.3f} {cost / tag:7.1f}x")
    hoa, exhaustive = costs["hoa, n(n+1)/2 singles + pairs"], costs["exhaustive, 2^n - 1 + n"]
    print(f"hoa / tag = {hoa / tag:.1f}x, exhaustive / tag = {exhaustive / tag:.1f}x, "
          f"exhaustive / hoa = {exhaustive / hoa:.1f}x; a tag run over the first 20% of the "
          f"budget: hoa / tag = {hoa / (0.2 * tag):.1f}x")


def tag_cost(args: argparse.Namespace, data: MultiTaskData, tasks: list[str]) -> None:
    """Per-step CPU time of a joint step and of a probe step of each kind, interleaved
    ``--probe-repeats`` times on one batch (trainings of a few probes each were too noisy on a
    loaded machine); the overhead at every 10 is ``(9·joint + probe step) / (10·joint)``."""
    from mtlgroup.affinity.lookahead import (
        RngState,
        _lookahead_losses,
        _stacked_gradients,
        probe,
        shared_parameters,
        start_probe,
    )
    from mtlgroup.training import JointStrategy, task_losses

    torch.manual_seed(0)
    task_set = data.tasks.subset(tasks)
    model = make_network(task_set, data.input_shape).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = next(data.train.batches(args.batch_size, True, torch.Generator().manual_seed(0),
                                    tasks))

    def reusing(lookahead: bool) -> JointStrategy:
        strategy = JointStrategy()
        replay = RngState.capture(batch.inputs.device)  # no dropout in this network

        def observe(losses):  # as LookaheadProbe does: the passes wait for the step
            pending = start_probe(model, batch, task_set, losses, optimizer,
                                  lookahead=lookahead, replay=replay)

            def finish(*_) -> None:  # a pre-hook that returns something replaces step's args
                handle.remove()
                pending.finish()

            handle = optimizer.register_step_pre_hook(finish)

        strategy.add_loss_observer(observe)
        return strategy

    joint = JointStrategy()
    exact_reuse, first_order = reusing(True), reusing(False)

    def own_forward() -> None:
        probe(model, batch, task_set, optimizer)
        joint.step(model, batch, optimizer, task_set)

    shared = shared_parameters(model)
    moved = {k: p.detach().unsqueeze(0).expand(len(tasks), *p.shape) for k, p in shared.items()}

    def gradients_alone() -> None:  # where the time goes: the parts of a probe
        losses = task_losses(model(batch.inputs), batch, task_set)
        _stacked_gradients([losses[t] for t in tasks], shared, keep_graph=False)

    variants: dict[str, Callable[[], object]] = {
        "joint step": lambda: joint.step(model, batch, optimizer, task_set),
        "tag, own forward (before)": own_forward,
        "tag, reusing the step's forward": lambda: exact_reuse.step(model, batch, optimizer,
                                                                    task_set),
        "tag first-order (= cs)": lambda: first_order.step(model, batch, optimizer, task_set),
        "part: forward + n gradients": gradients_alone,
        "part: n lookahead passes": lambda: _lookahead_losses(model, batch, task_set, moved,
                                                              False, None),
    }
    for run in variants.values():  # lazy initialisation
        run()
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.probe_repeats):
        for name, run in variants.items():
            started = time.process_time()
            run()
            seconds[name].append(time.process_time() - started)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    base = median["joint step"]
    print(f"\n(d) TAG cost: {len(tasks)} tasks, batch {args.batch_size}, torch threads "
          f"{torch.get_num_threads()}, median CPU time of {args.probe_repeats} interleaved "
          "repetitions on one batch")
    print(f"{'variant':34s} {'step CPU ms':>12s} {'in joint steps':>15s} {'every 10':>9s}")
    for name, value in median.items():
        every10 = (9 * base + value) / (10 * base)
        print(f"{name:34s} {value * 1e3:12.1f} {value / base:15.2f} {every10:8.3f}x")


def agreement(args: argparse.Namespace) -> None:
    from scipy.stats import spearmanr

    from mtlgroup.affinity import TagEstimator
    from mtlgroup.data.scenes import TASK_SET_1
    from mtlgroup.selection import problem_from_affinity, solve

    print(f"\n(e) agreement of first-order with exact TAG (step rule {args.step}, every "
          f"{args.every}, one run each, "
          "demo scale: 1000 training images, 4 epochs, batch 64, lr 2e-3, seed 0)")
    for dataset in ("scenes", "fashion"):
        data = load_dataset(dataset, n_train=1000, n_val=250, n_test=250)
        tasks = list(TASK_SET_1) if dataset == "scenes" else list(data.tasks.names)
        config = TrainConfig(epochs=4, batch_size=64, lr=2e-3, seed=0, device="cpu",
                             progress=False)
        started = time.process_time()
        estimator = TagEstimator(every=args.every, step=args.step).fit(data, tasks, config)
        exact, first = estimator.affinity_, estimator.first_order_
        off = ~torch.eye(len(tasks), dtype=torch.bool).numpy()
        rho = spearmanr(exact.matrix[off], first.matrix[off]).statistic
        pairs = exact.pair_scores()
        rho_pairs = spearmanr([pairs[p] for p in pairs],
                              [first.pair_scores()[p] for p in pairs]).statistic
        same = []
        for k in (2, 3):
            chosen = [sorted(solve(problem_from_affinity(a.tasks, a.matrix, max_groups=k)).names)
                      for a in (exact, first)]
            same.append(f"{k} groups {'same' if chosen[0] == chosen[1] else 'differ'}")
        scale = float(abs(exact.matrix[off]).mean() / abs(first.matrix[off]).mean())
        print(f"  {dataset:8s} {len(tasks)} tasks, {exact.n_probes} probes: Spearman "
              f"{rho:+.3f} over the {int(off.sum())} off-diagonal entries, {rho_pairs:+.3f} "
              f"over the pair scores; mean |exact| / mean |first-order| = {scale:.2f}; "
              f"{', '.join(same)} ({time.process_time() - started:.0f} CPU s)")


# ------------------------------------------------------------------------------ quality


def quality(args: argparse.Namespace) -> None:
    from scipy.stats import spearmanr

    from mtlgroup.selection import (
        LossTable,
        problem_from_affinity,
        problem_from_table,
        read_loss_table,
        solve,
    )

    study = Path(args.quality)
    val, test = read_loss_table(study / "val.csv"), read_loss_table(study / "test.csv")
    tasks = list(val.tasks)
    by_tasks_val = _by_task_set(val)
    by_tasks_test = _by_task_set(test)
    full = LossTable.from_rows(
        [(r.network, 1.0, r.task, r.loss) for r in val.rows if _standard(r.network)],
        source=f"{study / 'val.csv'} (full-size networks, cost 1)")
    measured = pairwise_affinity(val, baseline="half", tasks=tasks)
    tag_label = "tag" if args.tag_fraction >= 1 else f"tag-{args.tag_fraction:g}"
    affinities = {label: _affinity(args, method, label, tasks)
                  for method, label in (("tag", tag_label), ("cs", "cs"),
                                        ("proximal", "proximal"))}
    # Proximal affinity is grouped normalised by self-affinity (ALGORITHMS §3); the estimator
    # already reports it so, and normalising twice changes nothing.
    affinities["proximal"] = affinities["proximal"].normalized()

    def test_total(groups: Sequence[Sequence[str]]) -> float:
        """Each task served by the chosen network with its lowest validation loss."""
        total = 0.0
        for t in tasks:
            carriers = [frozenset(g) for g in groups if t in g]
            best = min(carriers, key=lambda g: by_tasks_val[g][t])
            total += by_tasks_test[best][t]
        return total

    print(f"\n(c) quality on {study}: tasks {', '.join(tasks)}; test total loss (each task "
          "served by its chosen network with the lowest validation loss)")
    print(f"  all-task network           {test_total([tasks]):.4f}")
    for k in (2, 3):
        rows = {"optimal (exact, on val)":
                solve(problem_from_table(full, budget=k)).names,
                "hoa": solve(problem_from_table(full, budget=k, approx="hoa")).names}
        for method, affinity in affinities.items():
            rows[method] = solve(problem_from_affinity(affinity.tasks, affinity.matrix,
                                                       max_groups=k)).names
        print(f"  at most {k} groups:")
        for name, networks in rows.items():
            groups = [n.split("+") for n in networks]
            print(f"    {name:26s} {test_total(groups):.4f}  {' | '.join(networks)}")
    truth = measured.pair_scores()
    print("  Spearman correlation of pair scores with the measured pairwise relative "
          "performance (val, half-size baselines):")
    print(f"    {'hoa':26s} 1 (hoa predicts from these very pairs)")
    for method, affinity in affinities.items():
        scores = affinity.subset(tasks).pair_scores()
        rho = spearmanr([scores[p] for p in truth], [truth[p] for p in truth]).statistic
        print(f"    {method:26s} {rho:+.3f}")


def _by_task_set(table) -> dict[frozenset[str], dict[str, float]]:
    return {frozenset(losses): losses for name, (_, losses) in table.by_network().items()
            if _standard(name)}


def _standard(network: str) -> bool:
    """A full-size candidate of the study: not a half-size single (``t/2``) nor a network of
    another encoder size (``a+b@0.7``, e.g. the pipeline's budget-scaled baselines)."""
    return not network.endswith("/2") and "@" not in network


def _affinity(args: argparse.Namespace, method: str, label: str, tasks: list[str]) -> Affinity:
    path = Path(args.affinity_dir) / label / "affinity.csv"
    if path.is_file():
        print(f"reading {path}")
        return Affinity.from_csv(path)
    options = {"every": args.every} if method in ("tag", "cs") else {}
    print(f"measuring {method} affinity ({args.epochs} epochs, {args.n_train} images, "
          f"{options or 'default options'}) -> {path}")
    data = load_dataset(args.dataset, n_train=args.n_train, n_val=args.n_val, n_test=args.n_val)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         seed=args.seed, device="auto")
    if method == "tag" and args.tag_fraction < 1:
        steps = config.total_steps(math.ceil(len(data.train) / args.batch_size))
        config.max_steps = max(1, round(args.tag_fraction * steps))
    affinity = estimate_affinity(data, tasks, method, config, args.size, **options)
    affinity.to_csv(path)
    return affinity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="scenes")
    parser.add_argument("--n-train", type=int, default=1024)
    parser.add_argument("--n-val", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=80, help="(a) steps per run")
    parser.add_argument("--size-steps", type=int, default=20, help="(b) steps per timing run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: stable timings on a shared machine)")
    parser.add_argument("--study-epochs", type=int, default=10)
    parser.add_argument("--study-n-train", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100, help="STGU warm-up steps")
    parser.add_argument("--quality", metavar="STUDY_DIR", help="(c) only: study tables here")
    parser.add_argument("--tag-cost", action="store_true", help="(d) only")
    parser.add_argument("--probe-repeats", type=int, default=15, help="(d) repetitions")
    parser.add_argument("--step", default="sgd", help="(e) lookahead step rule")
    parser.add_argument("--agreement", action="store_true", help="(e) only")
    parser.add_argument("--affinity-dir", default="runs/affinity")
    parser.add_argument("--epochs", type=int, default=10, help="(c) affinity training epochs")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--size", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every", type=int, default=10,
                        help="(c) tag/cs probe frequency (short runs: probe more often)")
    parser.add_argument("--tag-fraction", type=float, default=1.0,
                        help="(c) train the TAG run for this share of the budget")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.quality:
        quality(args)
        return
    if args.agreement:
        agreement(args)
        return
    data, tasks = bench_data(args)
    if args.tag_cost:
        tag_cost(args, data, tasks)
        return
    step_ratio = overhead(args, data, tasks)
    compute_to_grouping(args, data, tasks, step_ratio)


if __name__ == "__main__":
    main()
