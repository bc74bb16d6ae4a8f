"""``python -m cli`` runs the presend command (handy from a source checkout)."""

from .main import main

main()
