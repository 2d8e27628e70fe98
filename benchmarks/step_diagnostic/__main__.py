"""``python -m step_diagnostic`` (from benchmarks/): the same command line as benchmarks/train_throughput.py."""

import sys

from .harness import main

sys.exit(main())
