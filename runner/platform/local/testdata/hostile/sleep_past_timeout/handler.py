# Sleeps far past its timeout.
import time


def handler(event, context):
    time.sleep(600)
