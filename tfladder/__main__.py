"""`python -m tfladder ...` is the `tfladder` command."""

import sys

from tfladder.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
