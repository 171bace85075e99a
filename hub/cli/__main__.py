"""``python -m hub.cli``: the same as the ``marrac-hub`` command."""

import sys

from hub.cli import main

sys.exit(main())
