"""``python -m fdscope`` works like ``fdscope``."""

from fdscope._entry import main

if __name__ == "__main__":
    raise SystemExit(main())  # the exit code too (triage: 1 when a stream failed)
