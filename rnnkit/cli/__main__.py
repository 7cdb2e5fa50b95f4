"""python -m rnnkit.cli"""

import sys

from . import main

sys.exit(main())
