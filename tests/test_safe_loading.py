"""A run folder is data: loading a trained learner never runs code from it.

Crafted files whose unpickling would create a marker file: pickled normalisation statistics
(the old form), a model zip with a pickled entry the package does not rebuild, one changed
after its record's SHA-256 was taken, and one whose tensor file is a pickle. Each is loaded
through the Python API, ``evaluate`` (the CLI and ``scripts/evaluate.py``) and a resumed
``compare``: each fails with an error naming the file, and the marker file is never made.
A control shows that each crafted file does make it when unpickled as stable-baselines3 and
pickle would. Then: the JSON statistics normalise as the pickle did, bit for bit; records
list the SHA-256 of their files; ``convert --trust`` converts the old form; files from a
Dask worker are checked against its hashes.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import io
import json
import pickle
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecNormalize

from banana_grasp.agents import cli
from banana_grasp.agents.common.files import read_json, sha256_bytes, sha256_file, write_json_atomic
from banana_grasp.agents.common.layout import LearnerFiles, RunLayout
from banana_grasp.agents.learners import checkpoints, convert, normalization, registry, storage
from banana_grasp.agents.learners.envs import EnvSpec, env_factory, make_vec
from banana_grasp.agents.protocol.presets import preset
from banana_grasp.agents.run import cluster
from banana_grasp.agents.run.compare import compare
from banana_grasp.agents.run.jobs import run_train_job, train_jobs

from timeouts import scaled

ROOT = Path(__file__).resolve().parents[1]
PRESET = "tiny"
NAME = "color-specialist"  # the tiny preset's first training job
HELDOUT = EnvSpec("both", "heldout", "interleaved")


class Marker:
    """Unpickling this creates the file ``path``: any code a crafted file could run instead."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A run folder of the tiny preset holding its first learner, trained as compare trains it."""
    run = tmp_path_factory.mktemp("trained") / "run"
    job = train_jobs(preset(PRESET), RunLayout(run))[0]
    assert (job.learner.name, job.seed) == (NAME, 0)
    run_train_job(job)
    return run


def _copy_run(trained_run: Path, tmp_path: Path) -> tuple[Path, LearnerFiles]:
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    return run, RunLayout(run).learner(NAME, 0)


def _relist(files: LearnerFiles) -> None:
    """Make the record list the SHA-256 of the files as they are now: a consistent crafted folder."""
    record = files.meta if files.meta.is_file() else files.state
    data = read_json(record)
    data["sha256"] = {path.name: sha256_file(path) for path in (files.model, files.normalize)}
    write_json_atomic(record, data)


def _rewrite_zip(path: Path, change) -> None:
    """Rewrite the model zip at ``path`` with ``change(name, bytes) -> bytes`` applied to each entry."""
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, change(name, data))


def _pickled_entry(marker: Path) -> dict:
    """An entry of a model zip's ``data`` as stable-baselines3 writes a cloudpickled object."""
    return {":type:": "<class 'Marker'>", ":serialized:": base64.b64encode(cloudpickle.dumps(Marker(marker))).decode()}


def _with_data_entry(key: str, marker: Path):
    def change(name: str, data: bytes) -> bytes:
        if name != "data":
            return data
        return json.dumps({**json.loads(data), key: _pickled_entry(marker)}).encode()

    return change


def old_statistics(files: LearnerFiles, marker: Path) -> None:
    """The old form: statistics pickled in vecnormalize.pkl (this one makes the marker), no SHA-256."""
    files.normalize.unlink()
    files.legacy_normalize.write_bytes(pickle.dumps(Marker(marker)))
    meta = read_json(files.meta)
    del meta["sha256"]
    write_json_atomic(files.meta, meta)


def unknown_pickled_entry(files: LearnerFiles, marker: Path) -> None:
    """A model zip with a pickled entry the package does not rebuild; its record lists it."""
    _rewrite_zip(files.model, _with_data_entry("evil", marker))
    _relist(files)


def changed_after_saving(files: LearnerFiles, marker: Path) -> None:
    """A model zip whose pickled spaces were replaced after the record took its SHA-256."""
    _rewrite_zip(files.model, _with_data_entry("observation_space", marker))


