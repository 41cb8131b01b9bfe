"""Which banana a trained hidden-target learner lifts, and by what it chooses:
`python scripts/measure_hidden_choice.py --help`.

PPO learners: plays deterministic episodes of the learner's own training rules (a fixed-rule specialist:
its rule; otherwise a rule drawn from the train split each episode) and counts the episodes that end with
the target lifted, the decoy lifted or neither. Of the episodes with a banana lifted, it
gives the share in which that banana is the target, the one in observation slot `b`, the one
nearer the gripper at the start and the one on the left (larger y): a policy that chooses by
colour lifts the target, one that chooses by place follows one of the others.

RL^2 (`hidden-rl2`): plays trials of two episodes of training rules as the protocol scores it
after k=1 (the first episode sampled, the second deterministic) and gives the target's share
of the second episode's holds after a first episode that held the target, the decoy, or
nothing: a learner that adapts in context keeps the target in the first case and takes the
other banana in the second, one that does not stays near its share of targets either way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from banana_grasp.agents.common.layout import LearnerFiles, RunLayout
from banana_grasp.agents.families import family_of
from banana_grasp.agents.families.two_bananas import ROLES, held_shares, lifted_role
from banana_grasp.agents.learners.envs import EnvSpec, env_factory, make_vec
from banana_grasp.agents.learners.registry import learner, load_agent
from banana_grasp.agents.learners.storage import load_model
from banana_grasp.agents.protocol.agent import adapted_rollout
from banana_grasp.agents.protocol.presets import sample_tasks


def measure(files: LearnerFiles, name: str, episodes: int, env_seed: int = 10_000) -> dict[str, float]:
    spec = learner(name)
    if spec.kind != "ppo" or family_of(spec.variation).name != "hidden-target":
        raise ValueError(f"{name} is not a PPO learner of the hidden-target family (kind {spec.kind!r}, "
                         f"variation {spec.variation!r}); allowed: hidden-yellow-specialist, "
                         f"hidden-blue-specialist, hidden-multi-task")  # fmt: skip
    # A fixed-rule specialist's env pins its rule; the others' draw a train rule each reset.
    venv = make_vec(env_factory(spec, EnvSpec(spec.variation, "train", "interleaved")), [env_seed])
    model, normalize = load_model(files, spec, venv)
    normalize.training, normalize.norm_reward = False, False
    base = venv.envs[0].unwrapped
    counts = {"target": 0, "decoy": 0, "none": 0}
    picks = {"slot b": 0, "nearer": 0, "left": 0}
    obs = normalize.reset()  # then each episode's end resets the env (VecEnv): new scenes from its stream
    for _ in range(episodes):
        start = normalize.get_original_obs()
        to_a, to_b = (np.linalg.norm(start[key][0][:2]) for key in ("gripper_to_banana_a", "gripper_to_banana_b"))
        nearer = "a" if to_a < to_b else "b"
        left = "a" if start["banana_a_pos"][0][1] > start["banana_b_pos"][0][1] else "b"
        target, done = base.target_slot, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, _, dones, infos = normalize.step(action)
            done = bool(dones[0])
        lifted = infos[0].get("lifted")  # at the episode's last step, as success is scored
        counts["none" if lifted is None else "target" if lifted == target else "decoy"] += 1
        if lifted is not None:
            picks["slot b"] += lifted == "b"
            picks["nearer"] += lifted == nearer
            picks["left"] += lifted == left
    lifted_total = counts["target"] + counts["decoy"]
    return {
        **{f"lifted {key}": value / episodes for key, value in counts.items()},
        **{
            f"of lifts: {key}": (value / lifted_total if lifted_total else float("nan")) for key, value in picks.items()
        },
        "of lifts: target": counts["target"] / lifted_total if lifted_total else float("nan"),
    }


def measure_trials(files: LearnerFiles, name: str, trials: int, task_seed: int = 10_000) -> dict[str, float]:
    spec = learner(name)
    if spec.kind != "rl2" or family_of(spec.variation).name != "hidden-target":
        raise ValueError(f"{name} is not an RL^2 learner of the hidden-target family; allowed: hidden-rl2")
    rules = EnvSpec(spec.variation, "train", "interleaved")
    agent = load_agent(spec, files, rules)
    second = {first: [] for first in ROLES}  # what the first episode held -> the second's
    for index, task in enumerate(sample_tasks(trials, task_seed, rules)):
        adapted_rollout(agent, task, 1, seed=task_seed + index)
        first, last = agent.last_episodes[0], agent.last_episodes[-1]
        second[lifted_role(first)].append(lifted_role(last))
    everything = [role for roles in second.values() for role in roles]

    def of_holds(roles: list[str]) -> float:  # the target's share of the episodes that held a banana
        share = held_shares(roles)["target_share"]
        return float("nan") if share is None else share

    return {
        "first episode: target held": len(second["target"]) / trials,
        "first episode: decoy held": len(second["decoy"]) / trials,
        "second episode: a banana held": sum(role != "none" for role in everything) / trials,
        "second episode, of holds: target": of_holds(everything),
        "second, of holds, after the target in the first: target": of_holds(second["target"]),
        "second, of holds, after the decoy in the first: target": of_holds(second["decoy"]),
        "second, of holds, after nothing held in the first: target": of_holds(second["none"]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="run folder holding learners/")
    p.add_argument("--learner", default="hidden-yellow-specialist", help="a hidden-target learner in --run")
    p.add_argument("--seed", type=int, default=0, help="its training seed")
    p.add_argument("--episodes", type=int, default=40, help="deterministic episodes (RL^2: trials) to play")
    args = p.parse_args()
    files = RunLayout(args.run).learner(args.learner, args.seed)
    how = measure_trials if learner(args.learner).kind == "rl2" else measure
    result = how(files, args.learner, args.episodes)
    for key, value in result.items():
        print(f"{key}: {value:.2f}")


if __name__ == "__main__":
    main()
