"""`python -m ganstudio`: the same CLI as the `ganstudio` command."""

import sys

from ganstudio.cli import main

sys.exit(main())