def pickle_as_tensors(files: LearnerFiles, marker: Path) -> None:
    """A model zip whose policy.pth holds a pickled object instead of tensors; its record lists it."""
    buffer = io.BytesIO()
    torch.save({"weights": Marker(marker)}, buffer)
    _rewrite_zip(files.model, lambda name, data: buffer.getvalue() if name == "policy.pth" else data)
    _relist(files)


# crafting -> what the error says (a regular expression)
CRAFTED = {
    old_statistics: r"vecnormalize\.pkl.*banana-grasp convert .* --trust",
    unknown_pickled_entry: r"model\.zip holds pickled entries that banana-grasp does not rebuild: evil",
    changed_after_saving: r"model\.zip does not match the SHA-256 that .*meta\.json lists",
    pickle_as_tensors: r"model\.zip holds a tensor file that is not plain tensors",
}


def test_each_crafted_file_would_run_code_if_unpickled(trained_run: Path, tmp_path: Path) -> None:
    """The control: unpickled as pickle and stable-baselines3 load them, the files make the marker."""
    for craft in CRAFTED:
        folder, marker = tmp_path / craft.__name__, tmp_path / f"{craft.__name__}.marker"
        shutil.copytree(RunLayout(trained_run).learner(NAME, 0).folder, folder)
        files = LearnerFiles(folder)
        craft(files, marker)
        if files.legacy_normalize.exists():
            pickle.loads(files.legacy_normalize.read_bytes())
        elif craft is pickle_as_tensors:
            with zipfile.ZipFile(files.model) as archive:
                torch.load(io.BytesIO(archive.read("policy.pth")), weights_only=False)
        else:  # cloudpickle runs the entry; the model then fails to build around a file for its spaces
            with contextlib.suppress(Exception):
                PPO.load(files.model, device="cpu")
        assert marker.exists(), craft.__name__


@pytest.mark.parametrize("craft", list(CRAFTED), ids=lambda craft: craft.__name__)
def test_loading_a_crafted_learner_fails_and_runs_nothing(trained_run: Path, tmp_path: Path, craft, capsys) -> None:
    run, files = _copy_run(trained_run, tmp_path)
    marker = tmp_path / "marker"
    craft(files, marker)
    spec = registry.learner(NAME)
    # The Python API: the agent, as the protocol loads it, and the model alone.
    for load in (lambda: registry.load_agent(spec, files, HELDOUT), lambda: storage.load_model(files, spec)):
        with pytest.raises(ValueError, match=CRAFTED[craft]):
            load()
    # evaluate (the command line).
    with pytest.raises(SystemExit) as exit_:
        cli.main(["evaluate", "--run", str(run), "--preset", PRESET, "--learners", NAME, "--seeds", "0", "--quiet"])
    assert exit_.value.code == 2
    assert re.search(CRAFTED[craft], capsys.readouterr().err)
    if craft in (old_statistics, changed_after_saving):  # refused before any training
        with pytest.raises(SystemExit) as exit_:
            cli.main(["compare", "--preset", PRESET, "--out", str(run), "--workers", "1", "--quiet"])
        assert exit_.value.code == 2
        assert re.search(CRAFTED[craft], capsys.readouterr().err)
        assert not (run / "outcomes").exists()
    assert not marker.exists()


def test_scripts_evaluate_refuses_a_crafted_model(trained_run: Path, tmp_path: Path) -> None:
    run, files = _copy_run(trained_run, tmp_path)
    marker = tmp_path / "marker"
    unknown_pickled_entry(files, marker)
    args = ["--run", str(run), "--preset", PRESET, "--learners", NAME, "--seeds", "0", "--quiet"]
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "evaluate.py"), *args], capture_output=True,
                          text=True, timeout=scaled(120), check=False)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert re.search(CRAFTED[unknown_pickled_entry], done.stderr)
    assert not marker.exists()


