"""Benchmark the environment against raw MuJoCo physics, in one run.

Prints a Markdown table: state env steps/s with random actions; raw ``mujoco.mj_step``
steps/s for the same substeps on the same trajectory (same controls, same start
states), and the ratio of the two (the env's overhead); pixel env steps/s at 64x64 and
84x84. Run with ``MUJOCO_GL=egl`` on a headless machine.

    python scripts/bench_env.py --steps 5000
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import mujoco
import numpy as np

import banana_grasp.envs  # noqa: F401  (registers the ids)

ENV_ID = "BananaGrasp/Lift-Both-v0"


def time_state_env(steps: int, seed: int) -> tuple[float, list]:
    """Seconds spent in env.step over ``steps`` random actions, and the trajectory to replay."""
    env = gym.make(ENV_ID)
    model, data = env.unwrapped.model, env.unwrapped.data
    env.action_space.seed(seed)
    env.reset(seed=seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    trajectory, elapsed = [], 0.0
    state_size = mujoco.mj_stateSize(model, mujoco.mjtState.mjSTATE_INTEGRATION)
    for action in actions:
        start_state = np.empty(state_size)
        mujoco.mj_getState(model, data, start_state, mujoco.mjtState.mjSTATE_INTEGRATION)
        tic = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(action)
        elapsed += time.perf_counter() - tic
        trajectory.append((start_state, data.ctrl.copy()))
        if terminated or truncated:
            env.reset()
    env.close()
    return elapsed, trajectory


def time_raw_physics(trajectory: list, frame_skip: int) -> float:
    """Seconds of mj_step alone for the same substeps, from the same states and controls."""
    env = gym.make(ENV_ID)
    model, data = env.unwrapped.model, env.unwrapped.data
    env.reset(seed=0)
    elapsed = 0.0
    for state, ctrl in trajectory:
        mujoco.mj_setState(model, data, state, mujoco.mjtState.mjSTATE_INTEGRATION)
        data.ctrl[:] = ctrl
        tic = time.perf_counter()
        mujoco.mj_step(model, data, nstep=frame_skip)
        elapsed += time.perf_counter() - tic
    env.close()
    return elapsed


def time_pixel_env(steps: int, size: int, seed: int) -> float:
    env = gym.make(ENV_ID, obs_mode="pixels", pixel_size=size)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    env.step(env.action_space.sample())  # the first render makes the GL context
    elapsed = 0.0
    for _ in range(steps):
        action = env.action_space.sample()
        tic = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(action)
        elapsed += time.perf_counter() - tic
        if terminated or truncated:
            env.reset()
    env.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5000, help="env steps per measurement (default 5000)")
    parser.add_argument("--pixel-steps", type=int, default=2000, help="steps per pixel measurement (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random actions")
    args = parser.parse_args()

    frame_skip = gym.make(ENV_ID).unwrapped._frame_skip
    env_seconds, trajectory = time_state_env(args.steps, args.seed)
    raw_seconds = time_raw_physics(trajectory, frame_skip)
    rows = [
        ("state env (env.step)", args.steps / env_seconds, ""),
        (f"raw mj_step x{frame_skip}, same trajectory", args.steps / raw_seconds, ""),
        ("overhead: env time / raw physics time", None, f"{env_seconds / raw_seconds:.3f}x (target <= 1.15x)"),
    ]
    for size in (64, 84):
        seconds = time_pixel_env(args.pixel_steps, size, args.seed)
        rows.append((f"pixel env {size}x{size}", args.pixel_steps / seconds, "target >= 500" if size == 64 else ""))
    print(f"| measurement ({ENV_ID}, {args.steps} steps) | steps/s | note |")
    print("|---|---:|---|")
    for name, rate, note in rows:
        print(f"| {name} | {'' if rate is None else f'{rate:,.0f}'} | {note} |")


if __name__ == "__main__":
    main()
