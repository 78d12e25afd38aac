"""`python -m ganstudio`: the same CLI as the `ganstudio` command."""

import sys

try:
    from ganstudio.cli import main

    code = main()
except KeyboardInterrupt:  # Ctrl+C while Python is still importing: no traceback for that
    print("\ninterrupted", file=sys.stderr)
    code = 130
sys.exit(code)
