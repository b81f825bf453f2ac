"""The shared multi-task ViT (ALGORITHMS §4) against independent references.

References are built without the sparse code: the base network itself, each task's own
single-task network, :func:`~mtlgroup.sharing.deltas.subtask_network` (the dense network a
sub-task amounts to) and a dense re-computation of the threshold rule layer by layer
(:func:`thresholded_reference`), whose non-zeros give the brute-force FLOP count.
"""

from __future__ import annotations

import copy
import json
import math
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from mtlgroup.cost import count_flops
from mtlgroup.export import load_grouped
from mtlgroup.export.bundle import BundleError
from mtlgroup.export.predict import predict
from mtlgroup.models.multitask import MultiTaskNet
from mtlgroup.models.network_factory import NetworkFactory
from mtlgroup.models.vit import vit_macs, vit_network
from mtlgroup.sharing.deltas import (
    LinearRecorder,
    TaskDelta,
    delta_between,
    subtask_network,
    weight_key,
    zero_delta,
)
from mtlgroup.sharing.model import SharedMultiTaskViT, load_shared, save_shared
from mtlgroup.sharing.sparse import SparseDeltaLinear
from mtlgroup.tasks import Task, TaskSet

SHAPE = (3, 16, 16)
OPTIONS = {"base_width": 16, "depth": 2}
TASKS = TaskSet([Task("a", "label", 3), Task("b", "dense", 1), Task("c", "label", 2)])


def network(task: str, seed: int) -> MultiTaskNet:
    torch.manual_seed(seed)
    return vit_network(TASKS.subset([task]), SHAPE, **OPTIONS).eval()


@pytest.fixture(scope="module")
def nets() -> dict[str, MultiTaskNet]:
    """Independently initialised single-task networks: ``a`` is the base."""
    return {task: network(task, seed) for seed, task in enumerate(TASKS.names)}


@pytest.fixture(scope="module")
def images() -> Tensor:
    return torch.randn(3, *SHAPE, generator=torch.Generator().manual_seed(7))


def masked(delta: TaskDelta, density: float, seed: int,
           thresholds: dict[str, float] | None = None) -> TaskDelta:
    """``delta`` with each weight delta kept on a random mask of ``density``."""
    generator = torch.Generator().manual_seed(seed)
    weights = {name: value * (torch.rand(value.shape, generator=generator) < density)
               for name, value in delta.weight_deltas.items()}
    return TaskDelta(delta.task, weights, delta.own_state, delta.head, dict(thresholds or {}))


def sparse_deltas(nets: dict[str, MultiTaskNet], density: float = 0.2,
                  tau: float = 0.0) -> dict[str, TaskDelta]:
    base = nets["a"]
    result = {}
    for seed, task in enumerate(("b", "c")):
        dense = delta_between(base, nets[task], task)
        result[task] = masked(dense, density, seed,
                              {name: tau for name in base.encoder.linear_names})
    return result


def thresholded_reference(base: MultiTaskNet, delta: TaskDelta,
                          images: Tensor) -> tuple[Tensor, dict[str, int]]:
    """The sub-task's output and ``nnz(δ)`` per layer, recomputed densely: each layer is
    ``F.linear(x', W_base + M⊙Δ, b_sub)`` with ``x'`` the base's input where ``|δ| < τ``."""
    recorder = LinearRecorder()
    base.encoder(images, recorder)
    reference = subtask_network(base, delta)
    counts: dict[str, int] = {}

    def linear(name: str, layer: nn.Linear, x: Tensor) -> Tensor:
        difference = x - recorder.inputs[name]
        tau = delta.thresholds.get(name, 0.0)
        keep = difference.abs() >= tau if tau > 0 else difference != 0
        counts[name] = int(keep.sum())
        return F.linear(torch.where(keep, x, recorder.inputs[name]), layer.weight, layer.bias)

    features = reference.encoder(images, linear)
    return reference.heads[delta.task](features), counts


def brute_force_encoder_flops(base: MultiTaskNet, delta: TaskDelta, images: Tensor) -> float:
    """Sub-task encoder FLOPs per image from the reference's non-zeros: per layer the sparse
    cost ``2·nnz(δ)·d_out + 2·nnz(M⊙Δ)·rows`` or the dense one if smaller, plus attention."""
    _, counts = thresholded_reference(base, delta, images)
    encoder = base.encoder
    rows = images.shape[0] * encoder.patch.grid[0] * encoder.patch.grid[1]
    total = 0
    for name, nnz in counts.items():
        d_out, d_in = encoder.linear_layer(name).weight.shape
        sparse = 2 * nnz * d_out + 2 * int(delta.weight_deltas[name].count_nonzero()) * rows
        total += min(sparse, 2 * rows * d_in * d_out)
    tokens = rows // images.shape[0]
    attention = len(encoder.blocks) * 2 * (2 * tokens**2 * encoder.width)
    return total / images.shape[0] + attention


def numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# -- (a) zero deltas ----------------------------------------------------------------------------


def test_zero_deltas_reproduce_the_base_exactly(nets, images):
    base = nets["a"]
    deltas = {t: zero_delta(base, t, nets[t].heads[t]) for t in ("b", "c")}
    model = SharedMultiTaskViT(base, "a", deltas).eval()
    with torch.no_grad():
        outputs = model(images)
        features = base.encoder(images)
        assert torch.equal(outputs["a"], base(images)["a"])
        for task in ("b", "c"):
            assert torch.equal(outputs[task], nets[task].heads[task](features))
            recorder = LinearRecorder()
            base.encoder(images, recorder)
            assert torch.equal(model.subtask(task).encode(images, recorder), features)


def test_subtask_weights_are_the_base_parameters_not_copies(nets):
    model = SharedMultiTaskViT(nets["a"], "a", sparse_deltas(nets))
    for name in model.encoder.linear_names:
        base_weight = model.encoder.linear_layer(name).weight
        for task in ("b", "c"):
            assert model.subtask(task).encoder.linear_layer(name).weight is base_weight
    assert sum(p.numel() for p in model.parameters()) < 2 * numel(model.encoder)


# -- (b) dense deltas ---------------------------------------------------------------------------


def test_dense_deltas_give_each_task_its_own_network(nets, images):
    base = nets["a"]
    deltas = {t: delta_between(base, nets[t], t) for t in ("b", "c")}
    model = SharedMultiTaskViT(base, "a", deltas).eval()
    with torch.no_grad():
        outputs = model(images)
        for task in ("b", "c"):
            assert torch.allclose(outputs[task], nets[task](images)[task], rtol=1e-5, atol=1e-5)


# -- (c) thresholded activation deltas ----------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), tau=st.floats(0.0, 2.0), density=st.floats(0.0, 1.0),
       sparsity=st.floats(0.0, 1.0))
def test_a_threshold_changes_a_layer_by_at_most_tau_times_its_row_l1(seed, tau, density,
                                                                     sparsity):
    generator = torch.Generator().manual_seed(seed)
    d_out, d_in, rows = 6, 5, 7
    weight = torch.randn(d_out, d_in, generator=generator)
    bias = torch.randn(d_out, generator=generator)
    delta_w = torch.randn(d_out, d_in, generator=generator) * (
        torch.rand(d_out, d_in, generator=generator) < density)
    bias_delta = torch.randn(d_out, generator=generator)
    x_base = torch.randn(rows, d_in, generator=generator)
    x_sub = x_base + torch.randn(rows, d_in, generator=generator) * (
        torch.rand(rows, d_in, generator=generator) >= sparsity)
    y_base = F.linear(x_base, weight, bias)
    exact, _ = SparseDeltaLinear.from_dense(delta_w, bias_delta)(x_sub, x_base, y_base, weight)
    layer = SparseDeltaLinear.from_dense(delta_w, bias_delta, tau)
    cut, nnz = layer(x_sub, x_base, y_base, weight)
    w_sub = weight + delta_w
    assert torch.allclose(exact, F.linear(x_sub, w_sub, bias + bias_delta), atol=1e-5)
    row_l1 = w_sub.abs().sum(1)
    slack = 1e-5 * (1 + x_sub.abs().max() * row_l1.max())
    assert ((cut - exact).abs() <= tau * row_l1 + slack).all()
    assert ((cut - exact).abs() <= tau * row_l1.max() + slack).all()
    assert nnz == int(((x_sub - x_base).abs() >= tau).sum() if tau > 0
                      else (x_sub != x_base).sum())
    # A larger threshold never computes more.
    looser = SparseDeltaLinear.from_dense(delta_w, bias_delta, tau * 2 + 0.1)
    assert looser(x_sub, x_base, y_base, weight)[1] <= nnz


@pytest.mark.parametrize("tau", [0.0, 0.05, 0.5])
def test_thresholded_model_equals_the_dense_recomputation_of_the_rule(nets, images, tau):
    base = nets["a"]
    deltas = sparse_deltas(nets, 0.2, tau)
    model = SharedMultiTaskViT(base, "a", deltas).eval()
    with torch.no_grad():
        outputs = model(images)
        for task, delta in deltas.items():
            expected, _ = thresholded_reference(base, delta, images)
            assert torch.allclose(outputs[task], expected, rtol=1e-5, atol=1e-5)
            if tau == 0:
                dense = subtask_network(base, delta)(images)[task]
                assert torch.allclose(outputs[task], dense, rtol=1e-5, atol=1e-5)


