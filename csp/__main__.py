import sys

from csp.cli import main

sys.exit(main())
