"""`banana-grasp render`: see `python scripts/render.py --help`."""

import sys

from banana_grasp.agents.cli import main

if __name__ == "__main__":
    main(["render", *sys.argv[1:]])
