"""``python -m fdscope`` works like ``fdscope``."""

from fdscope.cli import main

if __name__ == "__main__":
    main()
