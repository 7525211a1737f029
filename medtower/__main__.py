import sys

from medtower.cli import main

sys.exit(main())
