"""Allow ``python -m mpdob``."""

import sys

from mpdob.cli import main

sys.exit(main())
