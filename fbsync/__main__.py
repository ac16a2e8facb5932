"""``python -m fbsync`` runs the command line."""

from .cli import main

main()
