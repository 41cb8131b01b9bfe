"""Rollout videos (MP4 through imageio-ffmpeg), labelled with the learner and its success."""

from __future__ import annotations

import os
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from banana_grasp.agents.adaptation import Agent, load_agent
from banana_grasp.agents.protocol import learner_folder
from banana_grasp.agents.specs import LearnerSpec
from banana_grasp.envs import Task

FPS = 25


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


def write_mp4(path: Path, frames: list[np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.mp4")
    # macro_block_size 1 keeps odd frame sizes; yuv420p plays everywhere.
    imageio.mimwrite(tmp, frames, fps=FPS, macro_block_size=1, codec="libx264", pixelformat="yuv420p")
    os.replace(tmp, path)


def adapted_rollout(agent: Agent, task: Task, k: int, seed: int) -> tuple[bool, list[np.ndarray]]:
    agent.reset()
    agent.adapt(task, k, seed)
    result = agent.rollout(task, seed, render=True)
    agent.reset()
    return result


def write_videos(run: Path, specs: list[LearnerSpec], tasks: list[Task], seed: int, k: int, position_layout: str,
                 progress: bool = True) -> list[Path]:  # fmt: skip
    """One MP4 per task: every learner side by side, after k adaptation episodes."""
    agents = [load_agent(s, learner_folder(run, s.name, seed) if s.trained else None, "both", "heldout", position_layout)
              for s in specs]  # fmt: skip
    paths = []
    for index, task in enumerate(tqdm(tasks, desc="videos", disable=not progress)):
        clips = []
        for agent in agents:
            success, frames = adapted_rollout(agent, task, k, seed)
            clips.append(label(frames, agent.name, success))
        path = run / "videos" / f"heldout_task{index}.mp4"
        write_mp4(path, grid(clips, columns=min(4, len(clips))))
        paths.append(path)
    return paths
