# Prints 100 MB to stdout and stderr: the platform keeps a bounded log.
import sys


def handler(event, context):
    line = "x" * 1023 + "\n"
    block = line * 1024
    for i in range(50):
        sys.stdout.write(block)
        sys.stderr.write(block)
    return "printed"
