"""First-order MAML (Finn et al., 2017) of a PPO initialisation whose inner loop is exactly
the test-time adaptation, with PPO's clipped objective in the outer loop and a persistent
optimiser.

Each meta-iteration draws ``meta_batch_tasks`` training tasks. For each task, the inner loop
(``ppo.FineTuner``, the fine-tuning every gradient-adapting learner gets at test time) runs
from the initialisation theta on ``k`` whole episodes of the task, k being the protocol's
headline budget, and gives adapted weights phi_i = theta + delta_i. The adapted policy then
plays one more episode of its task. The outer update is PPO's (``outer``: epochs, minibatches)
on those episodes, each task's loss taken at theta + delta_i with delta_i held fixed: the
first-order approximation, whose gradient with respect to theta is the gradient at the adapted
weights. The policy's own Adam makes these steps and is kept across meta-iterations (and in
checkpoints), as multi-task PPO keeps its optimiser.

Reptile moves theta toward the mean of the adapted weights, and one episode of fine-tuning
from a fresh Adam moves every parameter by about its learning rate whatever the task, so its
meta-update was mostly noise (docs/notes/014-reptile-plateau.md). Here the outer
gradient is a policy gradient on what the adapted policy did, averaged over a minibatch of
every task's episodes.

``zero_shot_term: true`` adds the inner loop's own episodes, played by theta, to the outer
loss (with delta = 0): the objective is then the return after 0 and after k episodes of
adaptation, the protocol's two budgets.

The result is saved as an ordinary PPO model and adapts to a new task by that same inner
loop (``ppo.PolicyAgent``). Normalisation statistics accumulate over the meta-training
episodes and are frozen at test time, as for every learner.
"""

from __future__ import annotations

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import DictRolloutBuffer
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from banana_grasp.agents.learners.algorithms.ppo import FineTuner, blueprint, load_agent
from banana_grasp.agents.learners.meta_training import meta_train
from banana_grasp.agents.learners.registry import hyperparameters
from banana_grasp.agents.learners.training import TrainRun
from banana_grasp.envs import Task

__all__ = ["blueprint", "load_agent", "train"]


class _EvaluateActions(nn.Module):
    """``policy.evaluate_actions`` as a module's forward, for ``torch.func.functional_call``."""

    def __init__(self, policy: nn.Module) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, obs: dict, actions: torch.Tensor) -> tuple:
        return self.policy.evaluate_actions(obs, actions)


class _Episodes:
    """One task's episodes from a rollout buffer column, as flat tensors, and the weight
    offset (adapted minus initial) its loss is taken at."""

    def __init__(self, buffer: DictRolloutBuffer, column: int, delta: dict[str, torch.Tensor]) -> None:
        take = lambda array: torch.as_tensor(array[:, column].copy())
        self.obs = {key: take(value) for key, value in buffer.observations.items()}
        self.actions = take(buffer.actions)
        self.log_probs, self.advantages, self.returns = (
            take(buffer.log_probs), take(buffer.advantages), take(buffer.returns)
        )  # fmt: skip
        self.delta, self.size = delta, len(self.actions)

    def rows(self, index: torch.Tensor) -> tuple[dict, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        obs = {key: value[index] for key, value in self.obs.items()}
        return obs, self.actions[index], self.log_probs[index], self.advantages[index], self.returns[index]


def outer_update(
    model: PPO, groups: list[_Episodes], n_epochs: int, minibatches: int, generator: torch.Generator
) -> None:
    """PPO's clipped objective (SB3's ``PPO.train`` loss: clip range, value and entropy
    coefficients, gradient clipping) on every group's episodes, each group's loss taken at the
    policy's weights plus its ``delta``; one Adam step per minibatch, a minibatch being a
    ``1/minibatches`` share of every group's episodes. Advantages are normalised over the
    whole minibatch, so a task whose advantages are small (solved) pushes less."""
    policy, evaluate = model.policy, _EvaluateActions(model.policy)
    params = dict(policy.named_parameters())
    clip = model.clip_range(1.0)
    policy.set_training_mode(True)
    for _ in range(n_epochs):
        orders = [torch.randperm(group.size, generator=generator).chunk(minibatches) for group in groups]
        for m in range(minibatches):
            batches = [group.rows(order[m]) for group, order in zip(groups, orders)]
            advantages = torch.cat([batch[3] for batch in batches])
            mean, std = advantages.mean(), advantages.std() + 1e-8
            total = sum(len(batch[1]) for batch in batches)
            policy.optimizer.zero_grad()
            for group, (obs, actions, old_log_probs, adv, returns) in zip(groups, batches):
                shifted = {f"policy.{name}": p + group.delta[name] for name, p in params.items()}
                values, log_probs, entropy = functional_call(evaluate, shifted, (obs, actions))
                adv = (adv - mean) / std
                ratio = torch.exp(log_probs - old_log_probs)
                surrogate = torch.min(adv * ratio, adv * torch.clamp(ratio, 1 - clip, 1 + clip))
                entropy = -log_probs if entropy is None else entropy
                loss = (-surrogate + model.vf_coef * F.mse_loss(values.flatten(), returns, reduction="none")
                        - model.ent_coef * entropy).sum() / total  # fmt: skip
                loss.backward()
            nn.utils.clip_grad_norm_(policy.parameters(), model.max_grad_norm)
            policy.optimizer.step()
    policy.set_training_mode(False)


def train(run: TrainRun) -> dict:
    hp = hyperparameters(run.learner.hyperparameters)
    outer, zero_shot = hp["outer"], bool(hp.get("zero_shot_term", False))
    generator = torch.Generator()

    def fomaml_step(
        model: PPO, inner: FineTuner, tasks: list[Task], seeds: list[int], k: int, done: float
    ) -> list[bool]:
        generator.manual_seed(seeds[0])
        theta = {key: value.detach().clone() for key, value in model.policy.state_dict().items()}
        adapted = inner.batch(theta, tasks, k, seeds)
        groups = []
        if zero_shot:  # the inner loop's episodes, played by theta itself
            zero = {name: torch.zeros_like(p) for name, p in model.policy.named_parameters()}
            groups += [_Episodes(inner.last_buffer, i, zero) for i in range(len(tasks))]
        successes = []
        for i, (task, weights) in enumerate(zip(tasks, adapted)):
            # One episode of the task played by its adapted policy, on a seed of its own.
            _, buffer = inner.collect(weights, [task], 1, [seeds[i] + 1])
            successes += inner.last_successes
            delta = {name: (weights[name] - theta[name]) for name, _ in model.policy.named_parameters()}
            groups.append(_Episodes(buffer, 0, delta))
        outer_update(model, groups, outer["n_epochs"], outer["minibatches"], generator)
        return successes

    return meta_train(run, fomaml_step, extra_episodes=1)
