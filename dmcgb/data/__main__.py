"""``python -m dmcgb.data``: see ``dmcgb.data.cli``."""

import sys

from dmcgb.data.cli import main

sys.exit(main())
