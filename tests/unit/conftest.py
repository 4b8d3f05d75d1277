import pathlib
import sys

# stack_harness lives beside the unit tests.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
