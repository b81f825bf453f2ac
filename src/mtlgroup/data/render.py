"""A vectorised numpy ray caster for small procedural 3-D scenes, with exact labels for ten tasks.

A scene is a floor, a back wall and 2–5 objects (sphere, box, cylinder, cone) standing on the
floor, with random sizes, poses, colours and solid textures (stripes, checker), lit by a directional
light plus ambient light and seen through a pinhole camera. One primary ray per pixel centre.

Rendering is vectorised over the pixels *and* the images of a chunk: every primitive of one kind
in the chunk is intersected with all its image's rays in one array operation, so the only
per-image Python work is drawing the scene's random parameters and two OpenCV calls.

Frames and units:
    * world: metres, ``y`` up, floor ``y = 0``, the back wall a plane ``z = const`` ahead.
    * camera (all labels): ``x`` right, ``y`` down, ``z`` forward (OpenCV convention); depth is
      the camera-frame ``z`` of the hit point, in metres.

Each image ``i`` of a split is drawn from its own seed ``(seed, split, i)``, so the images do not
depend on the split sizes, the chunking or the resolution (a scene renders the same at 32 and 64
pixels).

Example:
    >>> out = render_scenes(2, size=16, seed=0)
    >>> out["rgb"].shape, out["semseg"].shape, out["light"].shape
    ((2, 3, 16, 16), (2, 16, 16), (2, 3))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np

# --- classes (the ``semseg`` labels) ----------------------------------------------------------
FLOOR, WALL, SPHERE, BOX, CYLINDER, CONE = range(6)
CLASS_NAMES: tuple[str, ...] = ("floor", "wall", "sphere", "box", "cylinder", "cone")
EMPTY = 255
"""Kind of an unused object slot."""

# --- fixed rendering constants (changing one changes the data: bump GENERATOR_VERSION) --------
FIELD_OF_VIEW_DEG = 50.0
"""Horizontal and vertical field of view of the square pinhole camera."""
MAX_OBJECTS = 5
MIN_OBJECTS = 2
CURVATURE_SCALE = 0.25
"""The ``curvature`` label is ``CURVATURE_SCALE`` (metres) times the principal curvatures (1/m),
so typical values are O(1); see :data:`CURVATURE_CLIP`."""
CURVATURE_CLIP = 2.0
"""Scaled curvatures are clipped to ``[-CURVATURE_CLIP, CURVATURE_CLIP]`` (only cone tips reach
it: a cone's curvature grows without bound towards its apex)."""
OCCLUSION_THRESHOLD = 0.12
"""A pixel is an occlusion edge when a 4-neighbour is farther by more than this fraction of its
own depth."""
CANNY_THRESHOLDS = (80, 160)
HARRIS_BLOCK, HARRIS_APERTURE, HARRIS_K = 2, 3, 0.04

_T_MIN = 1e-4  # smallest accepted ray parameter (metres): rejects self-hits at the origin
_SHADOW_OFFSET = 2e-3  # shadow rays start this far off the surface, along the normal
_SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
_STORED_FLOAT = np.float16
_NO_TEXTURE, _STRIPES, _CHECKER = 0, 1, 2
_N_SLOTS = 2 + MAX_OBJECTS  # floor, wall, objects


# ============================================================================================
# Scene sampling (per image, world frame)
# ============================================================================================
@dataclass(frozen=True)
class Surface:
    """One surface of a scene, in the world frame.

    ``axes`` holds the surface's local axes as columns; ``center`` its local origin (for
    cylinders and cones the centre of the base, for planes any point on it). ``dims`` are
    ``(r, 0, 0)`` for a sphere, half extents for a box, ``(r, height, 0)`` for a cylinder or cone.
    Planes have their normal along local ``y``.
    """

    kind: int
    center: np.ndarray
    axes: np.ndarray
    dims: np.ndarray
    texture: int
    frequency: float
    phase: np.ndarray
    stripe_axis: np.ndarray
    color: np.ndarray
    color2: np.ndarray


@dataclass(frozen=True)
class Scene:
    """All random parameters of one image."""

    camera_rotation: np.ndarray  # world -> camera, rows are the camera axes in world coordinates
    camera_position: np.ndarray
    light: np.ndarray  # unit direction towards the light, world frame
    ambient: float
    surfaces: tuple[Surface, ...]  # floor, wall, then the objects


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random generator of image ``index`` of ``split``: independent of every other image."""
    if split not in _SPLIT_IDS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(_SPLIT_IDS)}")
    return np.random.default_rng([int(seed), _SPLIT_IDS[split], int(index)])


def _hsv_color(rng: np.random.Generator, saturation: tuple[float, float],
               value: tuple[float, float]) -> np.ndarray:
    hsv = np.array([rng.uniform(0, 180), rng.uniform(*saturation) * 255, rng.uniform(*value) * 255])
    rgb = cv2.cvtColor(hsv.astype(np.uint8).reshape(1, 1, 3), cv2.COLOR_HSV2RGB)
    return rgb.reshape(3).astype(np.float64) / 255.0


def _yaw_axes(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _surface(rng: np.random.Generator, kind: int, center: np.ndarray, axes: np.ndarray,
             dims: np.ndarray, textures: tuple[float, float, float],
             frequency: tuple[float, float], color: np.ndarray) -> Surface:
    stripe_axis = rng.normal(size=3)
    return Surface(
        kind=kind,
        center=center,
        axes=axes,
        dims=dims,
        texture=int(np.searchsorted(np.cumsum(textures), rng.random() * sum(textures))),
        frequency=float(rng.uniform(*frequency)),
        # phases in [0.1, 0.9] keep a plane's own (zero) normal coordinate off a stripe boundary
        phase=rng.uniform(0.1, 0.9, size=3),
        stripe_axis=stripe_axis / np.linalg.norm(stripe_axis),
        color=color,
        color2=color * rng.uniform(0.35, 0.7),
    )


def _look_at(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    forward = target - position
    forward /= np.linalg.norm(forward)
    right = np.array([-forward[2], 0.0, forward[0]])  # forward x world-up
    right /= np.linalg.norm(right)
    fx, fy, fz = forward
    down = np.array([fy * right[2], fz * right[0] - fx * right[2], -fy * right[0]])  # f x right
    return np.stack([right, down, forward])


def with_camera(scene: Scene, position: np.ndarray, target: np.ndarray) -> Scene:
    """A copy of ``scene`` (same surfaces and light, in the world frame) seen from ``position``
    and looking at ``target`` (world frame), with the same upright camera as :func:`sample_scene`.

    Example:
        >>> scene = sample_scene(image_rng(0, "test", 0))
        >>> ahead = scene.camera_position + 2.0 * scene.camera_rotation[2]  # on the optical axis
        >>> same = with_camera(scene, scene.camera_position, ahead)
        >>> bool(np.allclose(same.camera_rotation, scene.camera_rotation))
        True
    """
    position = np.asarray(position, dtype=np.float64)
    rotation = _look_at(position, np.asarray(target, dtype=np.float64))
    return replace(scene, camera_rotation=rotation, camera_position=position)


def _sample_object(rng: np.random.Generator, kind: int) -> tuple[np.ndarray, float, np.ndarray]:
    """``(dims, footprint radius, axes)`` of a random object of ``kind``."""
    axes = _yaw_axes(rng.uniform(0, 2 * np.pi))
    if kind == SPHERE:
        r = rng.uniform(0.25, 0.5)
        return np.array([r, 0.0, 0.0]), r, axes
    if kind == BOX:
        half = rng.uniform(0.18, 0.45, size=3)
        return half, float(np.hypot(half[0], half[2])), axes
    if kind == CYLINDER:
        r = rng.uniform(0.18, 0.4)
        return np.array([r, rng.uniform(0.4, 1.2), 0.0]), r, axes
    r = rng.uniform(0.22, 0.45)
    return np.array([r, rng.uniform(0.5, 1.3), 0.0]), r, axes


def sample_scene(rng: np.random.Generator) -> Scene:
    """Draw one scene: camera, light, floor, wall and 2–5 non-overlapping objects."""
    camera_position = np.array([rng.uniform(-0.4, 0.4), rng.uniform(1.7, 2.3), 0.0])
    target = np.array([rng.uniform(-0.3, 0.3), rng.uniform(0.2, 0.5), rng.uniform(3.0, 3.6)])
    wall_z = target[2] + rng.uniform(1.2, 1.8)
    rotation = _look_at(camera_position, target)

    elevation = rng.uniform(np.radians(25), np.radians(70))
    azimuth = rng.uniform(np.radians(-75), np.radians(75))
    # the light is on the camera's side of the wall (negative world z): the wall never shadows
    light = np.array([np.sin(azimuth) * np.cos(elevation), np.sin(elevation),
                      -np.cos(azimuth) * np.cos(elevation)])

    floor = _surface(rng, FLOOR, np.zeros(3), np.eye(3), np.zeros(3), (0.3, 0.2, 0.5), (0.8, 2.0),
                     _hsv_color(rng, (0.0, 0.35), (0.45, 0.85)))
    wall_axes = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # normal -z
    wall = _surface(rng, WALL, np.array([0.0, 0.0, wall_z]), wall_axes, np.zeros(3),
                    (0.4, 0.4, 0.2), (0.8, 2.0), _hsv_color(rng, (0.0, 0.3), (0.55, 0.95)))

    objects: list[Surface] = []
    placed: list[tuple[float, float, float]] = []  # x, z, footprint radius
    half_view = np.tan(np.radians(FIELD_OF_VIEW_DEG) / 2)
    for kind in rng.integers(SPHERE, CONE + 1, size=rng.integers(MIN_OBJECTS, MAX_OBJECTS + 1)):
        dims, radius, axes = _sample_object(rng, int(kind))
        for _ in range(50):
            z = rng.uniform(target[2] - 1.0, wall_z - 0.7 - radius)
            x = target[0] + rng.uniform(-0.75, 0.75) * half_view * z
            if all(np.hypot(x - px, z - pz) > radius + pr + 0.05 for px, pz, pr in placed):
                break
        else:
            continue  # no free spot: the scene has one object fewer
        placed.append((x, z, radius))
        base_y = dims[0] if kind == SPHERE else dims[1] if kind == BOX else 0.0
        objects.append(_surface(rng, int(kind), np.array([x, base_y, z]), axes, dims,
                                (0.3, 0.35, 0.35), (2.0, 5.0),
                                _hsv_color(rng, (0.45, 0.95), (0.55, 1.0))))
    return Scene(rotation, camera_position, light, float(rng.uniform(0.15, 0.35)),
                 (floor, wall, *objects))


# ============================================================================================
# Packing a chunk of scenes into camera-frame arrays
# ============================================================================================
@dataclass
class _Packed:
    """The surfaces of ``B`` scenes as arrays ``[B, slots, ...]`` in the camera frame."""

    kind: np.ndarray  # [B, S] uint8 (EMPTY for unused slots)
    center: np.ndarray  # [B, S, 3]
    axes: np.ndarray  # [B, S, 3, 3], columns: local axes in camera coordinates
    dims: np.ndarray  # [B, S, 3]
    texture: np.ndarray  # [B, S]
    frequency: np.ndarray  # [B, S]
    phase: np.ndarray  # [B, S, 3]
    stripe_axis: np.ndarray  # [B, S, 3]
    color: np.ndarray  # [B, S, 3]
    color2: np.ndarray  # [B, S, 3]
    light: np.ndarray  # [B, 3] camera frame
    ambient: np.ndarray  # [B]


def _pack(scenes: list[Scene]) -> _Packed:
    b = len(scenes)
    p = _Packed(
        kind=np.full((b, _N_SLOTS), EMPTY, np.uint8),
        center=np.zeros((b, _N_SLOTS, 3)),
        axes=np.tile(np.eye(3), (b, _N_SLOTS, 1, 1)),
        dims=np.zeros((b, _N_SLOTS, 3)),
        texture=np.zeros((b, _N_SLOTS), np.int8),
        frequency=np.ones((b, _N_SLOTS)),
        phase=np.zeros((b, _N_SLOTS, 3)),
        stripe_axis=np.zeros((b, _N_SLOTS, 3)),
        color=np.zeros((b, _N_SLOTS, 3)),
        color2=np.zeros((b, _N_SLOTS, 3)),
        light=np.stack([s.camera_rotation @ s.light for s in scenes]),
        ambient=np.array([s.ambient for s in scenes]),
    )
    for i, scene in enumerate(scenes):
        rot, pos = scene.camera_rotation, scene.camera_position
        for j, surface in enumerate(scene.surfaces):
            p.kind[i, j] = surface.kind
            p.center[i, j] = rot @ (surface.center - pos)
            p.axes[i, j] = rot @ surface.axes
            p.dims[i, j] = surface.dims
            p.texture[i, j] = surface.texture
            p.frequency[i, j] = surface.frequency
            p.phase[i, j] = surface.phase
            p.stripe_axis[i, j] = surface.stripe_axis
            p.color[i, j] = surface.color
            p.color2[i, j] = surface.color2
    return p


def pixel_rays(size: int) -> np.ndarray:
    """Unit camera-frame directions ``[size*size, 3]`` through the pixel centres (row-major)."""
    focal = (size / 2) / np.tan(np.radians(FIELD_OF_VIEW_DEG) / 2)
    centres = (np.arange(size) + 0.5 - size / 2) / focal
    v, u = np.meshgrid(centres, centres, indexing="ij")
    dirs = np.stack([u, v, np.ones_like(u)], axis=-1).reshape(-1, 3)
    return dirs / np.linalg.norm(dirs, axis=1, keepdims=True)


# ============================================================================================
# Ray–primitive intersections in the primitive's local frame
# ============================================================================================
# Each takes local origins ``o`` and unit directions ``d`` broadcastable to [M, P, 3] and the
# primitives' dims ``[M, 1, 3]``; it returns the nearest hit ``t > _T_MIN`` (inf on a miss) and
# the part hit (box: face axis; cylinder: 0 side, 1 top, 2 bottom; cone: 0 side, 2 base).
Intersection = tuple[np.ndarray, np.ndarray]


def _nearest(candidates: list[np.ndarray], part_ids: tuple[int, ...]) -> Intersection:
    """The nearest of several candidate hits, and the part id of the one chosen."""
    stacked = np.stack(np.broadcast_arrays(*candidates))
    best = stacked.argmin(axis=0)
    t = np.take_along_axis(stacked, best[None], axis=0)[0]
    return t, np.asarray(part_ids, np.int8)[best]


def _valid(t: np.ndarray, ok: np.ndarray) -> np.ndarray:
    return np.where(ok & (t > _T_MIN), t, np.inf)


def _nonzero(x: np.ndarray) -> np.ndarray:
    return np.where(np.abs(x) < 1e-12, 1e-12, x)


def intersect_sphere(o: np.ndarray, d: np.ndarray, dims: np.ndarray) -> Intersection:
    r = dims[..., 0]
    b = np.sum(o * d, axis=-1)
    disc = b * b - (np.sum(o * o, axis=-1) - r * r)
    root = np.sqrt(np.maximum(disc, 0.0))
    near, far = -b - root, -b + root
    t = _valid(np.where(near > _T_MIN, near, far), disc >= 0)
    return t, np.zeros(t.shape, np.int8)


def intersect_box(o: np.ndarray, d: np.ndarray, dims: np.ndarray) -> Intersection:
    """Slab test on an axis-aligned box ``|x_i| <= dims_i`` centred on the local origin."""
    t_near = np.full(np.broadcast_shapes(o.shape, d.shape)[:-1], -np.inf)
    t_far = np.full_like(t_near, np.inf)
    axis = np.zeros(t_near.shape, np.int8)
    for a in range(3):
        inv = 1.0 / _nonzero(d[..., a])
        t1 = (-dims[..., a] - o[..., a]) * inv
        t2 = (dims[..., a] - o[..., a]) * inv
        low = np.minimum(t1, t2)
        axis = np.where(low > t_near, a, axis).astype(np.int8)
        t_near = np.maximum(t_near, low)
        t_far = np.minimum(t_far, np.maximum(t1, t2))
    t = _valid(np.where(t_near > _T_MIN, t_near, t_far), t_near <= t_far)
    return t, axis


def _disc_caps(o: np.ndarray, d: np.ndarray, r: np.ndarray,
               heights: tuple[np.ndarray | float, ...]) -> list[np.ndarray]:
    """Hits with horizontal discs of radius ``r`` at each of ``heights``."""
    dy = _nonzero(d[..., 1])
    caps = []
    for h in heights:
        t = (h - o[..., 1]) / dy
        x, z = o[..., 0] + t * d[..., 0], o[..., 2] + t * d[..., 2]
        caps.append(_valid(t, x * x + z * z <= r * r))
    return caps


def intersect_cylinder(o: np.ndarray, d: np.ndarray, dims: np.ndarray) -> Intersection:
    """Upright cylinder: radius ``dims[0]``, from local ``y = 0`` up to ``y = dims[1]``."""
    r, height = dims[..., 0], dims[..., 1]
    a = d[..., 0] ** 2 + d[..., 2] ** 2
    b = o[..., 0] * d[..., 0] + o[..., 2] * d[..., 2]
    c = o[..., 0] ** 2 + o[..., 2] ** 2 - r * r
    disc = b * b - a * c
    side = (-b - np.sqrt(np.maximum(disc, 0.0))) / np.maximum(a, 1e-12)
    y = o[..., 1] + side * d[..., 1]
    side = _valid(side, (disc >= 0) & (a > 1e-12) & (y >= 0) & (y <= height))
    return _nearest([side, *_disc_caps(o, d, r, (height, 0.0))], (0, 1, 2))


def intersect_cone(o: np.ndarray, d: np.ndarray, dims: np.ndarray) -> Intersection:
    """Upright cone: base radius ``dims[0]`` at local ``y = 0``, apex at ``y = dims[1]``."""
    r, height = dims[..., 0], dims[..., 1]
    k2 = (r / height) ** 2
    q0 = height - o[..., 1]  # height below the apex
    a = d[..., 0] ** 2 + d[..., 2] ** 2 - k2 * d[..., 1] ** 2
    b = o[..., 0] * d[..., 0] + o[..., 2] * d[..., 2] + k2 * q0 * d[..., 1]
    c = o[..., 0] ** 2 + o[..., 2] ** 2 - k2 * q0 * q0
    disc = b * b - a * c
    root = np.sqrt(np.maximum(disc, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        flat = np.abs(a) < 1e-9  # the ray is parallel to a generator: one root
        roots = [np.where(flat, -c / (2 * _nonzero(b)), (-b + s * root) / np.where(flat, 1, a))
                 for s in (-1.0, 1.0)]
    sides = []
    for t in roots:
        y = o[..., 1] + t * d[..., 1]
        sides.append(_valid(t, (disc >= 0) & (y >= 0) & (y <= height)))
    return _nearest([np.minimum(*sides), *_disc_caps(o, d, r, (0.0,))], (0, 2))


INTERSECTORS: dict[int, Callable[[np.ndarray, np.ndarray, np.ndarray], Intersection]] = {
    SPHERE: intersect_sphere,
    BOX: intersect_box,
    CYLINDER: intersect_cylinder,
    CONE: intersect_cone,
}


# ============================================================================================
# Casting
# ============================================================================================
def _cast_objects(packed: _Packed, origins: np.ndarray, dirs: np.ndarray,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit of every object slot: ``t [B, S, P]`` (inf: miss or plane slot) and part.

    ``origins`` is ``[B, P|1, 3]`` and ``dirs`` ``[B, P|1, 3]`` (camera frame).
    """
    b, n_pix = packed.kind.shape[0], max(origins.shape[1], dirs.shape[1])
    t_all = np.full((b, _N_SLOTS, n_pix), np.inf)
    parts = np.zeros((b, _N_SLOTS, n_pix), np.int8)
    for kind, intersect in INTERSECTORS.items():
        image, slot = np.nonzero(packed.kind == kind)
        if image.size == 0:
            continue
        axes = packed.axes[image, slot]  # [M, 3, 3]
        # local coordinates: (x - centre) @ axes
        o_local = (origins[image] - packed.center[image, slot, None]) @ axes
        d_local = dirs[image] @ axes
        t, part = intersect(o_local, d_local, packed.dims[image, slot, None])
        t_all[image, slot], parts[image, slot] = t, part
    return t_all, parts


def _cast_planes(packed: _Packed, dirs: np.ndarray, t_all: np.ndarray) -> None:
    """Fill the floor and wall slots of ``t_all`` for rays from the camera centre."""
    for slot in (0, 1):
        normal = packed.axes[:, slot, :, 1]  # [B, 3]
        offset = np.sum(normal * packed.center[:, slot], axis=1)  # n . point (origin at 0)
        t = offset[:, None] / _nonzero(dirs @ normal.T).T
        t_all[:, slot] = _valid(t, np.ones(t.shape, bool))


def _gather(values: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """``values [B, S, ...]`` at each pixel's slot ``[B, P]`` -> ``[B, P, ...]``."""
    return values[np.arange(slot.shape[0])[:, None], slot]


def _local_normals_and_curvature(kind: np.ndarray, part: np.ndarray, p: np.ndarray,
                                 dims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outward unit normals and principal curvatures ``(k1 >= k2)`` in the local frame.

    Curvatures are positive for convex surfaces seen from outside: a sphere ``(1/r, 1/r)``, a
    cylinder's side ``(1/r, 0)``, a cone's side ``(cos(alpha)/rho, 0)`` with ``alpha`` the
    half-angle and ``rho`` the distance to the axis (the parallel circle's normal curvature is the
    normal's radial component over ``rho``), and ``0`` on planes, box faces and caps.
    """
    normal = np.zeros_like(p)
    curvature = np.zeros(p.shape[:-1] + (2,))
    normal[..., 1] = 1.0  # planes: local y

    sel = kind == SPHERE
    r = dims[sel, 0:1]
    normal[sel] = p[sel] / r
    curvature[sel] = 1.0 / r

    sel = kind == BOX
    face = part[sel].astype(np.int64)
    box_normal = np.zeros((face.size, 3))
    box_normal[np.arange(face.size), face] = np.sign(p[sel][np.arange(face.size), face])
    normal[sel] = box_normal

    for primitive in (CYLINDER, CONE):
        sel = kind == primitive
        q, prt, dm = p[sel], part[sel], dims[sel]
        rho = np.maximum(np.hypot(q[:, 0], q[:, 2]), 1e-9)
        slope = dm[:, 0] / dm[:, 1] if primitive == CONE else np.zeros(len(q))
        cos_half, sin_half = 1 / np.sqrt(1 + slope**2), slope / np.sqrt(1 + slope**2)
        side = np.stack([cos_half * q[:, 0] / rho, sin_half, cos_half * q[:, 2] / rho], axis=1)
        cap = np.zeros_like(side)
        cap[:, 1] = np.where(prt == 1, 1.0, -1.0)
        normal[sel] = np.where((prt == 0)[:, None], side, cap)
        curvature[sel, 0] = np.where(prt == 0, cos_half / rho, 0.0)
    return normal, curvature


def _albedo(packed: _Packed, slot: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Solid textures in each surface's local frame, so patterns stick to the objects."""
    texture = _gather(packed.texture, slot)
    coords = p * _gather(packed.frequency, slot)[..., None] + _gather(packed.phase, slot)
    stripes = np.floor(np.sum(coords * _gather(packed.stripe_axis, slot), axis=-1))
    checker = np.floor(coords).sum(axis=-1)
    pattern = np.where(texture == _STRIPES, stripes, np.where(texture == _CHECKER, checker, 0))
    odd = (np.mod(pattern, 2) == 1)[..., None]
    return np.where(odd, _gather(packed.color2, slot), _gather(packed.color, slot))


def occlusion_edges(depth: np.ndarray, threshold: float = OCCLUSION_THRESHOLD) -> np.ndarray:
    """``1`` where a 4-neighbour is farther by more than ``threshold`` times the pixel's depth.

    Marks the occluding (near) side of each depth discontinuity. ``depth`` is ``[..., H, W]``.
    """
    edges = np.zeros(depth.shape, bool)
    for axis in (-1, -2):
        n = depth.shape[axis]
        lo = [slice(None)] * depth.ndim
        hi = [slice(None)] * depth.ndim
        lo[axis], hi[axis] = slice(0, n - 1), slice(1, n)
        a, b = depth[tuple(lo)], depth[tuple(hi)]
        edges[tuple(lo)] |= b - a > threshold * a
        edges[tuple(hi)] |= a - b > threshold * b
    return edges.astype(np.float32)


def image_features(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(edges2d, keypoints2d)`` of one ``[3, H, W]`` image in ``[0, 1]``.

    ``edges2d``: Canny (:data:`CANNY_THRESHOLDS`, L2 gradient) on the uint8 grayscale, in {0, 1}.
    ``keypoints2d``: the Harris corner response, negative values (edges) set to 0, divided by the
    image's maximum, then square-rooted so that weaker corners stay visible; in ``[0, 1]``.
    """
    image = np.ascontiguousarray(np.round(rgb.transpose(1, 2, 0) * 255).astype(np.uint8))
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, *CANNY_THRESHOLDS, L2gradient=True) > 0
    harris = cv2.cornerHarris(gray.astype(np.float32) / 255, HARRIS_BLOCK, HARRIS_APERTURE,
                              HARRIS_K)
    harris = np.maximum(harris, 0.0)
    peak = float(harris.max())
    keypoints = np.sqrt(harris / peak) if peak > 1e-12 else np.zeros_like(harris)
    return edges.astype(np.float32), keypoints.astype(np.float32)


def render_batch(scenes: list[Scene], size: int, return_geometry: bool = False,
                 ) -> dict[str, np.ndarray]:
    """Render ``scenes`` at ``size``×``size``: float32 labels, channel-first, leading batch dim.

    Keys: ``rgb`` and the task labels (see :func:`render_scenes`); with ``return_geometry`` also
    ``hit_points [B,3,H,W]`` (camera frame), ``ray_dirs [3,H,W]``, ``distance [B,H,W]`` (ray
    parameter), ``slot [B,H,W]`` (0 floor, 1 wall, 2+k object k), ``curvature_raw [B,2,H,W]``
    (1/m, unscaled, unclipped), ``albedo [B,3,H,W]``, ``lit [B,H,W]`` (1 where the light is not
    blocked), ``ambient [B]``, ``object_kind [B,K]`` (class id, EMPTY if unused),
    ``object_center [B,K,3]``, ``object_axes [B,K,3,3]`` (camera frame), ``object_dims [B,K,3]``.
    """
    b, n_pix = len(scenes), size * size
    packed = _pack(scenes)
    dirs = pixel_rays(size)
    origins = np.zeros((b, 1, 3))
    t_all, parts = _cast_objects(packed, origins, np.broadcast_to(dirs, (b, n_pix, 3)))
    _cast_planes(packed, dirs, t_all)

    slot = t_all.argmin(axis=1)  # [B, P]
    distance = np.take_along_axis(t_all, slot[:, None], axis=1)[:, 0]
    if not np.isfinite(distance).all():
        raise RuntimeError("a camera ray missed every surface (scene sampling bug)")
    part = np.take_along_axis(parts, slot[:, None], axis=1)[:, 0]
    kind = _gather(packed.kind, slot)
    axes = _gather(packed.axes, slot)  # [B, P, 3, 3]
    hit = distance[..., None] * dirs  # [B, P, 3]
    local = np.sum((hit - _gather(packed.center, slot))[..., :, None] * axes, axis=-2)
    local_normal, curvature = _local_normals_and_curvature(kind, part, local,
                                                           _gather(packed.dims, slot))
    normal = np.sum(axes * local_normal[..., None, :], axis=-1)

    # shadows: a ray towards the light from just off the surface; only objects can block it
    # (the floor is below every point, and the light is on the camera's side of the wall)
    shadow_t, _ = _cast_objects(packed, hit + _SHADOW_OFFSET * normal, packed.light[:, None])
    lit = ~np.isfinite(shadow_t).any(axis=1)
    lambert = np.maximum(np.einsum("bpi,bi->bp", normal, packed.light), 0.0)
    ambient = packed.ambient[:, None]
    shading = ambient + (1 - ambient) * lambert * lit
    albedo = _albedo(packed, slot, local)
    # the input image is quantised like a real 8-bit photo
    rgb = np.round(np.clip(albedo * shading[..., None], 0, 1) * 255) / 255

    def image(x: np.ndarray) -> np.ndarray:  # [B, P, C] -> [B, C, H, W]
        return np.ascontiguousarray(x.reshape(b, size, size, -1).transpose(0, 3, 1, 2))

    depth = image(distance[..., None] * dirs[:, 2:3])
    rgb_img = image(rgb).astype(np.float32)
    features = [image_features(x) for x in rgb_img]
    out: dict[str, np.ndarray] = {
        "rgb": rgb_img,
        "semseg": kind.reshape(b, size, size).astype(np.uint8),
        "depth": depth.astype(np.float32),
        "normals": image(normal).astype(np.float32),
        "reshading": image(shading[..., None]).astype(np.float32),
        "curvature": np.clip(image(curvature) * CURVATURE_SCALE, -CURVATURE_CLIP,
                             CURVATURE_CLIP).astype(np.float32),
        "occlusion_edges": occlusion_edges(depth),
        "edges2d": np.stack([e for e, _ in features])[:, None],
        "keypoints2d": np.stack([k for _, k in features])[:, None],
        "light": packed.light.astype(np.float32),
    }
    if return_geometry:
        out.update(
            hit_points=image(hit).astype(np.float32),
            ray_dirs=dirs.reshape(size, size, 3).transpose(2, 0, 1).astype(np.float32),
            distance=distance.reshape(b, size, size).astype(np.float32),
            slot=slot.reshape(b, size, size).astype(np.uint8),
            curvature_raw=image(curvature).astype(np.float32),
            albedo=image(albedo).astype(np.float32),
            lit=lit.reshape(b, size, size),
            ambient=packed.ambient.astype(np.float32),
            object_kind=packed.kind[:, 2:],
            object_center=packed.center[:, 2:].astype(np.float32),
            object_axes=packed.axes[:, 2:].astype(np.float32),
            object_dims=packed.dims[:, 2:].astype(np.float32),
        )
    return out


LABEL_KEYS: tuple[str, ...] = ("rgb", "semseg", "depth", "normals", "reshading", "curvature",
                               "occlusion_edges", "edges2d", "keypoints2d", "light")
"""The arrays :func:`render_scenes` returns (``autoencoder`` is an alias of ``rgb``)."""


def default_chunk(size: int) -> int:
    """Images rendered at once: about 2^18 rays, enough to amortise numpy's per-call cost."""
    return max(1, (1 << 18) // (size * size))


def render_scenes(
    n: int,
    size: int = 32,
    seed: int = 0,
    split: str = "train",
    start: int = 0,
    return_geometry: bool = False,
    chunk: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Render images ``start .. start+n-1`` of ``split`` and all their labels.

    Returns channel-first arrays with a leading ``N``: ``rgb [N,3,H,W]`` (also under
    ``autoencoder``, the same array), ``semseg [N,H,W]`` uint8 (class ids, see
    :data:`CLASS_NAMES`), ``depth [N,1,H,W]`` (m), ``normals [N,3,H,W]``, ``reshading``,
    ``curvature [N,2,H,W]`` (scaled, see :data:`CURVATURE_SCALE`), ``occlusion_edges``,
    ``edges2d``, ``keypoints2d`` (``[N,1,H,W]`` each) and ``light [N,3]`` (float32). Float maps
    are stored as float16. ``return_geometry`` adds float32 geometry for checks (see
    :func:`render_batch`). ``on_progress(k)`` is called after each chunk of ``k`` images.

    Example:
        >>> a = render_scenes(3, size=8, seed=1)
        >>> b = render_scenes(2, size=8, seed=1, start=1)
        >>> bool((a["depth"][1:] == b["depth"]).all())
        True
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if size < 4:
        raise ValueError(f"size must be >= 4 pixels, got {size}")
    chunk = chunk or default_chunk(size)
    out: dict[str, np.ndarray] = {}
    rendered_n = max(n, 1)  # with n == 0, one image still gives the shapes and dtypes
    # the output is allocated once and filled chunk by chunk: no second copy for concatenation
    for offset in range(0, rendered_n, chunk):
        count = min(chunk, rendered_n - offset)
        scenes = [sample_scene(image_rng(seed, split, start + offset + i)) for i in range(count)]
        for key, values in render_stored(scenes, size, return_geometry).items():
            if key == "ray_dirs":  # the same for all images
                out[key] = values
                continue
            if key not in out:
                out[key] = np.empty((n, *values.shape[1:]), values.dtype)
            out[key][offset : offset + count] = values[: max(0, n - offset)]
        if on_progress is not None and n > 0:
            on_progress(count)
    out["autoencoder"] = out["rgb"]
    return out


def render_stored(scenes: list[Scene], size: int,
                  return_geometry: bool = False) -> dict[str, np.ndarray]:
    """:func:`render_batch` of ``scenes`` in the dtypes :func:`render_scenes` stores (float
    label maps as float16; geometry and ``light`` float32), without the ``autoencoder``
    alias."""
    return {key: _compact(key, values)
            for key, values in render_batch(scenes, size, return_geometry).items()}


def _compact(key: str, values: np.ndarray) -> np.ndarray:
    """Storage dtype: float16 for the float label maps, geometry and ``light`` stay float32."""
    if key in LABEL_KEYS and key != "light" and values.dtype == np.float32:
        return values.astype(_STORED_FLOAT)
    return values
