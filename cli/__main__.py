"""``python -m cli`` runs the presend command (handy from a source checkout)."""

from .main import main

if __name__ == "__main__":  # not when a spawned worker process imports it
    main()
