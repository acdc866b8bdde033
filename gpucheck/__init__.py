"""gpucheck: set up and verify GPU/CUDA environments for machine-learning work."""

__version__ = "0.1.0"
