"""Allow ``python -m personamap``."""

from personamap.cli import main

if __name__ == "__main__":
    main()
