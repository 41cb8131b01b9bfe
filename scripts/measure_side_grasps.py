"""Where a hidden-side RL^2 learner's trials fail: `python scripts/measure_side_grasps.py --help`.

Plays trials of two episodes (the first sampled, the second deterministic, as the protocol
scores k = 1) of `side-rl2` on tasks of a split, and sorts each trial's second episode by
what its first episode first touched. For the second episode it counts what the gripper
touched first (the choice), whether the target was ever grasped (both pads on it, clear of the
table: the `grasp` reward paid) and whether it was still held at the end (success), each by
the side of the target. A learner that uses its memory touches the target first after a
decoy touch; one that chose right but fails the motor skill grasps the target and drops it, or
never grasps it.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from stable_baselines3.common.utils import set_random_seed

from banana_grasp.agents.common.layout import RunLayout
from banana_grasp.agents.learners.envs import EnvSpec
from banana_grasp.agents.learners.registry import learner, load_agent
from banana_grasp.agents.protocol.presets import sample_tasks

LEARNER = "side-rl2"


def play(agent, task, seed: int) -> list[dict]:
    """One trial of two episodes: per episode, what it touched first, the grasp steps, success."""
    env = agent._envs.make(task, trial_episodes=2)
    set_random_seed(seed)
    obs, _ = env.reset(seed=seed)
    state, start, episode, done = None, np.ones((1,), bool), 0, False
    grasps = [0, 0]
    while not done:
        episode += int(obs["prev_done"][0] > 0)
        batch = {key: value[None] for key, value in agent.normalize.normalize_obs(obs).items()}
        action, state = agent.model.predict(batch, state=state, episode_start=start, deterministic=episode == 1)
        start = np.zeros((1,), bool)
        obs, _, terminated, truncated, info = env.step(action[0])
        done = terminated or truncated
        grasps[min(episode, 1)] += info["reward_grasp"] > 0
    env.close()
    return [{"touched": last.get("touched") or "nothing", "grasp_steps": steps, "success": bool(last["is_success"]),
             "side": task.side} for last, steps in zip(info["trial_infos"], grasps)]  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="run folder holding learners/side-rl2/seed<n>")
    p.add_argument("--seed", type=int, default=0, help="the learner's training seed")
    p.add_argument("--trials", type=int, default=60, help="trials to play (tasks drawn from the split)")
    p.add_argument("--split", choices=("train", "heldout"), default="heldout", help="whose tasks")
    args = p.parse_args()
    torch.set_num_threads(1)
    tasks_of = EnvSpec("hidden-side", args.split, "interleaved")
    agent = load_agent(learner(LEARNER), RunLayout(args.run).learner(LEARNER, args.seed), tasks_of)
    trials = [play(agent, task, 5000 + i) for i, task in enumerate(sample_tasks(args.trials, 999, tasks_of))]
    first = Counter(t[0]["touched"] for t in trials)
    print(f"{LEARNER} seed {args.seed}, {args.trials} trials of {args.split} tasks; first episodes first touched: "
          + ", ".join(f"{what} {count}" for what, count in first.items()))  # fmt: skip
    print("\n| after a first touch of | target side | trials | 2nd touched target first | of those: grasped | "
          "held at the end |\n|---|---|---:|---:|---:|---:|")  # fmt: skip
    for what in ("decoy", "target", "nothing"):
        for side in ("left", "right"):
            second = [t[1] for t in trials if t[0]["touched"] == what and t[1]["side"] == side]
            if second:
                chose = [s for s in second if s["touched"] == "target"]
                grasped = sum(s["grasp_steps"] > 0 for s in chose)
                held = sum(s["success"] for s in chose)
                print(f"| {what} | {side} | {len(second)} | {len(chose)} | {grasped} | {held} |")


if __name__ == "__main__":
    main()
