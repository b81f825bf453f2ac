"""Scene clips: a slowly moving camera over one scene, with exact labels per frame."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch

from mtlgroup.data import render
from mtlgroup.data.clips import clip_scenes, scene_clip, scene_clips
from mtlgroup.data.scenes import scenes_tasks

SIZE = 16


@pytest.fixture(scope="module")
def clip():
    return scene_clip(seed=3, frames=6, size=SIZE)


def _mean_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().mean())


def test_consecutive_frames_differ_less_than_other_scenes(clip):
    others = scene_clips(3, frames=1, size=SIZE, seed=3)[1:]  # clips 1, 2: other scenes
    consecutive = max(_mean_abs(a, b) for a, b in pairwise(clip.images))
    across = min(_mean_abs(clip.images[0], o.images[0]) for o in others)
    assert 0 < consecutive < across / 5
    depth = clip.targets["depth"]
    assert max(_mean_abs(a, b) for a, b in pairwise(depth)) < min(
        _mean_abs(depth[0], o.targets["depth"][0]) for o in others)


def test_the_camera_moves_smoothly_and_keeps_its_pivot_centred():
    scenes = clip_scenes(1, frames=5, speed=0.05)
    steps = np.diff([s.camera_position for s in scenes], axis=0)
    assert np.allclose(np.linalg.norm(steps, axis=1), 0.05)
    assert np.allclose(steps, steps[0])  # a straight path at constant speed
    assert np.allclose(steps[:, 1], 0.0)  # horizontal
    # every frame's optical axis goes through one world point
    first = scenes[0]
    pivot = first.camera_position - first.camera_position[1] / first.camera_rotation[2, 1] * (
        first.camera_rotation[2])
    for scene in scenes:
        to_pivot = pivot - scene.camera_position
        assert np.allclose(to_pivot / np.linalg.norm(to_pivot), scene.camera_rotation[2])
    assert all(s.surfaces is first.surfaces and s.light is first.light for s in scenes)


def test_labels_are_those_of_each_frames_scene(clip):
    names = scenes_tasks().names
    assert set(clip.targets) == set(names)
    for index in (0, len(clip) - 1):
        exact = render.render_batch([clip.scenes[index]], SIZE)
        for key, values in exact.items():
            stored = clip.images if key == "rgb" else clip.targets[key]
            expected = torch.from_numpy(values[0])
            if key == "rgb" or stored.dtype == torch.float16:  # stored like scenes' splits
                expected = expected.half()
            assert torch.equal(stored[index].float(), expected.float()), key
    assert clip.targets["autoencoder"] is clip.images


def test_first_frame_is_the_scenes_test_image():
    clip = scene_clip(seed=2, frames=2, size=SIZE, index=4)
    test_image = render.render_scenes(1, size=SIZE, seed=2, split="test", start=4)["rgb"][0]
    assert torch.equal(clip.images[0], torch.from_numpy(test_image).float())


def test_clips_are_deterministic_per_seed(clip):
    again = scene_clip(seed=3, frames=6, size=SIZE)
    other = scene_clip(seed=4, frames=6, size=SIZE)
    assert torch.equal(clip.images, again.images)
    assert all(torch.equal(clip.targets[k], again.targets[k]) for k in clip.targets)
    assert not torch.equal(clip.images, other.images)
    # a shorter clip is a prefix of a longer one
    assert torch.equal(scene_clip(seed=3, frames=3, size=SIZE).images, clip.images[:3])


def test_batch_and_split_hold_every_frame_in_order(clip):
    batch = clip.batch(["semseg", "depth"])
    assert torch.equal(batch.inputs, clip.images)
    assert batch.targets["semseg"].dtype == torch.int64
    assert batch.targets["depth"].dtype == torch.float32
    assert len(clip.split()) == len(clip)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="frame"):
        scene_clip(0, frames=0)
    with pytest.raises(ValueError, match="speed"):
        scene_clip(0, speed=-1.0)
