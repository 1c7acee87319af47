"""`python -m datatrac`: the `datatrac` command."""

import sys

from datatrac_site.cli import main

sys.exit(main())
