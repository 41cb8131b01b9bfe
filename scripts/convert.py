"""`banana-grasp convert`: see `python scripts/convert.py --help`."""

import sys

from banana_grasp.agents.cli import main

if __name__ == "__main__":
    main(["convert", *sys.argv[1:]])
