"""``python -m grekko_research.cli`` runs the ``grekko`` command line."""

from grekko_research.cli import main

main()
