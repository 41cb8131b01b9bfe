"""`banana-grasp evaluate`: see `python scripts/evaluate.py --help`."""

import sys

from banana_grasp.agents.cli import main

if __name__ == "__main__":
    main(["evaluate", *sys.argv[1:]])
