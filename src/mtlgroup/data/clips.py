"""Scene clips: a camera moving slowly over one ``scenes`` scene, with exact labels per frame.

A clip is the scene of ``scenes`` test image ``index`` (same seed) filmed by a camera that
starts at that image's pose and translates along a straight horizontal line at ``speed`` metres
per frame (its direction drawn from the clip's own generator, mostly sideways), always looking
at the same *pivot*: the point where the first frame's optical axis meets the floor. Surfaces
and light stay fixed in the world, so consecutive frames differ a little (parallax, shading of
the view-dependent labels such as ``light`` and ``normals`` in the camera frame), and every
frame's labels are exact: each frame is rendered by :func:`mtlgroup.data.render.render_batch`.

Clips are not cached: rendering one takes a few tens of milliseconds at 32×32 (all frames in
one vectorised call), less than reading a cache file would save.

Example:
    >>> clip = scene_clip(seed=0, frames=4, size=16)
    >>> tuple(clip.images.shape), tuple(clip.targets["depth"].shape), len(clip)
    ((4, 3, 16, 16), (4, 1, 16, 16), 4)
    >>> bool((clip.images[1] - clip.images[0]).abs().mean() < 0.05)
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from mtlgroup.data import render
from mtlgroup.data.base import Batch, TensorSplit
from mtlgroup.data.scenes import scenes_tasks
from mtlgroup.tasks import TaskSet

DEFAULT_SPEED = 0.02
"""Camera travel per frame, in metres (0.3 m over 16 frames: about 1 pixel of parallax per
frame at 32×32 for the nearest objects)."""
_CLIP_STREAM = 7
"""Second word of a clip's path generator seed, apart from every split's image generators."""
_MAX_DIVERGENCE_DEG = 35.0
"""The path's direction is within this angle of the camera's sideways axis."""


@dataclass(frozen=True)
class Clip:
    """Frames of one scene in time order and every ``scenes`` task's label per frame.

    Attributes:
        images: ``[F, 3, H, W]`` float32 in ``[0, 1]`` (also the ``autoencoder`` target), the
            values ``scenes`` inputs have (rounded through float16).
        targets: task name → ``[F, ...]``, stored like ``scenes`` (float16 maps, uint8
            ``semseg``, float32 ``light``); :meth:`batch` converts them for losses.
        tasks: the ``scenes`` tasks (:func:`~mtlgroup.data.scenes.scenes_tasks`).
        scenes: the rendered :class:`~mtlgroup.data.render.Scene` of each frame.
        seed, index, speed: what the clip was made from (see :func:`scene_clip`).
    """

    images: Tensor
    targets: dict[str, Tensor]
    tasks: TaskSet
    scenes: tuple[render.Scene, ...]
    seed: int
    index: int
    speed: float

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def split(self) -> TensorSplit:
        """The frames as a split (in time order), e.g. for
        :func:`mtlgroup.training.losses.evaluate`."""
        return TensorSplit(self.images, dict(self.targets))

    def batch(self, tasks: list[str] | tuple[str, ...] | None = None) -> Batch:
        """All frames as one batch, targets in compute dtypes (float32, int64)."""
        return self.split().take(torch.arange(len(self)), tasks)


def clip_scenes(seed: int, frames: int = 16, speed: float = DEFAULT_SPEED,
                index: int = 0) -> list[render.Scene]:
    """The scene of every frame of clip ``index`` (see the module docstring for the path).

    Example:
        >>> a, b = clip_scenes(0, frames=2, speed=0.1)
        >>> round(float(np.linalg.norm(b.camera_position - a.camera_position)), 3)
        0.1
    """
    if frames < 1:
        raise ValueError(f"a clip needs at least one frame, got frames={frames}")
    if not speed >= 0:
        raise ValueError(f"speed must be >= 0 metres per frame, got {speed!r}")
    scene = render.sample_scene(render.image_rng(seed, "test", index))
    start, forward = scene.camera_position, scene.camera_rotation[2]
    # The first frame's optical axis points down (targets are below the camera), so it meets
    # the floor ahead; looking at that point keeps the scene centred while the camera slides.
    pivot = start - (start[1] / forward[1]) * forward
    rng = np.random.default_rng([int(seed), _CLIP_STREAM, int(index)])
    sideways = scene.camera_rotation[0]  # horizontal by construction (see render._look_at)
    angle = np.radians(rng.uniform(-_MAX_DIVERGENCE_DEG, _MAX_DIVERGENCE_DEG))
    ahead = np.array([forward[0], 0.0, forward[2]]) / np.hypot(forward[0], forward[2])
    direction = rng.choice([-1.0, 1.0]) * (np.cos(angle) * sideways + np.sin(angle) * ahead)
    return [render.with_camera(scene, start + k * speed * direction, pivot)
            for k in range(frames)]


def scene_clip(seed: int, frames: int = 16, size: int = 32, speed: float = DEFAULT_SPEED,
               index: int = 0) -> Clip:
    """Render clip ``index`` of ``seed``: ``frames`` frames of ``size``×``size`` pixels.

    Deterministic in its arguments; the scene is that of ``scenes`` test image ``index`` of
    the same seed, so a network trained on the ``scenes`` train split has not seen it.
    """
    scenes = clip_scenes(seed, frames, speed, index)
    stored = render.render_stored(scenes, size)
    # inputs rounded through float16 like the ``scenes`` splits store them, so a network
    # trained on ``scenes`` sees the same values
    images = torch.from_numpy(stored.pop("rgb")).float()
    targets = {key: torch.from_numpy(values) for key, values in stored.items()}
    targets["autoencoder"] = images
    tasks = scenes_tasks()
    return Clip(images, {name: targets[name] for name in tasks.names}, tasks, tuple(scenes),
                int(seed), int(index), float(speed))


def scene_clips(n_clips: int, frames: int = 16, size: int = 32, seed: int = 0,
                speed: float = DEFAULT_SPEED) -> list[Clip]:
    """Clips ``0 .. n_clips-1`` of ``seed`` (each its own scene and path).

    Example:
        >>> [len(c) for c in scene_clips(2, frames=3, size=8)]
        [3, 3]
    """
    if n_clips < 0:
        raise ValueError(f"n_clips must be >= 0, got {n_clips}")
    return [scene_clip(seed, frames, size, speed, index=i) for i in range(n_clips)]
