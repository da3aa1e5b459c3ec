"""``python -m hwmodel ...``: the same command line as the ``hwmodel`` script."""

import sys

from hwmodel.cli import main

sys.exit(main())