# -- (d) counted FLOPs --------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.0, 0.05, 0.5])
def test_counted_flops_are_the_brute_force_count_of_non_zeros(nets, images, tau):
    base = nets["a"]
    deltas = sparse_deltas(nets, 0.1, tau)
    model = SharedMultiTaskViT(base, "a", deltas).eval()
    flops = model.counted_flops(images)
    for task, delta in deltas.items():
        assert flops.encoder[task] == pytest.approx(
            brute_force_encoder_flops(base, delta, images), rel=1e-12)
        assert flops.heads[task] == count_flops(nets[task], SHAPE).heads[task]
    assert flops.total == pytest.approx(sum(flops.encoder.values()) + sum(flops.heads.values()))


def test_counted_flops_fall_as_the_threshold_grows(nets, images):
    base = nets["a"]
    counted = [SharedMultiTaskViT(base, "a", sparse_deltas(nets, 0.1, tau)).counted_flops(images)
               for tau in (0.0, 0.02, 0.1, 0.5, 1e9)]
    totals = [f.total for f in counted]
    assert totals == sorted(totals, reverse=True) and totals[0] > totals[-1]
    # Past every difference only the weight deltas (and attention, dense) are computed.
    deltas = sparse_deltas(nets, 0.1, 1e9)
    batch, tokens, width = images.shape[0], 16, base.encoder.width
    for task in ("b", "c"):
        weights = sum(2 * int(d.count_nonzero()) * batch * tokens
                      for d in deltas[task].weight_deltas.values())
        attention = 2 * (2 * tokens**2 * width) * len(base.encoder.blocks)
        assert counted[-1].encoder[task] == pytest.approx(weights / batch + attention)


def test_dense_deltas_count_as_dense_networks_and_the_base_as_the_analytic_count(nets, images):
    base = nets["a"]
    model = SharedMultiTaskViT(base, "a", {t: delta_between(base, nets[t], t)
                                           for t in ("b", "c")})
    flops = model.counted_flops(images)
    analytic = 2 * vit_macs(SHAPE[0], SHAPE[1:], base.encoder.width, depth=2)
    assert flops.encoder == {"a": analytic, "b": analytic, "c": analytic}
    independent = sum(count_flops(nets[t], SHAPE).total for t in TASKS.names)
    assert flops.dense_equivalent == independent
    assert flops.total == pytest.approx(independent)


# -- (e) stored parameters ----------------------------------------------------------------------


def test_stored_parameters_are_base_plus_non_zeros_indices_own_state_and_heads(nets):
    base = nets["a"]
    deltas = sparse_deltas(nets, 0.1)
    deltas["c"].weight_deltas["blocks.0.fc1"].zero_()  # a layer without non-zeros stores nothing
    stored = SharedMultiTaskViT(base, "a", deltas).stored_parameters()
    expected = numel(base)
    for task, delta in deltas.items():
        values = indices = 0
        for value in delta.weight_deltas.values():
            nnz = int(value.count_nonzero())
            values += nnz
            indices += nnz + value.shape[0] + 1 if nnz else 0  # column indices + row pointers
        own = sum(v.numel() for v in delta.own_state.values())
        sub = stored.subtasks[task]
        assert (sub.delta_values, sub.delta_indices, sub.own_state, sub.head) == (
            values, indices, own, numel(delta.head))
        expected += values + indices + own + numel(delta.head)
    assert stored.total == expected
    assert stored.independent == sum(numel(nets[t]) for t in TASKS.names)
    assert stored.base == numel(base) and stored.ratio < 1


# -- (f) the bundle -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle(nets, images, tmp_path_factory):
    model = SharedMultiTaskViT(nets["a"], "a", sparse_deltas(nets, 0.1, 0.05)).eval()
    folder = tmp_path_factory.mktemp("shared") / "bundle"
    save_shared(model, folder, model=NetworkFactory("vit", OPTIONS), tasks=TASKS,
                input_shape=SHAPE, inputs=images, metadata={"note": "test"})
    return model, folder


def test_a_saved_bundle_loads_to_identical_outputs(bundle, images):
    model, folder = bundle
    with torch.no_grad():
        expected = model(images)
        for loaded in (load_shared(folder), load_grouped(folder)):
            assert isinstance(loaded, SharedMultiTaskViT)
            outputs = loaded(images)
            assert list(outputs) == list(expected)
            assert all(torch.equal(outputs[t], expected[t]) for t in expected)
    assert load_shared(folder).counted_flops(images) == model.counted_flops(images)


