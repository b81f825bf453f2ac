"""Aggregator strategies: each aggregator, as the strategy configures it, against its paper's
defining property on small random Jacobians; and the strategy's step (Jacobian rows, missing
labels, loss weights, the fallback without encode/decode)."""

from __future__ import annotations

import inspect
import itertools

import pytest
import torch
from torch import nn

pytest.importorskip("torchjd")

from mtlgroup.data.base import Batch  # noqa: E402
from mtlgroup.models import MultiTaskNet  # noqa: E402
from mtlgroup.tasks import Task, TaskSet  # noqa: E402
from mtlgroup.training import create_strategy  # noqa: E402
from mtlgroup.training.jacobian_strategies import AGGREGATORS  # noqa: E402

SEEDS = range(4)
TOL = 1e-4


def jacobian(seed: int, m: int = 3, n: int = 6, conflict: bool = False) -> torch.Tensor:
    """A random ``m × n`` Jacobian (float64); with ``conflict`` two rows at an obtuse angle."""
    g = torch.Generator().manual_seed(seed)
    while True:
        J = torch.randn(m, n, generator=g, dtype=torch.float64)
        if not conflict or J[0] @ J[1] < 0:
            return J


def aggregate(name: str, J: torch.Tensor, **options) -> torch.Tensor:
    return create_strategy(name, **options).make_aggregator(len(J))(J)


def row_weights(name: str, J: torch.Tensor, **options) -> torch.Tensor:
    aggregator = create_strategy(name, **options).make_aggregator(len(J))
    if hasattr(aggregator, "gramian_weighting"):
        return aggregator.gramian_weighting(J @ J.T)
    return aggregator.weighting(J)


@pytest.mark.parametrize("seed", SEEDS)
def test_pcgrad_update_never_conflicts_with_a_task(seed):
    J = jacobian(seed, m=2, conflict=True)
    d = aggregate("pcgrad", J)
    assert (J @ d >= -TOL).all()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", ["upgrad", "dualproj"])
def test_upgrad_and_dualproj_lie_in_the_dual_cone(name, seed):
    J = jacobian(seed, m=4, n=6)
    d = aggregate(name, J)
    # up to the dual-cone solver's tolerance (torchjd regularises the projection)
    assert (J @ d >= -1e-2 * J.norm(dim=1) * d.norm()).all()


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_mgda_is_the_min_norm_point_of_the_convex_hull(seed):
    J = jacobian(seed, m=3, n=5)
    d = aggregate("mgda", J, epsilon=1e-6, max_iters=2000)
    # brute force over a grid of the simplex (independent of the solver)
    steps = 200
    grid = torch.tensor([(i / steps, j / steps, 1 - (i + j) / steps)
                         for i in range(steps + 1) for j in range(steps + 1 - i)],
                        dtype=torch.float64)
    best = (grid @ J).norm(dim=1).min()
    weights = row_weights("mgda", J, epsilon=1e-6, max_iters=2000)
    assert weights.min() >= -TOL and abs(float(weights.sum()) - 1) < 1e-3  # in the hull
    # torchjd's Frank-Wolfe stops within a fraction of a percent of the minimum
    assert float(d.norm()) <= float(best) * (1 + 5e-3) + 1e-6


