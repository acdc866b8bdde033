"""``python -m gpucheck`` runs the command-line interface."""

from gpucheck.cli import main

if __name__ == "__main__":
    main()