def test_the_manifest_and_weight_files_hold_sparse_deltas(bundle, images):
    model, folder = bundle
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["format"], manifest["format_version"], manifest["base_task"]) == (
        "mtlgroup-shared", 1, "a")
    assert [r["name"] for r in manifest["tasks"]] == ["a", "b", "c"]
    flops = model.counted_flops(images)
    for entry in manifest["subtasks"]:
        task = entry["task"]
        assert entry["density"] == pytest.approx(model.density(task))
        assert entry["thresholds"] == model.thresholds(task)
        assert entry["flops"] == pytest.approx(flops.per_task[task])
        state = torch.load(folder / entry["weights"], weights_only=True)
        kept = sum(v.numel() for k, v in state.items() if k.endswith(".values"))
        assert kept == model.stored_parameters().subtasks[task].delta_values
        assert not any(k.startswith("own.") and k.endswith(".weight")
                       and k.removeprefix("own.").removesuffix(".weight")
                       in model.encoder.linear_names for k in state)
    assert manifest["params"]["total"] == model.stored_parameters().total
    assert manifest["metadata"] == {"note": "test"}


def test_mtlgroup_predict_reads_a_shared_bundle(bundle, images, tmp_path):
    model, folder = bundle
    array = tmp_path / "x.npy"
    np.save(array, images.numpy())
    out = predict(folder, array, tmp_path / "y.npz")
    saved = np.load(out)
    with torch.no_grad():
        expected = model(images)
    assert np.allclose(saved["b"], expected["b"].numpy(), atol=1e-6)
    assert (saved["a.class"] == expected["a"].argmax(1).numpy()).all()


def test_a_tampered_weight_file_is_refused_naming_it(bundle, tmp_path):
    _, folder = bundle
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    path = copy / "weights" / "sub0.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    for load in (load_shared, load_grouped):
        with pytest.raises(BundleError, match=str(path).replace("\\", "\\\\")):
            load(copy)


# -- (g) and the rest ---------------------------------------------------------------------------


def test_outputs_do_not_depend_on_the_order_of_the_deltas(nets, images):
    deltas = sparse_deltas(nets, 0.2, 0.05)
    forward = SharedMultiTaskViT(nets["a"], "a", deltas).eval()
    backward = SharedMultiTaskViT(nets["a"], "a", dict(reversed(deltas.items()))).eval()
    assert forward.tasks == backward.tasks == ("a", "b", "c")
    with torch.no_grad():
        one, other = forward(images), backward(images)
    assert all(torch.equal(one[t], other[t]) for t in forward.tasks)
    assert list(forward(images, tasks=["c", "a"])) == ["a", "c"]


def test_misfiled_deltas_are_refused(nets):
    deltas = sparse_deltas(nets)
    with pytest.raises(ValueError, match="delta of 'c'"):
        SharedMultiTaskViT(nets["a"], "a", {"b": deltas["c"]})
    with pytest.raises(ValueError, match="base task"):
        SharedMultiTaskViT(nets["a"], "a", {"a": TaskDelta("a", {}, {}, nn.Identity())})
    broken = TaskDelta("b", deltas["b"].weight_deltas,
                       {k: v for k, v in deltas["b"].own_state.items() if "norm" not in k},
                       deltas["b"].head)
    with pytest.raises(ValueError, match="own_state"):
        SharedMultiTaskViT(nets["a"], "a", {"b": broken})
    assert weight_key("blocks.0.qkv") not in deltas["b"].own_state
    assert math.isfinite(SharedMultiTaskViT(nets["a"], "a", deltas).density("b"))


def test_the_model_converts_like_a_module(nets, images):
    model = SharedMultiTaskViT(nets["a"], "a", sparse_deltas(nets, 0.2, 0.05)).eval()
    double = copy.deepcopy(model).double()
    assert double.subtask("b").layer("blocks.0.qkv").crow.dtype == torch.int64
    assert double.subtask("b").encoder.linear_layer("blocks.1.fc2").weight is (
        double.encoder.linear_layer("blocks.1.fc2").weight)
    with torch.no_grad():
        one, other = model(images), double(images.double())
    assert all(torch.allclose(one[t].double(), other[t], atol=1e-5) for t in model.tasks)
    with pytest.raises(ValueError, match="at least one image"):
        model.counted_flops(images[:0])


def test_a_bundle_whose_factory_builds_another_network_is_refused(bundle, tmp_path):
    _, folder = bundle
    copy_ = tmp_path / "other"
    shutil.copytree(folder, copy_)
    manifest = json.loads((copy_ / "manifest.json").read_text())
    manifest["model"]["options"]["base_width"] = 32
    (copy_ / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="base.pt: does not fit the network vit builds"):
        load_shared(copy_)
