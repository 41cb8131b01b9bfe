"""Benchmark RL^2's training speed, in one run: env steps/s of TrialPPO (the project's recurrent
PPO over whole trials) against sb3-contrib's RecurrentPPO with the same widths, batch and
envs, and against the feed-forward PPO learner (the multi-task learner's settings).

Each algorithm trains ``--steps`` env steps on ``color-or-position`` as two jobs in parallel
(seeds 0 and 1, one process and one torch thread each), as the comparison runs them on
2 cores; the table gives each job's env steps/s (wall time of ``learn``, set-up excluded)
and the ratios of the means. Run on an otherwise idle machine.

    python scripts/bench_rl2.py --steps 9600
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import banana_grasp.envs  # noqa: F401  (first: registers the ids and sets MUJOCO_GL before mujoco loads)

# isort: split
import numpy as np


def _job(args: tuple[str, int, int, int]) -> float:
    """Env steps/s of one training job."""
    algo, seed, steps, k = args
    import torch
    from sb3_contrib import RecurrentPPO
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from banana_grasp.agents.common.seeding import SeedStreams
    from banana_grasp.agents.learners.algorithms.trial_ppo import TrialPPO
    from banana_grasp.agents.learners.envs import EnvSpec, env_factory, make_vec, normalized_keys
    from banana_grasp.agents.learners.registry import hyperparameters, learner
    from banana_grasp.envs import MAX_EPISODE_STEPS

    torch.set_num_threads(1)
    spec = learner("rl2" if algo != "ppo" else "multi-task")
    hp = hyperparameters(spec.hyperparameters)
    trial_steps = (k + 1) * MAX_EPISODE_STEPS
    factory = env_factory(spec, EnvSpec(spec.variation, "train", "interleaved"), trial_episodes=k + 1)
    venv = make_vec(factory, SeedStreams(seed).envs(hp["n_envs"]))
    venv = VecNormalize(venv, norm_obs_keys=normalized_keys(venv.observation_space), **hp["normalize"])
    if algo == "ppo":
        model = PPO("MultiInputPolicy", venv, seed=seed, device="cpu", **hp["algo"])
    else:
        rl2 = hyperparameters("rl2")["algo"]
        net = rl2["policy_kwargs"]
        common = {"n_epochs": rl2["n_epochs"], "gamma": rl2["gamma"], "learning_rate": rl2["learning_rate"]}
        if algo == "trial_ppo":
            model = TrialPPO("LSTMPolicy", venv, n_steps=trial_steps, seed=seed, **rl2)
        else:  # the same widths, envs and minibatch size (whole trials), one LSTM shared by actor and critic
            model = RecurrentPPO(
                "MultiInputLstmPolicy", venv, n_steps=trial_steps, batch_size=rl2["minibatch_trials"] * trial_steps,
                seed=seed, device="cpu", **common,
                policy_kwargs={"lstm_hidden_size": net["hidden_size"], "net_arch": net["net_arch"],
                               "shared_lstm": True, "enable_critic_lstm": False},
            )  # fmt: skip
    started = time.perf_counter()
    model.learn(steps)
    return model.num_timesteps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=9600, help="env steps per job (default 9600)")
    parser.add_argument("--k", type=int, default=1, help="trials of k + 1 episodes (default 1)")
    args = parser.parse_args()
    names = {"ppo": "PPO (feed-forward, multi-task settings)", "trial_ppo": "RL^2, TrialPPO (LSTM)",
             "recurrent_ppo": "RL^2, sb3-contrib RecurrentPPO (LSTM)"}  # fmt: skip
    speeds: dict[str, list[float]] = {}
    with ProcessPoolExecutor(2) as pool:
        for algo in names:
            speeds[algo] = list(pool.map(_job, [(algo, seed, args.steps, args.k) for seed in (0, 1)]))
    print(f"Training speed, {args.steps} env steps per job, two jobs in parallel, trials of {args.k + 1} episodes\n")
    print("| algorithm | env steps/s per job (seeds 0, 1) | mean |")
    print("| --- | --- | ---: |")
    for algo, name in names.items():
        print(f"| {name} | {', '.join(f'{s:,.0f}' for s in speeds[algo])} | {np.mean(speeds[algo]):,.0f} |")
    mean = {algo: float(np.mean(s)) for algo, s in speeds.items()}
    print(f"\nTrialPPO / RecurrentPPO: {mean['trial_ppo'] / mean['recurrent_ppo']:.2f}x (target >= 4x)")
    print(f"TrialPPO / PPO: {mean['trial_ppo'] / mean['ppo']:.2f}x (target >= 0.7x)")


if __name__ == "__main__":
    main()
