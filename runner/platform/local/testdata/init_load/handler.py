# Imports boto3 and makes an S3 client at init, as a pipeline's stages do,
# for BenchmarkInitUnderLoad. The handler returns how long this process
# has run on a CPU and waited for one, from the kernel's schedstat, in
# nanoseconds: for a cold start, nearly all of it is init's.
import boto3

s3 = boto3.client("s3")


def handler(event, context):
    with open("/proc/self/schedstat") as f:
        run, wait, _ = f.read().split()
    return {"run_ns": int(run), "wait_ns": int(wait)}
