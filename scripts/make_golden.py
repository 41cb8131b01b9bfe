"""Write, or check, the golden rollouts that ``tests/test_golden.py`` replays (``tests/golden/``).

Regenerate an id's file only when its version is bumped, and say so in that env's Version
History; see tests/golden/README.md.

    python scripts/make_golden.py                                   # every registered id
    python scripts/make_golden.py --ids BananaGrasp/Lift-v3         # only some
    python scripts/make_golden.py --check                           # compare, write nothing
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from banana_grasp.envs import golden  # first: registers the ids and sets MUJOCO_GL before mujoco loads

DEFAULT_DIRECTORY = Path(__file__).resolve().parents[1] / "tests" / "golden"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ids", nargs="+", metavar="ID", help="the ids to (re)generate or check (default: all)")
    parser.add_argument("--check", action="store_true", help="compare with the files instead of writing them")
    parser.add_argument("--directory", type=Path, default=DEFAULT_DIRECTORY, help="where the files are")
    args = parser.parse_args(argv)
    known = golden.registered_ids()
    unknown = sorted(set(args.ids or ()) - set(known))
    if unknown:
        parser.error(f"not registered: {', '.join(unknown)}")
    failed = 0
    for env_id in args.ids or known:
        path = golden.golden_path(args.directory, env_id)
        arrays = golden.record_golden(env_id)
        if not args.check:
            args.directory.mkdir(parents=True, exist_ok=True)
            golden.save(path, arrays)
            print(f"wrote {path}")
            continue
        mismatch = golden.first_mismatch(golden.load(path), arrays) if path.exists() else f"no file {path}"
        failed += mismatch is not None
        print(f"{env_id}: {mismatch or 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
