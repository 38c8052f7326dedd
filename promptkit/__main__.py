"""`python -m promptkit` runs the CLI."""

from promptkit.cli import main

if __name__ == "__main__":
    main()
