import sys

from workers.launcher import main

sys.exit(main())
