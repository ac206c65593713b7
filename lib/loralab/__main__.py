"""`python -m loralab`: the CLI, for launchers that start a module (`accelerate launch -m`)."""

import sys

from loralab.run.cli import main

sys.exit(main())
