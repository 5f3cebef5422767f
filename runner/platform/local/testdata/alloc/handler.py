# Allocates event["mb"] megabytes and touches every page, so that they are
# resident, then lets them go.
def handler(event, context):
    block = bytearray(event["mb"] << 20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    return len(block) >> 20
