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

from banana_grasp.envs import MAX_EPISODE_STEPS  # first: registers the ids and sets MUJOCO_GL before mujoco loads

# isort: split
import gymnasium as gym
import mujoco
import numpy as np

ENV_ID = "BananaGrasp/Lift-Both-v3"


def time_state_env(steps: int, seed: int) -> tuple[float, float, int]:
    """Seconds in env.step and in raw mj_step for the same substeps, states and controls.

    Episode by episode, alternating: the env plays the episode's random actions (one timer
    around the loop, nothing else inside it); an untimed replay of the same seed and actions
    records the start state and each step's servo targets (the env is deterministic); then
    raw MuJoCo starts from that state and steps through those targets, with the same loop
    around it. Both sides run the same trajectory with the same bookkeeping, and a change in
    the machine's load during the run affects both alike.
    """
    env = gym.make(ENV_ID)
    model, data = env.unwrapped.model, env.unwrapped.data
    frame_skip = env.unwrapped._frame_skip
    replay = mujoco.MjData(model)
    kind = mujoco.mjtState.mjSTATE_INTEGRATION
    start = np.empty(mujoco.mj_stateSize(model, kind))
    rng = np.random.default_rng(seed)
    env_seconds = raw_seconds = 0.0
    done_steps = episode = 0
    while done_steps < steps:
        episode_seed = seed * 100_003 + episode
        actions = list(rng.uniform(-1, 1, (min(MAX_EPISODE_STEPS, steps - done_steps), 5)).astype(np.float32))
        env.reset(seed=episode_seed)
        tic = time.process_time()
        for action in actions:
            if env.step(action)[2]:  # the banana left the table: the episode is over
                break
        env_seconds += time.process_time() - tic
        env.reset(seed=episode_seed)
        mujoco.mj_getState(model, data, start, kind)
        controls = []
        for action in actions:
            terminated = env.step(action)[2]
            controls.append(data.ctrl.copy())
            if terminated:
                break
        mujoco.mj_setState(model, replay, start, kind)
        tic = time.process_time()
        for ctrl in controls:
            replay.ctrl[:] = ctrl
            mujoco.mj_step(model, replay, nstep=frame_skip)
        raw_seconds += time.process_time() - tic
        done_steps += len(controls)
        episode += 1
    env.close()
    return env_seconds, raw_seconds, done_steps


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
    env_seconds, raw_seconds, steps = time_state_env(args.steps, args.seed)
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
