import sys
from pathlib import Path

# Make the slow reference implementations importable as ``_metric_reference``.
sys.path.insert(0, str(Path(__file__).parent))
