"""``python -m fdscope`` works like ``fdscope``."""

from fdscope._entry import main

if __name__ == "__main__":
    main()
