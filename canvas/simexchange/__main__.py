"""`python -m canvas.simexchange`: run the simulated exchange."""

import sys

from canvas.simexchange.cli import main

raise SystemExit(main(sys.argv[1:]))
