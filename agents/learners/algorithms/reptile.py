"""Reptile (Nichol et al., 2018): first-order meta-learning of a PPO initialisation whose
inner loop is exactly the test-time adaptation.

Each meta-iteration draws ``meta_batch_tasks`` training tasks; for each, the inner loop
(``ppo.FineTuner``, the fine-tuning every gradient-adapting learner gets at test time) runs
from the current initialisation on ``k`` whole episodes of that task, k being the
protocol's headline budget; the initialisation then moves ``meta_step_size`` of the way to
the mean of the adapted weights. The result is saved as an ordinary PPO model and adapts
to a new task by that same inner loop (``ppo.PolicyAgent``). Normalisation statistics
accumulate over the meta-training episodes and are frozen at test time, as for every learner.
"""

from __future__ import annotations

import torch
from stable_baselines3 import PPO

from banana_grasp.agents.learners.algorithms.ppo import FineTuner, blueprint, load_agent
from banana_grasp.agents.learners.meta_training import meta_train
from banana_grasp.agents.learners.registry import hyperparameters
from banana_grasp.agents.learners.training import TrainRun

__all__ = ["blueprint", "load_agent", "train"]


def train(run: TrainRun) -> dict:
    hp = hyperparameters(run.learner.hyperparameters)
    first_step, last_step = hp["meta_step_size"], hp.get("meta_step_size_end")

    def reptile_step(model: PPO, inner: FineTuner, tasks: list, seeds: list[int], k: int, done: float) -> list[bool]:
        init = {key: value.detach().clone() for key, value in model.policy.state_dict().items()}
        adapted = inner.batch(init, tasks, k, seeds)
        # Annealed linearly over the budget when meta_step_size_end is given (Nichol et al.).
        step_size = first_step if last_step is None else first_step + done * (last_step - first_step)
        with torch.no_grad():
            model.policy.load_state_dict({
                key: init[key] + step_size * (torch.stack([a[key] for a in adapted]).mean(0) - init[key])
                for key in init
            })  # fmt: skip
        return inner.last_successes

    return meta_train(run, reptile_step, extra_episodes=0)
