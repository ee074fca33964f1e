import sys

from lemmaflow.cli import main

sys.exit(main())
