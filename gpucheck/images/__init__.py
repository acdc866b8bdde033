"""Reproducible CUDA images: render Dockerfiles, lock base images, build, verify and diff images."""
