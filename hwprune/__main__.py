"""``python -m hwprune ...``: the same command line as the ``hwprune`` script."""

import sys

from hwprune.cli import main

sys.exit(main())