def test_a_resumed_comparison_refuses_a_crafted_checkpoint(trained_run: Path, tmp_path: Path) -> None:
    """A checkpoint to resume from, consistent with its record but holding a pickled entry
    the package does not rebuild: the training job that resumes from it fails, the run stops."""
    run, files = _copy_run(trained_run, tmp_path)
    marker = tmp_path / "marker"
    checkpoint = files.checkpoint
    checkpoint.folder.mkdir()
    for path in (files.model, files.normalize):
        path.rename(checkpoint.folder / path.name)
    state = {key: value for key, value in read_json(files.meta).items() if key in ("learner", "hyperparameters",
                                                                                    "algo_overrides")}  # fmt: skip
    write_json_atomic(checkpoint.state, {"steps": 256, **state})
    files.meta.unlink()
    unknown_pickled_entry(checkpoint, marker)
    with pytest.raises(RuntimeError, match=rf"train {NAME} seed 0 failed") as error:
        compare(PRESET, run, workers=1, progress=False)
    assert re.search(CRAFTED[unknown_pickled_entry], str(error.value))
    assert not marker.exists()


def test_a_pickled_entry_the_package_rebuilds_is_never_unpickled(trained_run: Path, tmp_path: Path) -> None:
    """A pickled entry of a name the package rebuilds (the spaces) loads with the package's own value."""
    _, files = _copy_run(trained_run, tmp_path)
    marker = tmp_path / "marker"
    changed_after_saving(files, marker)
    _relist(files)
    spec = registry.learner(NAME)
    model, _ = storage.load_model(files, spec)
    env = env_factory(spec, EnvSpec(spec.variation, "train", "interleaved"))()
    assert model.observation_space == env.observation_space
    assert not marker.exists()


def test_a_kind_without_a_blueprint_loads_no_model(trained_run: Path, monkeypatch) -> None:
    """An outside kind that saves through storage must say how its model is made; without it,
    nothing is loaded (its pickled entries would otherwise have to be unpickled)."""
    files = RunLayout(trained_run).learner(NAME, 0)
    monkeypatch.setitem(
        registry.KINDS, "ppo", registry.LearnerKind("ppo", "banana_grasp.agents.learners.algorithms.random_policy")
    )
    with pytest.raises(ValueError, match=r"learner kind 'ppo' \(banana_grasp.agents.learners.algorithms.random_policy\) has no "
                       r"blueprint"):  # fmt: skip
        storage.load_model(files, registry.learner(NAME))


# -------------------------------------------------------------- statistics as data


def _stepped(seed: int, steps: int) -> VecNormalize:
    """A training VecNormalize of the learner's envs after ``steps`` random steps."""
    spec = registry.learner(NAME)
    venv = make_vec(env_factory(spec, EnvSpec(spec.variation, "train", "interleaved")), [seed, seed + 1])
    normalize = VecNormalize(venv, norm_obs_keys=["gripper_pos", "banana_pos", "gripper_to_banana"], epsilon=1e-4,
                             gamma=0.98)  # fmt: skip
    normalize.reset()
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        normalize.step(rng.uniform(-1, 1, (2, *venv.action_space.shape)).astype(np.float32))
    return normalize


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_statistics_as_json_normalise_as_the_pickle_does_bit_for_bit(tmp_path: Path) -> None:
    original = _stepped(0, 40)
    original.save(tmp_path / "vecnormalize.pkl")  # the old form
    normalization.write(tmp_path / "normalize.json", original)
    pickled = VecNormalize.load(tmp_path / "vecnormalize.pkl", _stepped(5, 0).venv)
    rebuilt = normalization.build(normalization.read(tmp_path / "normalize.json"), _stepped(5, 0).venv,
                                  tmp_path / "normalize.json")  # fmt: skip
    for name in (*normalization.FLAGS, *normalization.NUMBERS, "norm_obs_keys"):
        assert getattr(rebuilt, name) == getattr(pickled, name), name
    for key in pickled.obs_rms:
        for part in ("mean", "var", "count"):
            assert _same(getattr(rebuilt.obs_rms[key], part), getattr(pickled.obs_rms[key], part)), (key, part)
    for part in ("mean", "var", "count"):
        assert _same(getattr(rebuilt.ret_rms, part), getattr(pickled.ret_rms, part)), part
    # The same env steps through both, statistics updating: the same observations, rewards, statistics.
    rng = np.random.default_rng(1)
    first = [pickled.reset(), rebuilt.reset()]
    assert all(_same(first[0][key], first[1][key]) for key in first[0])
    for _ in range(30):
        action = rng.uniform(-1, 1, (2, *pickled.action_space.shape)).astype(np.float32)
        (obs_a, reward_a, *_), (obs_b, reward_b, *_) = pickled.step(action), rebuilt.step(action)
        assert all(_same(obs_a[key], obs_b[key]) for key in obs_a)
        assert _same(reward_a, reward_b)
    for key in pickled.obs_rms:
        assert _same(rebuilt.obs_rms[key].var, pickled.obs_rms[key].var)
    assert _same(rebuilt.ret_rms.var, pickled.ret_rms.var)
    assert not np.array_equal(pickled.obs_rms["gripper_pos"].mean, original.obs_rms["gripper_pos"].mean)


