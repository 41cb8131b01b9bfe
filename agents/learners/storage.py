"""Saving and loading a trained learner, as data: loading never runs code from its files.

A learner's folder (``LearnerFiles``) holds

- ``model.zip``: the model as stable-baselines3 saves it, its tensors (``*.pth``) and a JSON
  entry ``data`` of its attributes, in which stable-baselines3 cloudpickles what JSON cannot
  hold (the policy class, the spaces, schedules, the last observation);
- ``normalize.json``: its VecNormalize's statistics (``normalization.py``);
- a record, written last, listing the SHA-256 of both (key ``sha256``): ``meta.json`` for a
  finished learner (it marks the learner complete), ``state.json`` for a checkpoint.

Every file is written to a temporary name and renamed, so an interrupted write never leaves
half a file; the record is removed before the files it lists are replaced.

**Loading** (:func:`load_model`) runs no code from the folder. First, with nothing loaded yet:

1. a folder in the old form (statistics pickled in ``vecnormalize.pkl``, a record without
   SHA-256) is refused; ``banana-grasp convert RUN --trust`` converts it (``convert.py``);
2. each file's SHA-256 must be the one its record lists;
3. the zip's ``data`` is read as JSON, and each pickled entry in it (an object with a
   ``":serialized:"`` key) must be one that the package rebuilds: an attribute of the
   learner's model as the package makes it (:class:`Blueprint`: the kind's algorithm and
   policy, the settings of its set in ``hyperparams.yaml`` with the record's
   ``algo_overrides``, and the spaces of the learner's env), taken before the model is set up,
   as stable-baselines3's ``load`` makes a model before it fills in the saved attributes.
   Any other pickled entry is refused.

Then stable-baselines3's ``load`` gets each of those values through ``custom_objects``, which
it uses instead of the file's entry, so it unpickles nothing; it reads the tensors with
``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers.
The VecNormalize is rebuilt from the JSON statistics. A learner's model is saved whole, as
stable-baselines3 writes it, rather than without its pickled entries (``save(exclude=...)``):
its ``load`` needs the spaces and the policy class in ``data``, and the zip stays a plain
stable-baselines3 file that ``PPO.load`` opens, for whoever trusts it.

The hashes find a file damaged or changed after it was saved, or a record that does not
belong to the files beside it; they do not authenticate the folder (who can change its files
can change its record). What keeps a folder from running code is the loading above.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from banana_grasp.agents.common.files import read_json, sha256_file
from banana_grasp.agents.common.layout import LearnerFiles
from banana_grasp.agents.learners import normalization
from banana_grasp.agents.learners.envs import EnvSpec, env_factory, make_vec
from banana_grasp.agents.learners.registry import LearnerSpec

# Rebuilt by the package whether pickled or not: the model is always made with its own.
STRUCTURE = ("policy_class", "observation_space", "action_space")


@dataclass(frozen=True)
class Blueprint:
    """How the package makes a learner's model: the algorithm, its policy (a class or one of
    the algorithm's names), and the algorithm's keyword arguments. Each trained kind's module
    gives one: ``blueprint(learner, algo_overrides) -> Blueprint``."""

    algo: type[BaseAlgorithm]
    policy: str | type[BasePolicy]
    settings: dict[str, Any] = field(default_factory=dict)

    def template(self, venv: VecEnv) -> BaseAlgorithm:
        """The model before its set-up (no networks), with the spaces of ``venv`` as the
        algorithm wraps it: what each pickled entry of a saved model is replaced by."""
        model = self.algo(self.policy, None, device="cpu", _init_setup_model=False, **self.settings)
        wrapped = self.algo._wrap_env(venv, verbose=0)  # e.g. images made channel-first
        model.observation_space, model.action_space = wrapped.observation_space, wrapped.action_space
        model._setup_lr_schedule()
        return model


def blueprint_of(learner: LearnerSpec, record: dict) -> Blueprint:
    """The blueprint of ``learner``'s kind, with the ``algo_overrides`` of its ``record``."""
    module = learner.implementation
    if not hasattr(module, "blueprint"):
        raise ValueError(f"learner kind {learner.kind!r} ({module.__name__}) has no blueprint(learner, "
                         "algo_overrides): a saved model of it cannot be loaded without running its pickles")  # fmt: skip
    return module.blueprint(learner, record.get("algo_overrides") or {})


def save_model(files: LearnerFiles, model: BaseAlgorithm) -> dict[str, str]:
    """Write the model and its normalisation statistics; returns their SHA-256, by file name,
    for the record the caller writes last."""
    files.folder.mkdir(parents=True, exist_ok=True)
    tmp = files.folder / "model.tmp.zip"
    model.save(tmp)
    os.replace(tmp, files.model)
    normalization.write(files.normalize, model.get_vec_normalize_env())
    return {path.name: sha256_file(path) for path in (files.model, files.normalize)}


def trained_steps(files: LearnerFiles) -> int:
    """Env steps of the complete learner saved in ``files`` (0 if there is none)."""
    return int(read_json(files.meta)["steps"]) if files.is_complete() else 0


def is_trained_for(files: LearnerFiles, steps: int, stop_at_success: float | None) -> bool:
    """Whether a complete learner is saved for this budget: trained ``steps`` env steps, or
    stopped earlier on reaching the same ``stop_at_success``."""
    if not files.is_complete():
        return False
    meta = read_json(files.meta)
    stopped = meta.get("stopped_at_success") is not None and meta["stopped_at_success"] == stop_at_success
    return int(meta["steps"]) >= steps or stopped