@pytest.mark.parametrize("seed", SEEDS)
def test_imtlg_projects_equally_on_every_unit_gradient(seed):
    J = jacobian(seed, m=3, n=6)
    d = aggregate("imtlg", J)
    projections = (J / J.norm(dim=1, keepdim=True)) @ d
    assert torch.allclose(projections, projections.mean().expand(3), atol=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
def test_config_has_equal_cosines_with_every_gradient(seed):
    J = jacobian(seed, m=3, n=6)
    d = aggregate("config", J)
    cosines = (J / J.norm(dim=1, keepdim=True)) @ (d / d.norm())
    assert torch.allclose(cosines, cosines.mean().expand(3), atol=1e-5)
    assert (cosines > 0).all()


@pytest.mark.parametrize("seed", SEEDS[:2])
@pytest.mark.parametrize("c", [0.4, 0.8])
def test_cagrad_maximises_the_worst_improvement_in_its_ball(seed, c):
    J = jacobian(seed, m=3, n=5)
    d = aggregate("cagrad", J, c=c)
    g0 = J.mean(dim=0)
    radius = c * g0.norm()
    assert abs(float((d - g0).norm() - radius)) < 1e-3 * float(radius)  # on its constraint
    # no point of the ball does better on the worst task (random points on its sphere)
    g = torch.Generator().manual_seed(100 + seed)
    directions = torch.randn(4000, 5, generator=g, dtype=torch.float64)
    candidates = g0 + radius * directions / directions.norm(dim=1, keepdim=True)
    assert float((candidates @ J.T).min(dim=1).values.max()) <= float((J @ d).min()) + 1e-4


@pytest.mark.parametrize("seed", SEEDS)
def test_nashmtl_weights_satisfy_the_bargaining_condition(seed):
    # Gradients sharing a common direction, the regime Nash-MTL is for (on strongly conflicting
    # random ones, torchjd's linearised ECOS solve can stop at its starting point).
    J = jacobian(seed, m=3, n=6) + torch.linspace(0.5, 1.5, 6, dtype=torch.float64)
    alpha = row_weights("nashmtl", J, max_norm=0.0, optim_niter=200)
    assert (alpha > 0).all()
    assert torch.allclose(J @ J.T @ alpha, 1 / alpha, rtol=1e-2)  # Gᵀ G α = 1/α


@pytest.mark.parametrize("seed", SEEDS[:3])
@pytest.mark.parametrize("alpha", [1.0, 2.0])
def test_fairgrad_weights_satisfy_alpha_fairness(seed, alpha):
    J = jacobian(seed, m=3, n=6)
    w = row_weights("fairgrad", J, alpha=alpha)
    assert torch.allclose(J @ J.T @ w, w ** (-1 / alpha), rtol=1e-3)


@pytest.mark.parametrize("seed", SEEDS)
def test_alignedmtl_is_the_mean_of_the_aligned_orthogonal_gradients(seed):
    J = jacobian(seed, m=3, n=6)
    U, S, Vh = torch.linalg.svd(J, full_matrices=False)
    aligned = S.min() * U @ Vh  # orthogonal rows, each of norm σ_min
    assert torch.allclose(aggregate("alignedmtl", J), aligned.mean(dim=0), atol=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
def test_graddrop_keeps_one_sign_per_coordinate(seed):
    J = jacobian(seed, m=3, n=8)
    torch.manual_seed(seed)
    d = aggregate("graddrop", J.float()).double()
    positive, negative = J.clamp(min=0).sum(dim=0), J.clamp(max=0).sum(dim=0)
    assert all(torch.isclose(x, p, atol=1e-5) or torch.isclose(x, q, atol=1e-5)
               for x, p, q in zip(d, positive, negative, strict=True))


@pytest.mark.parametrize("seed", SEEDS)
def test_gradvac_first_step_on_conflicting_gradients_is_pcgrad(seed):
    # GradVac's cosine targets start at 0: raising a negative cosine to 0 is PCGrad's projection.
    J = jacobian(seed, m=2, conflict=True)
    assert torch.allclose(aggregate("gradvac", J), aggregate("pcgrad", J), atol=1e-6)


def test_every_spec_matches_its_torchjd_class():
    import torchjd.aggregation as aggregation

    for spec in AGGREGATORS:
        accepted = set(inspect.signature(getattr(aggregation, spec.aggregator).__init__)
                       .parameters) - {"self"}
        assert set(spec.options) <= accepted, spec.name
        assert spec.n_tasks == ("n_tasks" in accepted), spec.name


def test_options_are_forwarded_and_checked():
    assert create_strategy("cagrad", c=0.7).make_aggregator(3).c == 0.7
    assert create_strategy("nashmtl").make_aggregator(5).n_tasks == 5
    with pytest.raises(ValueError, match="'cagrad'.*unknown option.*cc.*accepts: c, norm_eps"):
        create_strategy("cagrad", cc=0.4)
    with pytest.raises(ValueError, match="'cagrad': bad options"):
        create_strategy("cagrad", c=-1.0)


# --- the step ---------------------------------------------------------------------------


class PlainNet(nn.Module):
    """The same network without encode/decode: the fallback path."""

    def __init__(self, net: MultiTaskNet):
        super().__init__()
        self.encoder, self.heads = net.encoder, net.heads

    def forward(self, x):
        features = self.encoder(x)
        return {t: head(features) for t, head in self.heads.items()}


def _problem(seed: int = 0):
    torch.manual_seed(seed)
    tasks = TaskSet([Task("a", "vector", 1, "l2"), Task("b", "vector", 1, "l2"),
                     Task("c", "vector", 1, "l2")])
    net = MultiTaskNet(nn.Sequential(nn.Linear(4, 5), nn.Tanh()),
                       {t: nn.Linear(5, 1) for t in tasks.names})
    x = torch.randn(8, 4)
    batch = Batch(x, {t: torch.randn(8, 1) for t in tasks.names})
    return tasks, net, batch


def _gradients(model, batch, tasks, name="upgrad", weights=None):
    strategy = create_strategy(name)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # keep the weights to compare grads
    strategy.setup(model, optimizer, tasks)
    strategy.step(model, batch, optimizer, tasks, weights)
    return {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}


def test_heads_get_their_own_gradient_and_the_fallback_agrees():
    tasks, net, batch = _problem()
    with_features = _gradients(net, batch, tasks)
    without = _gradients(PlainNet(net), batch, tasks)
    for name, grad in with_features.items():
        assert grad is not None and torch.allclose(grad, without[name], atol=1e-6), name
    # a head's gradient is its own task's loss gradient, whatever the aggregator
    net.zero_grad()
    outputs = net(batch.inputs)
    ((outputs["b"] - batch.targets["b"]) ** 2).mean().backward()
    assert torch.allclose(with_features["heads.b.weight"], net.heads["b"].weight.grad)


def test_loss_weights_scale_the_rows():
    tasks, net, batch = _problem()
    weighted = _gradients(net, batch, tasks, "mgda", {"a": 3.0})
    net.zero_grad()
    outputs = net(batch.inputs)
    (3.0 * ((outputs["a"] - batch.targets["a"]) ** 2).mean()).backward()
    assert torch.allclose(weighted["heads.a.weight"], net.heads["a"].weight.grad)


@pytest.mark.parametrize("name", ["upgrad", "nashmtl", "mgda"])
def test_a_task_without_labels_is_left_out_of_the_jacobian(name):
    tasks, net, batch = _problem()
    batch.masks["c"] = torch.zeros(8, dtype=torch.bool)
    batch.targets["c"] = torch.full((8, 1), float("nan"))  # unlabelled targets may be garbage
    strategy = create_strategy(name)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    strategy.setup(net, optimizer, tasks)
    strategy.step(net, batch, optimizer, tasks)
    assert all(p.grad is None for p in net.heads["c"].parameters())  # its head did not move
    assert all(torch.isfinite(p.grad).all() for p in net.encoder.parameters())
    # the aggregator saw two rows: the same result as training on tasks a and b only
    two = TaskSet([tasks["a"], tasks["b"]])
    _, twin, _ = _problem()
    reference = create_strategy(name)
    ref_optimizer = torch.optim.SGD(twin.parameters(), lr=0.1)
    reference.setup(twin, ref_optimizer, two)
    reference.step(twin, Batch(batch.inputs, {t: batch.targets[t] for t in "ab"}),
                   ref_optimizer, two)
    for p, q in zip(net.encoder.parameters(), twin.encoder.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)
    if name != "nashmtl":  # the weights of the two present tasks
        assert set(strategy.weights_over_time()[0]["weights"]) == {"a", "b"}


def test_all_aggregators_weight_permuted_tasks_alike():
    # Permutation equivariance of the update: relabelling the tasks changes nothing.
    J = jacobian(3, m=3, n=6)
    for spec in AGGREGATORS:
        if spec.name in ("graddrop", "gradvac", "nashmtl", "pcgrad"):
            continue  # random; stateful; solver state; projects in the rows' order
        d = aggregate(spec.name, J)
        for order in itertools.permutations(range(3)):
            assert torch.allclose(aggregate(spec.name, J[list(order)]), d, atol=1e-4), spec.name
