"""Physics of the scene renderer: the labels must agree with the geometry they come from."""

from __future__ import annotations

import numpy as np
import pytest

from mtlgroup.data import render

N_IMAGES, SIZE = 24, 32


@pytest.fixture(scope="module")
def scenes() -> dict[str, np.ndarray]:
    return render.render_scenes(N_IMAGES, size=SIZE, seed=3, return_geometry=True)


def f32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def neighbour_pairs(x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Horizontal and vertical pixel pairs of ``x [..., H, W]`` as (first, second) views."""
    return [(x[..., :, :-1], x[..., :, 1:]), (x[..., :-1, :], x[..., 1:, :])]


def object_mask(scenes: dict[str, np.ndarray], kind: int) -> np.ndarray:
    """Pixels ``[N, H, W]`` showing an object of ``kind``."""
    slot = scenes["slot"].astype(np.int64)
    kinds = np.concatenate([np.full((N_IMAGES, 2), render.EMPTY), scenes["object_kind"]], axis=1)
    return np.take_along_axis(kinds, slot.reshape(N_IMAGES, -1), axis=1).reshape(slot.shape) == kind


def per_pixel_object(scenes: dict[str, np.ndarray], key: str, mask: np.ndarray) -> np.ndarray:
    """``scenes[key]`` (per object slot) at each pixel of ``mask``."""
    image, row, col = np.nonzero(mask)
    return scenes[key][image, scenes["slot"][image, row, col].astype(np.int64) - 2]


def pixels(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Channel-first ``x [N, C, H, W]`` at the pixels of ``mask [N, H, W]`` -> ``[M, C]``."""
    return np.moveaxis(x, 1, -1)[mask]


# --- primitives --------------------------------------------------------------------------------
def inside(kind: int, p: np.ndarray, dims: np.ndarray, shrink: float = 1.0) -> np.ndarray:
    """Whether local points ``p [..., 3]`` are inside the solid, its dims scaled by ``shrink``."""
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    if kind == render.SPHERE:
        return np.linalg.norm(p, axis=-1) <= dims[..., 0] * shrink
    if kind == render.BOX:
        return (np.abs(p) <= dims * shrink).all(axis=-1)
    height = dims[..., 1]
    low, high = height * (1 - shrink) / 2, height - height * (1 - shrink) / 2
    radius = dims[..., 0] * shrink
    if kind == render.CONE:
        radius = radius * (height - y) / height
    return (x * x + z * z <= radius * radius) & (y >= low) & (y <= high)


PRIMITIVES = {
    render.SPHERE: np.array([0.7, 0.0, 0.0]),
    render.BOX: np.array([0.5, 0.3, 0.8]),
    render.CYLINDER: np.array([0.4, 1.1, 0.0]),
    render.CONE: np.array([0.6, 1.2, 0.0]),
}


@pytest.mark.parametrize("kind", sorted(PRIMITIVES))
def test_intersection_is_the_first_point_of_the_ray_inside_the_solid(kind: int) -> None:
    rng = np.random.default_rng(kind)
    dims = PRIMITIVES[kind]
    origin = rng.normal(size=(400, 3))
    origin = 3.0 * origin / np.linalg.norm(origin, axis=1, keepdims=True) + [0, 0.5, 0]
    aim = rng.uniform(-1.0, 1.0, size=(400, 3)) + [0, 0.5, 0]
    d = aim - origin
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    t, _ = render.INTERSECTORS[kind](origin[:, None], d[:, None], dims[None, None])
    t = t[:, 0]
    hit = np.isfinite(t)
    assert 0.2 < hit.mean() < 0.95  # both cases are exercised

    steps = np.linspace(0.0, 1.0, 400)
    # before the hit (or along a missing ray), no point is inside a slightly shrunk solid
    reach = np.where(hit, t - 1e-3, 8.0)
    along = origin[:, None] + (steps[None, :, None] * reach[:, None, None]) * d[:, None]
    assert not inside(kind, along, dims, shrink=0.999).any()
    # the hit point is on the surface: inside a slightly grown solid, outside a slightly shrunk one
    p = origin[hit] + t[hit, None] * d[hit]
    assert inside(kind, p, dims, shrink=1.001).all()
    assert not inside(kind, p, dims, shrink=0.999).any()


# --- geometry and labels -----------------------------------------------------------------------
def test_normals_are_unit_and_face_the_camera(scenes) -> None:
    n = f32(scenes["normals"])
    assert np.allclose(np.linalg.norm(n, axis=1), 1.0, atol=2e-3)
    assert (np.einsum("nchw,chw->nhw", n, scenes["ray_dirs"]) < 0).all()


def test_depth_is_the_camera_z_of_the_ray_hit(scenes) -> None:
    depth = f32(scenes["depth"][:, 0])
    assert (depth > 0).all()
    hit = scenes["hit_points"]
    expected = scenes["distance"][:, None] * scenes["ray_dirs"][None]
    assert np.allclose(hit, expected, atol=1e-4)
    assert np.allclose(depth, hit[:, 2], rtol=1e-3)
    assert np.allclose(np.linalg.norm(scenes["ray_dirs"], axis=0), 1.0, atol=1e-6)


def test_hit_points_lie_on_their_objects(scenes) -> None:
    for kind in (render.SPHERE, render.BOX, render.CYLINDER, render.CONE):
        mask = object_mask(scenes, kind)
        assert mask.any()
        p = pixels(scenes["hit_points"], mask) - per_pixel_object(scenes, "object_center", mask)
        local = np.einsum("mk,mkj->mj", p, per_pixel_object(scenes, "object_axes", mask))
        dims = per_pixel_object(scenes, "object_dims", mask)
        assert inside(kind, local, dims, shrink=1.002).all()
        assert not inside(kind, local, dims, shrink=0.998).any()


def test_planes_are_flat_with_their_label_normal(scenes) -> None:
    semseg = scenes["semseg"]
    for i in range(N_IMAGES):
        for cls in (render.FLOOR, render.WALL):
            mask = semseg[i] == cls
            if mask.sum() < 10:
                continue
            p = scenes["hit_points"][i][:, mask].T
            centred = p - p.mean(axis=0)
            fitted = np.linalg.svd(centred, full_matrices=False)[2][-1]  # least-variance axis
            assert np.abs(centred @ fitted).max() < 1e-3  # coplanar
            normals = f32(scenes["normals"][i][:, mask]).T
            assert np.allclose(np.abs(normals @ fitted), 1.0, atol=2e-3)


def test_floor_is_below_the_camera_and_the_light_above_the_floor(scenes) -> None:
    light = scenes["light"]
    assert np.allclose(np.linalg.norm(light, axis=1), 1.0, atol=1e-5)
    for i in range(N_IMAGES):
        floor = scenes["semseg"][i] == render.FLOOR
        up = f32(scenes["normals"][i][:, floor]).mean(axis=1)
        # the floor's hit points are on the side opposite its normal, seen from the camera
        assert (scenes["hit_points"][i][:, floor].T @ up < 0).all()
        # light elevation is between 25 and 70 degrees
        assert np.sin(np.radians(24)) < light[i] @ up < np.sin(np.radians(71))


def test_normals_are_perpendicular_to_the_surface(scenes) -> None:
    """Between neighbouring pixels of one smooth surface, the step is tangent to second order."""
    n, p = f32(scenes["normals"]), scenes["hit_points"]
    curvature = scenes["curvature_raw"][:, 0]
    checked = 0
    for (n1, n2), (p1, p2), (s1, s2), (k1, k2) in zip(
        neighbour_pairs(n), neighbour_pairs(p), neighbour_pairs(scenes["slot"]),
        neighbour_pairs(curvature), strict=True,
    ):
        same = (s1 == s2) & (np.sum(n1 * n2, axis=1) > np.cos(np.radians(30)))
        step = p2 - p1
        normal = (n1 + n2) / 2
        along_normal = np.abs(np.sum(step * normal, axis=1))
        bound = 0.5 * np.maximum(k1, k2) * np.sum(step * step, axis=1) + 3e-3 * np.linalg.norm(
            step, axis=1)
        assert (along_normal[same] <= bound[same]).all()
        checked += int(same.sum())
    assert checked > N_IMAGES * SIZE * SIZE


def test_sphere_curvature_is_inverse_radius_and_normals_radial(scenes) -> None:
    mask = object_mask(scenes, render.SPHERE)
    radius = per_pixel_object(scenes, "object_dims", mask)[:, 0]
    raw = pixels(scenes["curvature_raw"], mask)
    assert np.allclose(raw, (1.0 / radius)[:, None], rtol=1e-5)
    label = pixels(f32(scenes["curvature"]), mask)
    expected = np.clip(raw * render.CURVATURE_SCALE, -render.CURVATURE_CLIP, render.CURVATURE_CLIP)
    assert np.allclose(label, expected, rtol=2e-3)
    radial = pixels(scenes["hit_points"], mask) - per_pixel_object(scenes, "object_center", mask)
    assert np.allclose(pixels(f32(scenes["normals"]), mask), radial / radius[:, None], atol=2e-3)


def test_curvature_bounds_how_fast_normals_turn(scenes) -> None:
    """Between neighbours on one curved surface, |dn|/|dp| lies between the principal curvatures;
    on a sphere it equals 1/r exactly (a chord of a circle)."""
    n, p, raw = f32(scenes["normals"]), scenes["hit_points"], scenes["curvature_raw"]
    sphere = object_mask(scenes, render.SPHERE)
    for (n1, n2), (p1, p2), (s1, s2), (c1, c2), (m1, m2) in zip(
        neighbour_pairs(n), neighbour_pairs(p), neighbour_pairs(scenes["slot"]),
        neighbour_pairs(raw), neighbour_pairs(sphere), strict=True,
    ):
        curved = (s1 == s2) & (c1[:, 0] > 0) & (c2[:, 0] > 0)
        rate = np.linalg.norm(n2 - n1, axis=1) / np.linalg.norm(p2 - p1, axis=1)
        k_max = np.maximum(c1[:, 0], c2[:, 0])
        assert (rate[curved] <= 1.05 * k_max[curved] + 0.02).all()
        both_sphere = (s1 == s2) & m1 & m2
        assert np.allclose(rate[both_sphere], c1[:, 0][both_sphere], rtol=0.03)


def test_flat_surfaces_have_zero_curvature_and_cylinders_one_over_r(scenes) -> None:
    raw = scenes["curvature_raw"]
    for cls in (render.FLOOR, render.WALL, render.BOX):
        assert (pixels(raw, scenes["semseg"] == cls) == 0).all()
    mask = object_mask(scenes, render.CYLINDER)
    axis = per_pixel_object(scenes, "object_axes", mask)[:, :, 1]
    on_side = np.abs(np.sum(pixels(f32(scenes["normals"]), mask) * axis, axis=1)) < 1e-2
    radius = per_pixel_object(scenes, "object_dims", mask)[:, 0]
    k = pixels(raw, mask)
    assert on_side.any() and (~on_side).any()
    assert np.allclose(k[on_side, 0], 1.0 / radius[on_side], rtol=1e-5)
    assert (k[on_side, 1] == 0).all() and (k[~on_side] == 0).all()


@pytest.mark.parametrize("kind", [render.CYLINDER, render.CONE])
def test_side_curvature_is_the_parallel_circles_normal_curvature(scenes, kind: int) -> None:
    """On a surface of revolution the principal curvatures are 0 along a generator (a straight
    line) and, by Meusnier's theorem, (n . e_rho) / rho along the parallel circle of radius rho,
    with e_rho the unit vector away from the axis."""
    mask = object_mask(scenes, kind)
    axes = per_pixel_object(scenes, "object_axes", mask)
    offset = pixels(scenes["hit_points"], mask) - per_pixel_object(scenes, "object_center", mask)
    radial = offset - np.sum(offset * axes[:, :, 1], axis=1, keepdims=True) * axes[:, :, 1]
    rho = np.linalg.norm(radial, axis=1)
    normal = pixels(f32(scenes["normals"]), mask)
    on_side = np.sum(normal * axes[:, :, 1], axis=1) < 0.99  # not the cap or base
    on_side &= rho > 0.05  # away from a cone's tip, where the curvature diverges
    expected = np.sum(normal * radial, axis=1)[on_side] / rho[on_side] ** 2
    k = pixels(scenes["curvature_raw"], mask)[on_side]
    assert on_side.sum() > 50
    assert np.allclose(k[:, 0], expected, rtol=5e-3, atol=2e-3) and (k[:, 1] == 0).all()


def test_semseg_matches_the_surfaces_hit(scenes) -> None:
    semseg = scenes["semseg"]
    assert semseg.dtype == np.uint8
    assert set(np.unique(semseg)) == set(range(len(render.CLASS_NAMES)))
    slot = scenes["slot"]
    assert (semseg[slot == 0] == render.FLOOR).all() and (semseg[slot == 1] == render.WALL).all()
    for kind in (render.SPHERE, render.BOX, render.CYLINDER, render.CONE):
        assert ((semseg == kind) == object_mask(scenes, kind)).all()


def test_occlusion_edges_sit_on_depth_jumps(scenes) -> None:
    edges = scenes["occlusion_edges"][:, 0].astype(bool)
    depth, slot = scenes["hit_points"][:, 2], scenes["slot"]
    threshold = render.OCCLUSION_THRESHOLD
    # every edge pixel has a neighbour farther by more than the threshold (relative)
    farther = np.zeros_like(edges)
    for (a, b), (ea, eb) in zip(neighbour_pairs(depth), neighbour_pairs(farther), strict=True):
        ea |= b - a > threshold * a * 0.999  # slack for float32 rounding
        eb |= a - b > threshold * b * 0.999
    assert edges.any() and not (edges & ~farther).any()
    # planes are continuous: no edge where a pixel and its 4 neighbours are all wall (or floor)
    for cls in (render.FLOOR, render.WALL):
        same = slot == cls
        interior = same.copy()
        interior[:, 1:-1, 1:-1] &= (same[:, :-2, 1:-1] & same[:, 2:, 1:-1] & same[:, 1:-1, :-2]
                                    & same[:, 1:-1, 2:])
        assert interior.sum() > 1000 and not edges[interior].any()
    # objects stand well in front of the wall: their silhouette against it is always an edge
    for (s1, s2), (e1, e2) in zip(neighbour_pairs(slot), neighbour_pairs(edges), strict=True):
        assert e1[(s1 >= 2) & (s2 == 1)].all() and e2[(s2 >= 2) & (s1 == 1)].all()


def test_reshading_is_lambert_shading_with_shadows(scenes) -> None:
    shading = f32(scenes["reshading"][:, 0])
    ambient = scenes["ambient"][:, None, None]
    assert (shading >= 0).all() and (shading <= 1).all()
    cosine = np.einsum("nchw,nc->nhw", f32(scenes["normals"]), scenes["light"])
    lit = scenes["lit"]
    expected = ambient + (1 - ambient) * np.maximum(cosine, 0) * lit
    assert np.allclose(shading, expected, atol=3e-3)
    for i in range(N_IMAGES):
        # facing the light more means brighter, among the pixels the light reaches...
        facing = lit[i] & (cosine[i] > 0)
        by_cosine = shading[i][facing][np.argsort(cosine[i][facing])]
        assert (np.diff(by_cosine) > -3e-3).all() and by_cosine[-1] > by_cosine[0] + 0.2
        # ...and surfaces facing away get the ambient light only, the least of all
        assert np.allclose(shading[i][cosine[i] <= 0], ambient[i], atol=1e-3)
    # the autoencoder image is albedo times shading (8-bit quantised)
    rgb = f32(scenes["rgb"])
    assert np.allclose(rgb, scenes["albedo"] * shading[:, None], atol=1 / 255 + 2e-3)


def test_shadowed_points_have_an_object_towards_the_light(scenes) -> None:
    """A shadow needs an occluder: the ray to the light passes through some object's bounding
    sphere (computed independently of the intersection code)."""
    shadowed = ~scenes["lit"] & (np.einsum("nchw,nc->nhw", f32(scenes["normals"]),
                                           scenes["light"]) > 0)
    assert shadowed.any()
    for i, row, col in zip(*np.nonzero(shadowed), strict=True):
        p, light = scenes["hit_points"][i, :, row, col], scenes["light"][i]
        blocked = False
        for kind, center, axes, dims in zip(scenes["object_kind"][i], scenes["object_center"][i],
                                            scenes["object_axes"][i], scenes["object_dims"][i],
                                            strict=True):
            if kind == render.EMPTY:
                continue
            middle = center if kind in (render.SPHERE, render.BOX) else center + axes[:, 1] * (
                dims[1] / 2)
            bound = np.linalg.norm(dims) if kind != render.SPHERE else dims[0]
            along = max(0.0, float((middle - p) @ light))
            blocked |= bool(np.linalg.norm(p + along * light - middle) <= bound * 1.01)
        assert blocked


def test_edges_and_keypoints_are_image_features(scenes) -> None:
    edges, keypoints = f32(scenes["edges2d"][:, 0]), f32(scenes["keypoints2d"][:, 0])
    assert set(np.unique(edges)) == {0.0, 1.0} and set(np.unique(scenes["occlusion_edges"])) == {
        0.0, 1.0}
    assert keypoints.min() >= 0 and np.allclose(keypoints.max(axis=(1, 2)), 1.0)
    # both read the image: none inside a region of constant colour
    rgb = scenes["rgb"]
    flat = np.ones_like(edges, dtype=bool)
    for dr in range(-2, 3):
        for dc in range(-2, 3):
            flat &= (np.roll(rgb, (dr, dc), axis=(2, 3)) == rgb).all(axis=1)
    flat[:, :2], flat[:, -2:], flat[:, :, :2], flat[:, :, -2:] = False, False, False, False
    assert flat.sum() > 100
    assert (edges[flat] == 0).all() and (keypoints[flat] == 0).all()


def test_occlusion_edges_function_marks_the_near_side() -> None:
    depth = np.full((5, 6), 4.0, np.float32)
    depth[1:4, 1:3] = 2.0  # a near square
    edges = render.occlusion_edges(depth)
    assert edges.sum() == 6 and edges[1:4, 1:3].all()  # its rim, only on the near side
    assert render.occlusion_edges(depth + np.linspace(0, 0.3, 6)).sum() == edges.sum()


# --- determinism, splits, sizes ----------------------------------------------------------------
def test_same_seed_same_images_different_seed_different() -> None:
    a = render.render_scenes(3, size=16, seed=5)
    b = render.render_scenes(3, size=16, seed=5)
    c = render.render_scenes(3, size=16, seed=6)
    for key in render.LABEL_KEYS:
        assert np.array_equal(a[key], b[key])
    assert not np.array_equal(a["rgb"], c["rgb"]) and not np.array_equal(a["light"], c["light"])


def test_images_do_not_depend_on_split_size_offset_or_chunking() -> None:
    whole = render.render_scenes(5, size=16, seed=2, chunk=2)
    tail = render.render_scenes(2, size=16, seed=2, start=3)
    head = render.render_scenes(3, size=16, seed=2)
    for key in render.LABEL_KEYS:
        assert np.array_equal(whole[key][3:], tail[key])
        assert np.array_equal(whole[key][:3], head[key])
    val = render.render_scenes(2, size=16, seed=2, split="val")
    assert not np.array_equal(val["light"], whole["light"][:2])
    with pytest.raises(ValueError, match="split"):
        render.render_scenes(1, split="training")


def test_size_64_renders_the_same_scenes() -> None:
    small = render.render_scenes(3, size=32, seed=4)
    large = render.render_scenes(3, size=64, seed=4)
    assert large["rgb"].shape == (3, 3, 64, 64) and large["curvature"].shape == (3, 2, 64, 64)
    assert np.array_equal(small["light"], large["light"])
    # each 32-px pixel centre lies inside a 2x2 block of 64-px pixels; most blocks agree with it
    agree = (large["semseg"][:, ::2, ::2] == small["semseg"]).mean()
    assert agree > 0.85


def test_empty_render_has_the_right_shapes() -> None:
    out = render.render_scenes(0, size=8)
    assert out["rgb"].shape == (0, 3, 8, 8) and out["light"].shape == (0, 3)
    assert out["semseg"].dtype == np.uint8 and out["depth"].dtype == np.float16
