"""Rollout videos (MP4 through imageio-ffmpeg), labelled with the learner and its success.

Made by the run, after evaluation: every learner side by side on the same held-out task,
after its k adaptation episodes. A video already on disk is not made again.
"""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from banana_grasp.agents.common.layout import RunLayout
from banana_grasp.agents.families import variation_env_id
from banana_grasp.agents.learners.envs import EnvSpec
from banana_grasp.agents.learners.registry import load_agent
from banana_grasp.agents.protocol.agent import adapted_rollout
from banana_grasp.agents.protocol.presets import Preset


def frames_per_second(tasks: EnvSpec) -> int:
    """The env's own ``metadata["render_fps"]`` (one frame per env step), so videos play in real time."""
    env = gym.make(variation_env_id(tasks.variation, tasks.split))
    fps = int(env.metadata["render_fps"])
    env.close()
    return fps


def label(frames: list[np.ndarray], text: str, success: bool) -> list[np.ndarray]:
    """Draw ``text`` and the outcome in the top-left corner of every frame."""
    out = []
    caption = f"{text}: {'success' if success else 'fail'}"
    for frame in frames:
        image = Image.fromarray(frame)
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 0, 7 * len(caption) + 8, 16), fill=(0, 0, 0))
        draw.text((4, 2), caption, fill=(120, 255, 120) if success else (255, 120, 120))
        out.append(np.asarray(image))
    return out


def grid(clips: list[list[np.ndarray]], columns: int) -> list[np.ndarray]:
    """Tile equally sized clips; shorter clips hold their last frame."""
    length = max(len(c) for c in clips)
    blank = np.zeros_like(clips[0][0])
    padded = [c + [c[-1]] * (length - len(c)) for c in clips]
    padded += [[blank] * length] * (-len(clips) % columns)
    rows = [padded[i : i + columns] for i in range(0, len(padded), columns)]
    return [np.concatenate([np.concatenate([clip[t] for clip in row], 1) for row in rows], 0) for t in range(length)]


def write_mp4(path: Path, frames: list[np.ndarray], fps: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.mp4")
    # macro_block_size 1 keeps odd frame sizes; yuv420p plays everywhere.
    imageio.mimwrite(tmp, frames, fps=fps, macro_block_size=1, codec="libx264", pixelformat="yuv420p")
    os.replace(tmp, path)


def write_videos(run: RunLayout, preset: Preset, progress: bool = True) -> list[Path]:
    """One MP4 per filmed task (the first ``video_tasks`` evaluation tasks): every learner of
    seed ``preset.seeds[0]`` side by side, after the largest k adaptation episodes."""
    protocol, seed = preset.protocol, preset.seeds[0]
    tasks = protocol.evaluation_tasks()[: preset.video_tasks]
    paths = [run.video(index) for index in range(len(tasks))]
    if all(path.is_file() for path in paths):
        return paths
    specs = preset.specs()
    agents = [load_agent(s, run.learner(s.name, seed) if s.trained else None, protocol.evaluated_on) for s in specs]
    for task, path in zip(tqdm(tasks, desc="videos", disable=not progress), paths):
        if path.is_file():
            continue
        clips = []
        for agent in agents:
            success, frames = adapted_rollout(agent, task, protocol.headline_k, seed, render=True)
            clips.append(label(frames, agent.name, success))
        write_mp4(path, grid(clips, columns=min(4, len(clips))), fps=frames_per_second(protocol.evaluated_on))
    return paths