def test_statistics_keep_every_float_exactly(tmp_path: Path) -> None:
    normalize = _stepped(0, 0)
    tricky = np.array([0.1, -0.0, 5e-324, np.finfo(np.float64).max], dtype=np.float64)
    normalize.obs_rms["gripper_pos"].mean = tricky[:3]
    normalize.obs_rms["gripper_pos"].var = tricky[1:]
    normalize.obs_rms["gripper_pos"].count = 1 / 3
    normalization.write(tmp_path / "n.json", normalize)
    rebuilt = normalization.build(normalization.read(tmp_path / "n.json"), _stepped(0, 0).venv, tmp_path / "n.json")
    assert _same(rebuilt.obs_rms["gripper_pos"].mean, tricky[:3])
    assert _same(rebuilt.obs_rms["gripper_pos"].var, tricky[1:])
    assert rebuilt.obs_rms["gripper_pos"].count == 1 / 3


def test_statistics_that_do_not_fit_the_learner_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "normalize.json"
    normalization.write(path, _stepped(0, 0))
    data = read_json(path)
    cases = {
        "norm_obs_keys": (lambda d: d["norm_obs_keys"].append("nope"), "not observation keys"),
        "shape": (lambda d: d["obs_rms"]["banana_pos"]["mean"].update(shape=[4]), "has shape"),
        "dtype": (lambda d: d["obs_rms"]["banana_pos"]["var"].update(dtype="object"), "allowed: float64, float32"),
        "values": (lambda d: d["obs_rms"]["banana_pos"]["var"].update(values=["1", "2", "3"]), "list of numbers"),
        "format": (lambda d: d.update(format="pickle"), "format 'pickle'"),
        "flag": (lambda d: d.update(training="yes"), "allowed: true, false"),
    }
    for what, (change, message) in cases.items():
        broken = json.loads(json.dumps(data))
        change(broken)
        write_json_atomic(path, broken)
        with pytest.raises(ValueError, match=message) as error:
            normalization.build(normalization.read(path), _stepped(0, 0).venv, path)
        assert str(path) in str(error.value), what


# -------------------------------------------------------------- records, conversion, cluster


def test_records_list_the_sha256_of_the_files_they_describe(trained_run: Path, tmp_path: Path) -> None:
    _, files = _copy_run(trained_run, tmp_path)
    meta = read_json(files.meta)
    assert meta["sha256"] == {"model.zip": sha256_file(files.model), "normalize.json": sha256_file(files.normalize)}
    spec = registry.learner(NAME)
    venv = make_vec(env_factory(spec, EnvSpec(spec.variation, "train", "interleaved")), [0] * 8)
    model, _ = storage.load_model(files, spec, venv)
    checkpoints.save_checkpoint(files, model, {"learner": NAME})
    state = read_json(files.checkpoint.state)
    assert state["sha256"] == {name: sha256_file(files.checkpoint.folder / name) for name in state["sha256"]}
    assert storage.check_saved(files.checkpoint) == state
    # A checkpoint changed after its record: refused before any training, naming the file.
    files.checkpoint.normalize.write_text(files.checkpoint.normalize.read_text().replace("1", "2", 1))
    with pytest.raises(ValueError, match=r"checkpoint/normalize\.json does not match the SHA-256"):
        checkpoints.check_reusable(files, spec, checkpoints.training_config(spec))


