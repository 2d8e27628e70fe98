"""Step-level diagnostic: training, tokenization and inference throughput, three pipelines side by side.

    python benchmarks/train_throughput.py            # all-MiniLM-L6-v2, SST-2 (or a generated set)
    python benchmarks/train_throughput.py --quick    # tiny encoder, few steps: a smoke test
    python benchmarks/train_throughput.py --variants a,b --steps 20

The variants (the per-example pipeline, tfbert's, and a Hugging Face + PyTorch loop) and
the figures are described in step_diagnostic/__init__.py; the code is in that package.
PyTorch and transformers are benchmark-only dependencies: pip install -e ".[bench]".
"""

import sys

from step_diagnostic.harness import main

if __name__ == "__main__":
    sys.exit(main())
