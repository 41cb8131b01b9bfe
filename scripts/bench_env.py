"""Benchmark the environment against raw MuJoCo physics, in one run.

Prints a Markdown table: state env steps/s with random actions; raw ``mujoco.mj_step``
steps/s for the same substeps on the same trajectory (same controls, same start
states), and the ratio of the two (the env's overhead); pixel env steps/s at 64x64 and
84x84. Times are this process's CPU time (``time.process_time``), so other programs
competing for the cores disturb the figures less than wall time would. Run with
``MUJOCO_GL=egl`` on a headless machine.

    python scripts/bench_env.py --steps 5000
"""

from __future__ import annotations

import argparse
import time

import banana_grasp.envs  # noqa: F401  (first: registers the ids and sets MUJOCO_GL before mujoco loads)

# isort: split
import gymnasium as gym
import mujoco
import numpy as np

ENV_ID = "BananaGrasp/Lift-Both-v2"


def time_state_env(steps: int, seed: int, blocks: int = 10) -> tuple[float, float]:
    """Seconds in env.step and in raw mj_step for the same substeps, states and controls.

    Measured in alternating blocks (env, then raw replay of that block), so a change in the
    machine's load during the run affects both sides alike.
    """
    env = gym.make(ENV_ID)
    model, data = env.unwrapped.model, env.unwrapped.data
    frame_skip = env.unwrapped._frame_skip
    replay = mujoco.MjData(model)
    kind = mujoco.mjtState.mjSTATE_INTEGRATION
    state = np.empty(mujoco.mj_stateSize(model, kind))
    env.action_space.seed(seed)
    env.reset(seed=seed)
    env_seconds = raw_seconds = 0.0
    for _ in range(blocks):
        trajectory = []
        for _ in range(steps // blocks):
            action = env.action_space.sample()
            mujoco.mj_getState(model, data, state, kind)
            start = state.copy()
            tic = time.process_time()
            _, _, terminated, truncated, _ = env.step(action)
            env_seconds += time.process_time() - tic
            trajectory.append((start, data.ctrl.copy()))
            if terminated or truncated:
                env.reset()
        for start, ctrl in trajectory:
            mujoco.mj_setState(model, replay, start, kind)
            replay.ctrl[:] = ctrl
            tic = time.process_time()
            mujoco.mj_step(model, replay, nstep=frame_skip)
            raw_seconds += time.process_time() - tic
    env.close()
    return env_seconds, raw_seconds


def time_pixel_env(steps: int, size: int, seed: int) -> float:
    env = gym.make(ENV_ID, obs_mode="pixels", pixel_size=size)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    env.step(env.action_space.sample())  # the first render makes the GL context
    elapsed = 0.0
    for _ in range(steps):
        action = env.action_space.sample()
        tic = time.process_time()
        _, _, terminated, truncated, _ = env.step(action)
        elapsed += time.process_time() - tic
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
    env_seconds, raw_seconds = time_state_env(args.steps, args.seed)
    steps = args.steps // 10 * 10
    rows = [
        ("state env (env.step)", steps / env_seconds, "target >= 4,500"),
        (f"raw mj_step x{frame_skip}, same trajectory", steps / raw_seconds, ""),
        ("overhead: env time / raw physics time", None, f"{env_seconds / raw_seconds:.3f}x (target <= 1.15x)"),
    ]
    for size in (64, 84):
        seconds = time_pixel_env(args.pixel_steps, size, args.seed)
        rows.append((f"pixel env {size}x{size}", args.pixel_steps / seconds, "target >= 1,000" if size == 64 else ""))
    print(f"| measurement ({ENV_ID}, {args.steps} steps) | steps/s | note |")
    print("|---|---:|---|")
    for name, rate, note in rows:
        print(f"| {name} | {'' if rate is None else f'{rate:,.0f}'} | {note} |")


if __name__ == "__main__":
    main()
