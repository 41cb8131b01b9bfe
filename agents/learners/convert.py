"""Converting learners saved in the old form, once, for run folders the user trusts
(``banana-grasp convert RUN --trust``).

The old form (banana-grasp 0.12 and before) pickled each learner's VecNormalize in
``vecnormalize.pkl``, and its record (``meta.json``, or a checkpoint's ``state.json``) listed no
SHA-256; ``storage.load_model`` refuses such a folder, since unpickling runs whatever code
the file carries. Converting unpickles that one file, which is why it asks for ``--trust``,
and is the only place in the package that unpickles: it writes the statistics as
``normalize.json`` (``normalization.py``), adds the SHA-256 of ``model.zip`` and
``normalize.json`` to the record (written last), then deletes the pickle. ``model.zip`` is
kept as it is: loading never unpickles its entries (``storage.py``). A conversion stopped
part way leaves the folder in the old form, and converting again finishes it.
"""

from __future__ import annotations

from pathlib import Path

from stable_baselines3.common.save_util import load_from_pkl
from stable_baselines3.common.vec_env import VecNormalize

from banana_grasp.agents.common.files import read_json, sha256_file, write_json_atomic
from banana_grasp.agents.common.layout import LearnerFiles
from banana_grasp.agents.learners import normalization


def old_learners(root: Path) -> list[LearnerFiles]:
    """Every learner folder under ``root`` (or ``root`` itself) in the old form: holding
    ``vecnormalize.pkl``, or a record without SHA-256 beside a ``model.zip``."""
    folders = {path.parent for path in root.rglob(LearnerFiles.LEGACY_NORMALIZE)}
    for name in (LearnerFiles.META, LearnerFiles.STATE):
        for record in root.rglob(name):
            files = LearnerFiles(record.parent)
            if files.model.is_file() and "sha256" not in read_json(record):
                folders.add(record.parent)
    return [LearnerFiles(folder) for folder in sorted(folders)]


def convert_learner(files: LearnerFiles) -> None:
    """Convert one learner folder in the old form (see the module's docstring). Unpickles its
    ``vecnormalize.pkl``: only for a folder you trust."""
    if files.legacy_normalize.is_file():
        normalize = load_from_pkl(files.legacy_normalize)  # trusted: the caller said so
        if not isinstance(normalize, VecNormalize):
            raise ValueError(f"{files.legacy_normalize} holds a {type(normalize).__name__}, not a VecNormalize: "
                             "it is not a learner's normalisation statistics; nothing was converted")  # fmt: skip
        normalization.write(files.normalize, normalize)
    if not files.normalize.is_file():
        raise FileNotFoundError(f"missing file: {files.legacy_normalize} (nor {files.NORMALIZE}): "
                                f"{files.folder} holds no normalisation statistics to convert")  # fmt: skip
    for record_path in (files.meta, files.state):
        if record_path.is_file() and files.model.is_file():
            record = read_json(record_path)
            record["sha256"] = {path.name: sha256_file(path) for path in (files.model, files.normalize)}
            write_json_atomic(record_path, record)
    files.legacy_normalize.unlink(missing_ok=True)


def convert_run(root: Path, trust: bool) -> list[Path]:
    """Convert every learner in the old form under ``root`` (a run folder, a suite's folder or
    one learner's); returns their folders. ``trust`` must be true if there is any: converting
    unpickles."""
    if not Path(root).is_dir():
        raise FileNotFoundError(f"missing folder: {root} (give a run folder, or one learner's folder)")
    found = old_learners(Path(root))
    if found and not trust:
        raise ValueError(f"{root} holds {len(found)} learner(s) in the old form (the first: {found[0].folder}); "
                         "converting them unpickles their vecnormalize.pkl, which runs any code it carries: pass "
                         "--trust if you trust where this folder came from (otherwise train them again)")  # fmt: skip
    converted = []
    for files in found:
        convert_learner(files)
        converted.append(files.folder)
    return converted
