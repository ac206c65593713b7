"""`python -m loralab`: the CLI, for launchers that start a module (`accelerate launch -m`)."""

import sys

from .cli import main

sys.exit(main())
