"""`banana-grasp train`: see `python scripts/train.py --help`."""

import sys

from banana_grasp.agents.cli import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]])
