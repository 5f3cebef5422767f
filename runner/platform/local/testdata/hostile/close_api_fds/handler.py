# Closes every descriptor above the standard streams, the runtime's
# included.
import os


def handler(event, context):
    os.closerange(3, 65536)
    return "closed"
