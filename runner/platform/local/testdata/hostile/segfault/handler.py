# Dereferences a null pointer through ctypes.
import ctypes


def handler(event, context):
    return ctypes.string_at(0)
