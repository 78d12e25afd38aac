"""`python main.py`: opens GAN Studio (same options as `ganstudio` with no command)."""

import sys

from ganstudio.qt.app import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
