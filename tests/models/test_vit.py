"""The ViT family: counted FLOPs (attention included), size scaling, the linear hook, errors,
determinism and the patch decoder."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from mtlgroup.cost import count_flops, network_flops
from mtlgroup.models import NetworkFactory
from mtlgroup.models.network_factory import NETWORKS, NetworkFactoryError
from mtlgroup.models.vit import (
    PatchDecoder,
    ViTBlock,
    ViTEncoder,
    apply_linear,
    mlp_hidden,
    vit_macs,
    vit_network,
    vit_width,
)
from mtlgroup.tasks import Task

TASKS = [
    Task("normals", "dense", channels=3),
    Task("segment", "dense", channels=5, loss="cross_entropy"),
    Task("room", "label", channels=7, loss="cross_entropy"),
    Task("pose", "vector", channels=4, loss="l2"),
]

ARCHITECTURES = [
    # (input shape, encoder options)
    ((3, 32, 32), {}),
    ((3, 32, 32), {"patch": 8, "depth": 2}),
    ((1, 28, 28), {"patch": 7, "heads": 2, "base_width": 30}),
    ((3, 16, 24), {"patch": 4, "depth": 1, "mlp_ratio": 3.0}),
    ((2, 12, 20), {"patch": 2, "depth": 3, "heads": 8, "base_width": 32, "mlp_ratio": 1.5}),
]


def architecture_macs(shape, width, patch=4, depth=4, mlp_ratio=2.0):
    """Multiply-adds of the encoder written from the architecture, split into the linear layers
    and the two attention products (scores ``QKᵀ`` and weighted values ``AV``)."""
    channels, height, image_width = shape
    tokens = (height // patch) * (image_width // patch)
    hidden = round(width * mlp_ratio)
    layers = [(channels * patch * patch, width)]  # patch embedding (in, out)
    layers += depth * [(width, 3 * width), (width, width), (width, hidden), (hidden, width)]
    linear = sum(tokens * n_in * n_out for n_in, n_out in layers)
    attention = depth * 2 * tokens * tokens * width  # each head: N² · head_dim, twice
    return linear, attention


@pytest.mark.parametrize("size", [0.3, 1.0, 1.7])
@pytest.mark.parametrize("shape,options", ARCHITECTURES)
def test_counted_flops_are_twice_the_analytic_multiply_adds(shape, options, size):
    architecture = {k: v for k, v in options.items() if k in ("patch", "depth", "mlp_ratio")}
    encoder = ViTEncoder(shape, size, **options)
    counted = count_flops(encoder, shape).encoder
    assert counted == 2 * vit_macs(shape[0], shape[1:], encoder.width, **architecture)
    assert counted == 2 * sum(architecture_macs(shape, encoder.width, **architecture))


@pytest.mark.parametrize("shape,options", ARCHITECTURES)
def test_attention_products_are_counted(shape, options):
    """The batched products (attention) are counted as such, apart from the linear layers'
    matrix products, and on a real CPU run as on meta."""
    architecture = {k: v for k, v in options.items() if k in ("patch", "depth", "mlp_ratio")}
    encoder = ViTEncoder(shape, 0.5, **options)
    linear, attention = architecture_macs(shape, encoder.width, **architecture)
    with FlopCounterMode(display=False) as counter:
        encoder(torch.zeros(1, *shape))
    by_op = {str(op): flops for op, flops in counter.get_flop_counts()["Global"].items()}
    assert by_op.pop("aten.bmm") == 2 * attention
    assert sum(by_op.values()) == 2 * linear
    assert count_flops(encoder, shape, device="cpu") == count_flops(encoder, shape, device="meta")


def test_network_flops_of_the_family_split_encoder_and_heads():
    shape = (3, 32, 32)
    flops = network_flops(TASKS, shape, 0.5, model="vit")
    width = vit_width(3, (32, 32), 0.5)
    assert flops.encoder == 2 * vit_macs(3, (32, 32), width)
    tokens, patch = 64, 4
    for task in TASKS[:2]:  # patch decoder: D·D then D·(channels·patch²) per token
        expected = tokens * (width * width + width * task.channels * patch**2)
        assert flops.heads[task.name] == 2 * expected
    assert flops.heads["room"] == 2 * width * 7  # pooled linear head


def test_explicit_attention_equals_scaled_dot_product_attention():
    torch.manual_seed(0)
    block = ViTBlock(width=48, heads=6, mlp_ratio=2.0)
    qkv = torch.randn(3, 10, 3 * 48, dtype=torch.float64)
    q, k, v = qkv.reshape(3, 10, 3, 6, 8).permute(2, 0, 3, 1, 4)
    expected = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(3, 10, 48)
    torch.testing.assert_close(block.attention(qkv), expected)


def test_flop_counter_does_not_see_fused_attention_on_cpu():
    """Why attention is written out: torch's fused CPU kernel has no FLOP formula, so the
    counter would see nothing of it on a real run (the meta device decomposes it)."""
    q = torch.randn(1, 2, 16, 8)
    with FlopCounterMode(display=False) as counter:
        F.scaled_dot_product_attention(q, q, q)
    if counter.get_total_flops() != 0:
        pytest.skip("this torch counts fused attention on CPU; the explicit products are moot")
    with FlopCounterMode(display=False) as counter:
        block = ViTBlock(16, 2, 2.0)
        block.attention(torch.randn(1, 16, 48))
    assert counter.get_total_flops() == 2 * 2 * 16 * 16 * 16


# -- size scaling -------------------------------------------------------------------------------

IMAGES = st.sampled_from([(3, 32, 32), (1, 28, 28), (3, 16, 24), (3, 64, 64)])


def closest_width(shape, size, base_width=64, heads=4, **architecture) -> int:
    """Brute force over multiples of ``heads``: the closest count, ties to the smaller width."""
    def macs(width):
        return vit_macs(shape[0], shape[1:], width, **architecture)

    target = size * macs(base_width)
    candidates = range(heads, 8 * base_width + heads, heads)
    return min(candidates, key=lambda width: (abs(macs(width) - target), width))


@settings(max_examples=60, deadline=None)
@given(shape=IMAGES, sizes=st.lists(st.floats(0.02, 8.0), min_size=2, max_size=2),
       heads=st.sampled_from([1, 2, 4]), depth=st.integers(1, 4))
def test_width_and_flops_never_drop_as_size_grows(shape, sizes, heads, depth):
    low, high = sorted(sizes)
    options = {"heads": heads, "depth": depth, "patch": 4}
    widths = [vit_width(shape[0], shape[1:], s, **options) for s in (low, high)]
    assert widths[0] <= widths[1] and all(w % heads == 0 for w in widths)
    macs = [vit_macs(shape[0], shape[1:], w, depth=depth, patch=4) for w in widths]
    assert macs[0] <= macs[1]


@settings(max_examples=60, deadline=None)
@given(shape=IMAGES, size=st.floats(0.02, 8.0), heads=st.sampled_from([1, 2, 4, 8]),
       mlp_ratio=st.sampled_from([1.0, 2.0, 4.0]))
def test_the_chosen_width_is_the_closest_and_its_error_within_a_width_step(
    shape, size, heads, mlp_ratio
):
    architecture = {"patch": 4, "depth": 2, "mlp_ratio": mlp_ratio}
    width = vit_width(shape[0], shape[1:], size, heads=heads, **architecture)
    assert width == closest_width(shape, size, heads=heads, **architecture)

    def macs(w):
        return vit_macs(shape[0], shape[1:], w, **architecture)

    target = size * macs(64)
    error = abs(macs(width) - target)
    if macs(width) > target and width == heads:
        return  # the narrowest network is as small as the family goes
    gaps = [macs(width + heads) - macs(width)]
    if width > heads:
        gaps.append(macs(width) - macs(width - heads))
    assert error <= max(gaps) / 2


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28), (3, 64, 64)])
def test_sizes_one_and_a_half_cost_one_and_a_half_of_the_standard(shape):
    standard = count_flops(ViTEncoder(shape), shape).encoder
    assert ViTEncoder(shape, 1.0).width == 64
    half = ViTEncoder(shape, 0.5)
    ratio = count_flops(half, shape).encoder / standard
    # The rounding bound: half a width step (4 = heads) on either side, in standard units.
    macs = [2 * vit_macs(shape[0], shape[1:], half.width + d) for d in (-4, 0, 4)]
    half_step = max(macs[2] - macs[1], macs[1] - macs[0]) / 2 / standard
    assert abs(ratio - 0.5) <= half_step
    assert half_step < 0.1  # and the bound itself is small


# -- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,options,message", [
    ((12,), {}, r"takes images \[C, H, W\].*--model mlp"),
    ((1, 12), {}, r"takes images \[C, H, W\]"),
    ((3, 30, 32), {}, r"patch 4 must divide the image size 30x32"),
    ((3, 32, 32), {"patch": 5}, r"patch 5 must divide"),
    ((3, 32, 32), {"base_width": 30}, r"base_width \(30\) must be a multiple of heads \(4\)"),
    ((3, 32, 32), {"heads": 0}, r"heads must be an integer >= 1"),
    ((3, 32, 32), {"depth": 1.5}, r"depth must be an integer >= 1"),
    ((3, 32, 32), {"mlp_ratio": 0}, r"mlp_ratio must be a positive number"),
])
def test_bad_architectures_are_clear_errors(shape, options, message):
    with pytest.raises(ValueError, match=message):
        vit_network(TASKS[2:], shape, **options)
    factory = NetworkFactory.of({"name": "vit", **options})
    with pytest.raises(NetworkFactoryError, match=f"model vit.*{message}"):
        factory.check(TASKS[2:], shape)


@pytest.mark.parametrize("size", [0, -1.0, float("nan"), float("inf")])
def test_bad_sizes_are_refused(size):
    with pytest.raises(ValueError, match="positive finite"):
        ViTEncoder((3, 32, 32), size)


def test_the_factory_checks_a_good_network_and_is_registered():
    assert "vit" in NETWORKS.names()
    factory = NetworkFactory.of({"name": "vit", "depth": 1, "base_width": 16})
    factory.check(TASKS, (3, 16, 24), size=0.5)
    assert factory.additive and factory.identity()["version"] == 1


# -- the linear hook ----------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [1, 3])
def test_the_linear_hook_sees_every_encoder_linear_in_forward_order(depth):
    torch.manual_seed(0)
    encoder = ViTEncoder((3, 16, 16), 0.5, depth=depth)
    seen: list[str] = []

    def recording(name, layer, x):
        seen.append(name)
        assert layer is encoder.linear_layer(name)
        assert x.shape[-1] == layer.in_features
        return layer(x)

    images = torch.randn(2, 3, 16, 16)
    out = encoder(images, recording)
    assert tuple(seen) == encoder.linear_names
    assert len(seen) == 1 + 4 * depth
    names = {n for n, m in encoder.named_modules() if isinstance(m, torch.nn.Linear)}
    assert set(seen) == names  # nothing bypasses the hook
    torch.testing.assert_close(out, encoder(images), rtol=0, atol=0)
    torch.testing.assert_close(encoder(images, apply_linear), encoder(images), rtol=0, atol=0)


def test_the_linear_hook_decides_what_a_layer_computes():
    torch.manual_seed(0)
    encoder = ViTEncoder((3, 16, 16), 0.5, depth=2)
    images = torch.randn(2, 3, 16, 16)

    def explicit(name, layer, x):  # the same layer by another route
        return x @ layer.weight.T + layer.bias

    def drop_last_mlp(name, layer, x):
        out = layer(x)
        return torch.zeros_like(out) if name == "blocks.1.fc2" else out

    torch.testing.assert_close(encoder(images, explicit), encoder(images))
    assert not torch.allclose(encoder(images, drop_last_mlp), encoder(images))


# -- determinism and shapes ---------------------------------------------------------------------

def test_same_seed_same_weights_and_outputs():
    images = torch.randn(2, 3, 16, 16)

    def build(seed):
        torch.manual_seed(seed)
        return vit_network(TASKS, (3, 16, 16), 0.5, depth=2)

    first, again, other = build(1), build(1), build(2)
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name]), name
    assert any(not torch.equal(t, other.state_dict()[n]) for n, t in first.state_dict().items())
    for task, out in first(images).items():
        assert torch.equal(out, again(images)[task])


@pytest.mark.parametrize("shape,patch", [((3, 32, 32), 4), ((3, 16, 24), 4), ((1, 28, 28), 7),
                                         ((2, 12, 20), 2)])
def test_dense_outputs_have_the_input_image_size(shape, patch):
    net = vit_network(TASKS, shape, 0.5, patch=patch, depth=1)
    out = net(torch.randn(2, *shape))
    assert out["normals"].shape == (2, 3, *shape[1:])
    assert out["segment"].shape == (2, 5, *shape[1:])
    assert out["room"].shape == (2, 7) and out["pose"].shape == (2, 4)
    assert isinstance(net.heads["normals"], PatchDecoder)
    assert net.encoder.out_channels == net.encoder.width
    assert mlp_hidden(net.encoder.width, 2.0) == net.encoder.blocks[0].fc1.out_features


def test_each_pixel_of_a_dense_output_comes_from_its_own_token():
    """The decoder folds token ``t`` into patch ``t``: changing one token's features changes
    that token's patch of the output and nothing else."""
    torch.manual_seed(0)
    decoder = PatchDecoder((8, 2, 3), (1, 8, 12), channels=2)
    features = torch.randn(1, 8, 2, 3)
    changed = features.clone()
    # The token of row 1, column 2; not by a constant, which the decoder's LayerNorm removes.
    changed[:, :, 1, 2] += torch.randn(8)
    diff = (decoder(changed) - decoder(features)).abs().sum(dim=1)[0]
    assert diff[4:8, 8:12].gt(0).all()
    diff[4:8, 8:12] = 0
    assert diff.eq(0).all()


def test_a_decoder_refuses_features_that_do_not_tile_the_image():
    with pytest.raises(ValueError, match="square patches"):
        PatchDecoder((8, 2, 3), (1, 8, 8), channels=1)
