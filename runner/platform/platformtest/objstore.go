package platformtest

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/objstore"
	"github.com/faaslab/faaslab/runner/platform"
)

// RunObjectStorage runs the cases of platforms that host a function's
// object storage themselves (platform.Function.S3): the function's own
// boto3, given no endpoint, finds the storage at AWS_ENDPOINT_URL_S3, can
// do there what the scope allows and nothing else, from its init on, and
// again in a new environment after a crash. It needs Python's boto3
// (Debian's python3-boto3) and skips without it.
func RunObjectStorage(t *testing.T, newPlatform func(t *testing.T) platform.Platform) {
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("no boto3 (install python3-boto3):", err)
	}
	for _, tc := range []struct {
		name string
		test func(*testing.T, platform.Platform)
	}{
		{"S3ReadWrite", testS3ReadWrite},
		{"S3AtInitAndAfterCrash", testS3AtInitAndAfterCrash},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, newPlatform(t))
		})
	}
}

// S3InitTimeout is the init timeout that platforms under RunObjectStorage
// need: importing boto3 and making a client take a second of CPU, many
// seconds on a loaded host.
const S3InitTimeout = 3 * time.Minute

// S3Function returns Function(t, source, ...) with store's API limited to
// scope as its object storage, a vCPU (boto3's import and client take
// a second of CPU) and a timeout generous for a loaded host.
func S3Function(t *testing.T, source string, store *objstore.Store, scope objstore.Scope) platform.Function {
	return Function(t, source, func(fn *platform.Function) {
		fn.S3 = store.Handler(scope)
		fn.MemoryMB = 1769
		fn.Timeout = time.Minute
	})
}

func testS3ReadWrite(t *testing.T, p platform.Platform) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := objstore.New()
	for key, body := range map[string]string{"in/my photo.txt": "hello pipeline", "secret/s": "no", "out/old": "old"} {
		if err := st.Put(ctx, "pipe", key, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Put(ctx, "other", "in/my photo.txt", []byte("other bucket")); err != nil {
		t.Fatal(err)
	}
	written := st.Watch(ctx, "pipe", "out/")
	d := Deploy(t, p, S3Function(t, `
import urllib.parse
import boto3
import botocore.exceptions

s3 = boto3.client("s3")

def handler(event, context):
    rec = event["Records"][0]["s3"]
    bucket = rec["bucket"]["name"]
    key = urllib.parse.unquote_plus(rec["object"]["key"])
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    out = "out/" + key.split("/")[-1] + ".upper"
    s3.put_object(Bucket=bucket, Key=out, Body=body.upper())
    denied = {}
    for name, call in [
        ("read outside", lambda: s3.get_object(Bucket=bucket, Key="secret/s")),
        ("read own output", lambda: s3.get_object(Bucket=bucket, Key="out/old")),
        ("write input", lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"overwritten")),
        ("other bucket", lambda: s3.get_object(Bucket="other", Key=key)),
        ("list buckets", lambda: s3.list_buckets()),
    ]:
        try:
            call()
            denied[name] = "allowed"
        except botocore.exceptions.ClientError as e:
            denied[name] = e.response["Error"]["Code"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="in/")
    return {
        "out": out,
        "denied": denied,
        "listed": [o["Key"] for o in listed.get("Contents", [])],
    }
`, st, objstore.Scope{Bucket: "pipe", Read: []string{"in/"}, Write: []string{"out/"}}))

	event, err := st.Notification(ctx, "pipe", "in/my photo.txt")
	if err != nil {
		t.Fatal(err)
	}
	inv := Invoke(t, d, string(event))
	Want(t, inv, platform.StatusOK, "")
	var got struct {
		Out    string
		Denied map[string]string
		Listed []string
	}
	Result(t, inv, &got)
	if got.Out != "out/my photo.txt.upper" {
		t.Fatalf("output key %q", got.Out)
	}
	data, _, err := st.Get(ctx, "pipe", got.Out)
	if err != nil || string(data) != "HELLO PIPELINE" {
		t.Errorf("output object %q, %v; want HELLO PIPELINE", data, err)
	}
	if len(got.Denied) != 5 {
		t.Errorf("denied %v", got.Denied)
	}
	for what, code := range got.Denied {
		if code != "AccessDenied" {
			t.Errorf("%s: %s, want AccessDenied", what, code)
		}
	}
	if data, _, _ := st.Get(ctx, "pipe", "in/my photo.txt"); string(data) != "hello pipeline" {
		t.Errorf("input overwritten: %q", data)
	}
	if strings.Join(got.Listed, ",") != "in/my photo.txt" {
		t.Errorf("listed %v", got.Listed)
	}
	select {
	case o := <-written:
		if o.Key != got.Out || o.Size != int64(len("HELLO PIPELINE")) {
			t.Errorf("watched %+v", o)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("the function's write was not reported by Watch")
	}
}

func testS3AtInitAndAfterCrash(t *testing.T, p platform.Platform) {
	ctx := context.Background()
	st := objstore.New()
	if err := st.Put(ctx, "pipe", "config/greeting", []byte("hello from init")); err != nil {
		t.Fatal(err)
	}
	d := Deploy(t, p, S3Function(t, `
import os
import boto3

s3 = boto3.client("s3")
GREETING = s3.get_object(Bucket="pipe", Key="config/greeting")["Body"].read().decode()

def handler(event, context):
    if event.get("exit"):
        os._exit(3)
    n = event["n"]
    s3.put_object(Bucket="pipe", Key="out/%d" % n, Body=GREETING.encode())
    return GREETING
`, st, objstore.Scope{Bucket: "pipe", Read: []string{"config/"}, Write: []string{"out/"}}))

	first := Invoke(t, d, `{"n": 1}`)
	Want(t, first, platform.StatusOK, "")
	if !first.Cold {
		t.Errorf("first call not cold")
	}
	crash := Invoke(t, d, `{"exit": true}`)
	Want(t, crash, platform.StatusCrash, "")
	again := Invoke(t, d, `{"n": 2}`)
	Want(t, again, platform.StatusOK, "")
	if !again.Cold {
		t.Errorf("call after a crash not cold")
	}
	for _, inv := range []platform.Invocation{first, again} {
		var greeting string
		Result(t, inv, &greeting)
		if greeting != "hello from init" {
			t.Errorf("init read %q", greeting)
		}
	}
	for _, key := range []string{"out/1", "out/2"} {
		if data, _, err := st.Get(ctx, "pipe", key); err != nil || string(data) != "hello from init" {
			t.Errorf("%s = %q, %v", key, data, err)
		}
	}
}
