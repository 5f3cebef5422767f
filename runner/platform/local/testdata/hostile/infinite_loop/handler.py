# Spins forever: the platform must stop it at the timeout.
def handler(event, context):
    while True:
        pass
