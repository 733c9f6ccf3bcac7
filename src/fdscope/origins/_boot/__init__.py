"""The ``sitecustomize`` that ``fdscope track`` puts on ``PYTHONPATH``."""
