"""``python -m cellscape`` runs the command line."""

from cellscape.cli import main

if __name__ == "__main__":
    main()