def _old_form(trained_run: Path, tmp_path: Path) -> tuple[Path, LearnerFiles, VecNormalize]:
    """A learner saved as banana-grasp 0.13 saved it: statistics pickled, a record without SHA-256."""
    run, files = _copy_run(trained_run, tmp_path)
    spec = registry.learner(NAME)
    venv = make_vec(env_factory(spec, EnvSpec(spec.variation, "train", "interleaved")), [0] * 8)
    _, normalize = storage.load_model(files, spec, venv)
    normalize.save(files.legacy_normalize)
    files.normalize.unlink()
    meta = read_json(files.meta)
    del meta["sha256"]
    write_json_atomic(files.meta, meta)
    return run, files, normalize


def test_convert_needs_trust_then_the_old_form_loads_as_it_was(trained_run: Path, tmp_path: Path, capsys) -> None:
    run, files, before = _old_form(trained_run, tmp_path)
    spec = registry.learner(NAME)
    with pytest.raises(ValueError, match=rf"banana-grasp convert {re.escape(str(files.folder))} --trust"):
        storage.load_model(files, spec)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["convert", str(run)])
    assert exit_.value.code == 2 and "--trust" in capsys.readouterr().err
    assert files.legacy_normalize.is_file() and not files.normalize.exists()  # untouched

    cli.main(["convert", str(run), "--trust"])
    assert f"converted {files.folder}" in capsys.readouterr().out
    assert not files.legacy_normalize.exists() and storage.check_saved(files)["sha256"]
    _, after = storage.load_model(files, spec)
    for key in before.obs_rms:
        assert _same(after.obs_rms[key].mean, before.obs_rms[key].mean)
        assert _same(after.obs_rms[key].var, before.obs_rms[key].var)
    cli.main(["convert", str(run), "--trust"])
    assert "nothing to convert" in capsys.readouterr().out


def test_committed_results_hold_no_learner_in_the_old_form() -> None:
    """results/ holds reports, tables, plots and videos, no learner: nothing there to convert."""
    assert (ROOT / "results").is_dir()
    assert convert.old_learners(ROOT / "results") == []
    assert not [p for p in (ROOT / "results").rglob("*") if p.suffix in (".pkl", ".zip", ".pth")]


def test_files_from_a_worker_are_checked_against_its_hashes(trained_run: Path, tmp_path: Path) -> None:
    source = RunLayout(trained_run).learner(NAME, 0).folder
    files = cluster.read_folder(source)
    digests = {name: sha256_bytes(data) for name, data in files.items()}
    job = train_jobs(preset(PRESET), RunLayout(tmp_path / "run"))[0]
    damaged = {**files, "model.zip": files["model.zip"][:-1] + bytes([files["model.zip"][-1] ^ 1])}
    with pytest.raises(ValueError, match=r"model\.zip came back from the worker with another SHA-256"):
        cluster.store_trained(job, (damaged, digests))
    with pytest.raises(ValueError, match="SHA-256 for"):
        cluster.store_trained(job, (files, {k: v for k, v in digests.items() if k != "meta.json"}))
    assert not job.files.folder.exists()  # nothing written
    cluster.store_trained(job, (files, digests))
    assert cluster.read_folder(job.files.folder) == files


UNPICKLING = {"pickle.load", "pickle.loads", "cloudpickle.load", "cloudpickle.loads", "torch.load", "th.load",
              "VecNormalize.load", "load_from_pkl", "save_util.load_from_pkl", "pd.read_pickle", "np.load"}  # fmt: skip


def _called(node: ast.Call) -> str:
    parts, func = [], node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts))


def test_the_package_never_unpickles_outside_the_trusted_conversion() -> None:
    """No library module calls a loader that unpickles, but the conversion behind ``--trust``
    (``np.load`` only with ``allow_pickle=False``)."""
    found, calls = [], 0
    for path in sorted([*(ROOT / "agents").rglob("*.py"), *(ROOT / "envs").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            calls += 1
            name = _called(node)
            safe_np = name == "np.load" and any(
                k.arg == "allow_pickle" and isinstance(k.value, ast.Constant) and k.value.value is False
                for k in node.keywords
            )
            if name in UNPICKLING and not safe_np and not (path.name == "convert.py" and name == "load_from_pkl"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert calls > 1000, "the scan saw no code"
    assert not found, found
