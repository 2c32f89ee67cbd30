import sys

from reelflow.cli import main

sys.exit(main())
