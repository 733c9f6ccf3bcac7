"""Broken: the handler crashes the interpreter (a segmentation fault in C code)."""

import ctypes


def handler(event, context):
    ctypes.string_at(0)
