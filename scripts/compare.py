"""`banana-grasp compare`: see `python scripts/compare.py --help`."""

import sys

from banana_grasp.agents.cli import main

if __name__ == "__main__":
    main(["compare", *sys.argv[1:]])