def old_form(folder: Path, why: str) -> ValueError:
    """The error for a learner saved in the old form, with the command that converts it."""
    return ValueError(
        f"{folder} holds a learner saved in banana-grasp's old form ({why}): loading it could run code that its "
        f"files carry, so it is refused. If you trust where it came from, convert it once: "
        f"`banana-grasp convert {folder} --trust` (or give its run folder, to convert every learner in it)"
    )


def refuse_old_form(files: LearnerFiles) -> None:
    if files.legacy_normalize.exists():
        raise old_form(files.folder, f"normalisation statistics pickled in {files.LEGACY_NORMALIZE}")


def check_saved(files: LearnerFiles) -> dict:
    """The record of the learner saved in ``files``, once its files are checked: not in the
    old form, present, and each with the SHA-256 that the record lists. Reads nothing else."""
    refuse_old_form(files)
    for path in (files.model, files.normalize):
        if not path.is_file():
            raise FileNotFoundError(f"missing file: {path} (train this learner first, or check the run folder)")
    record_path = files.meta if files.meta.is_file() else files.state
    if not record_path.is_file():
        raise FileNotFoundError(f"missing file: {files.meta} (an unfinished training: train this learner again)")
    record = read_json(record_path)
    listed = record.get("sha256") if isinstance(record, dict) else None
    if not isinstance(listed, dict):
        raise old_form(files.folder, f"{record_path.name} lists no SHA-256 of its files")
    for path in (files.model, files.normalize):
        want = listed.get(path.name)
        if not isinstance(want, str):
            raise ValueError(f"{record_path} lists no SHA-256 for {path.name}; it must list {files.MODEL} and "  # noqa: TRY004
                             f"{files.NORMALIZE}: nothing was loaded")  # fmt: skip
        found = sha256_file(path)
        if found != want:
            raise ValueError(f"{path} does not match the SHA-256 that {record_path} lists for it ({want[:16]}..., "
                             f"found {found[:16]}...): the file was changed or damaged after it was saved, and "
                             "nothing was loaded; copy the learner again from its source, or retrain it")  # fmt: skip
    return record


def pickled_entries(path: Path) -> list[str]:
    """The entries of a model zip's ``data`` that stable-baselines3 would unpickle, read as JSON."""
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("data"))
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError, OSError) as error:
        raise ValueError(f"corrupt model file {path}: {error}") from error
    if not isinstance(data, dict):
        raise ValueError(f"corrupt model file {path}: its data is {type(data).__name__}, not an object")  # noqa: TRY004
    return sorted(key for key, value in data.items() if isinstance(value, dict) and ":serialized:" in value)


def replacements(path: Path, template: BaseAlgorithm) -> dict[str, Any]:
    """``custom_objects`` for the model zip at ``path``: for each pickled entry (and the
    policy class and spaces), the template's value; refuses an entry the template lacks."""
    pickled = pickled_entries(path)
    unknown = [key for key in pickled if key not in vars(template)]
    if unknown:
        raise ValueError(f"{path} holds pickled entries that banana-grasp does not rebuild: {', '.join(unknown)}; "
                         "it rebuilds only attributes of the learner's model, from its own settings (a model saved "
                         "by banana-grasp holds no others): refused, nothing was loaded")  # fmt: skip
    return {key: getattr(template, key) for key in (*pickled, *STRUCTURE)}


def load_model(
    files: LearnerFiles, learner: LearnerSpec, venv: VecEnv | None = None, device: str = "cpu", **attributes: Any
) -> tuple[BaseAlgorithm, VecNormalize]:
    """Load ``learner``'s model and normalisation from ``files``, running no code from them
    (see the module's docstring); clear errors name the file.

    Returns ``(model, normalize)``; ``normalize`` wraps ``venv`` and the model has it as its
    env when ``venv`` is given; otherwise both stand alone, for playing. The model's networks
    are on ``device``; ``attributes`` replace saved attributes (e.g. ``tensorboard_log``).
    """
    record = check_saved(files)
    statistics = normalization.read(files.normalize)
    blueprint = blueprint_of(learner, record)
    # Without a venv, one env of the learner's own gives the spaces, and is closed after.
    tasks = EnvSpec(learner.variation, "train", "interleaved")
    own = make_vec(env_factory(learner, tasks), [0]) if venv is None else venv
    try:
        normalize = normalization.build(statistics, own, files.normalize)
        custom = {**replacements(files.model, blueprint.template(normalize)), **attributes}
        try:
            model = blueprint.algo.load(files.model, env=normalize if venv is not None else None, device=device,
                                        custom_objects=custom)  # fmt: skip
        except pickle.UnpicklingError as error:  # torch.load(weights_only=True) refused a tensor file
            raise ValueError(f"{files.model} holds a tensor file that is not plain tensors (torch.load with "
                             "weights_only=True refused it): refused, nothing was loaded") from error  # fmt: skip
        # AssertionError: SB3 asserts that the zip holds "data"; TypeError: data of the wrong type.
        except (zipfile.BadZipFile, KeyError, ValueError, TypeError, RuntimeError, EOFError, AssertionError) as error:
            raise ValueError(f"corrupt model file {files.model}: {error}") from error
    finally:
        if venv is None:
            own.close()
    if venv is None:  # without its env, as stable-baselines3's own pickling leaves a VecNormalize
        alone = VecNormalize.__new__(VecNormalize)
        alone.__setstate__(normalize.__getstate__())
        normalize = alone
    return model, normalize
