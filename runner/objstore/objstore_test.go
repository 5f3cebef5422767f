package objstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/faaslab/faaslab/runner/objstore"
)

// client returns an AWS SDK S3 client of the store's API limited to scope,
// served on 127.0.0.1, with made-up credentials.
func client(t *testing.T, st *objstore.Store, scope objstore.Scope) *s3.Client {
	t.Helper()
	srv := httptest.NewServer(st.Handler(scope))
	t.Cleanup(srv.Close)
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("faaslab-test", "faaslab-test", ""),
		UsePathStyle: true,
	})
}

func TestPutGetListThroughSDK(t *testing.T) {
	ctx := context.Background()
	st := objstore.New()
	if err := st.Put(ctx, "pipe", "in/a b.txt", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	c := client(t, st, objstore.Scope{Bucket: "pipe", Read: []string{"in/", "out/"}, Write: []string{"out/"}})

	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pipe"), Key: aws.String("in/a b.txt")})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(body) != "hello" {
		t.Fatalf("GetObject body = %q, want hello", body)
	}

	big := bytes.Repeat([]byte("x"), 3<<20)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pipe"), Key: aws.String("out/r.bin"), Body: bytes.NewReader(big)}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	data, mod, err := st.Get(ctx, "pipe", "out/r.bin")
	if err != nil || !bytes.Equal(data, big) {
		t.Fatalf("Store.Get after PutObject: %d bytes, %v", len(data), err)
	}
	if time.Since(mod) > time.Hour || mod.After(time.Now()) {
		t.Errorf("modified = %v, not the time of the write", mod)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("pipe"), Key: aws.String("out/r.bin")})
	if err != nil || aws.ToInt64(head.ContentLength) != int64(len(big)) {
		t.Fatalf("HeadObject: %v, %v", head, err)
	}

	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("pipe"), Prefix: aws.String("in/")})
	if err != nil {
		t.Fatalf("ListObjectsV2: %v", err)
	}
	if len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != "in/a b.txt" || aws.ToInt64(list.Contents[0].Size) != 5 {
		t.Fatalf("ListObjectsV2 = %+v", list.Contents)
	}

	objs, err := st.List(ctx, "pipe", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].Key != "in/a b.txt" || objs[1].Key != "out/r.bin" || objs[1].Size != int64(len(big)) {
		t.Fatalf("Store.List = %+v", objs)
	}
	if !objs[1].Modified.Equal(mod) {
		t.Errorf("List modified %v != Get modified %v", objs[1].Modified, mod)
	}

	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("pipe"), Key: aws.String("out/r.bin")}); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	if _, _, err := st.Get(ctx, "pipe", "out/r.bin"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get after delete: %v, want ErrNotFound", err)
	}
	if _, _, err := st.Get(ctx, "nobucket", "k"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get of a missing bucket: %v, want ErrNotFound", err)
	}
	if objs, err := st.List(ctx, "nobucket", ""); err != nil || len(objs) != 0 {
		t.Fatalf("List of a missing bucket: %v, %v", objs, err)
	}
}

func TestScopeDenies(t *testing.T) {
	ctx := context.Background()
	st := objstore.New()
	for _, k := range []string{"in/x", "secret/y", "out/z"} {
		if err := st.Put(ctx, "pipe", k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Put(ctx, "other", "in/x", []byte("other")); err != nil {
		t.Fatal(err)
	}
	c := client(t, st, objstore.Scope{Bucket: "pipe", Read: []string{"in/"}, Write: []string{"out/"}})

	b := aws.String("pipe")
	denied := []struct {
		name string
		call func() error
	}{
		{"get outside read", func() error {
			_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("secret/y")})
			return err
		}},
		{"get from write-only", func() error {
			_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("out/z")})
			return err
		}},
		{"head outside read", func() error {
			_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("secret/y")})
			return err
		}},
		{"other bucket", func() error {
			_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("other"), Key: aws.String("in/x")})
			return err
		}},
		{"put outside write", func() error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("in/x"), Body: strings.NewReader("overwritten")})
			return err
		}},
		{"delete outside write", func() error {
			_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("in/x")})
			return err
		}},
		{"delete objects, one outside write", func() error {
			_, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("out/z")}, {Key: aws.String("in/x")}}}})
			return err
		}},
		{"list whole bucket", func() error {
			_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b})
			return err
		}},
		{"list buckets", func() error {
			_, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
			return err
		}},
		{"copy from outside read", func() error {
			_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("out/copy"), CopySource: aws.String("pipe/secret/y")})
			return err
		}},
		{"create bucket", func() error {
			_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("new")})
			return err
		}},
	}
	for _, d := range denied {
		err := d.call()
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) {
			t.Errorf("%s: err = %v, want AccessDenied", d.name, err)
			continue
		}
		// HEAD answers carry no body, so the SDK knows only the status.
		if code := apiErr.ErrorCode(); code != "AccessDenied" && !(strings.HasPrefix(d.name, "head") && code == "Forbidden") {
			t.Errorf("%s: error code %q, want AccessDenied", d.name, code)
		}
	}
	for k, want := range map[string]string{"in/x": "in/x", "out/z": "out/z"} {
		if data, _, err := st.Get(ctx, "pipe", k); err != nil || string(data) != want {
			t.Errorf("after denied writes, %s = %q, %v; want %q", k, data, err, want)
		}
	}

	// What the scope allows still works: a copy from a readable key.
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("out/copy"), CopySource: aws.String("pipe/" + url.PathEscape("in/x"))}); err != nil {
		t.Fatalf("CopyObject within scope: %v", err)
	}
	if data, _, err := st.Get(ctx, "pipe", "out/copy"); err != nil || string(data) != "in/x" {
		t.Fatalf("copied object = %q, %v", data, err)
	}
}

func TestWatchSeesEveryWrite(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := objstore.New()
	ch := st.Watch(ctx, "pipe", "out/")
	c := client(t, st, objstore.Scope{Bucket: "pipe", Read: []string{""}, Write: []string{""}})

	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "out/" + string(rune('a'+i))
			if i%2 == 0 {
				if err := st.Put(ctx, "pipe", key, []byte("x")); err != nil {
					t.Error(err)
				}
				return
			}
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pipe"), Key: aws.String(key), Body: strings.NewReader("xy")}); err != nil {
				t.Error(err)
			}
		}()
	}
	// Writes elsewhere are not reported.
	if err := st.Put(ctx, "pipe", "in/ignored", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "other", "out/ignored", []byte("x")); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	seen := map[string]objstore.Object{}
	var last time.Time
	timeout := time.After(30 * time.Second)
	for len(seen) < n {
		select {
		case o := <-ch:
			if o.Modified.Before(last) {
				t.Errorf("%s reported out of order: %v before %v", o.Key, o.Modified, last)
			}
			last = o.Modified
			seen[o.Key] = o
		case <-timeout:
			t.Fatalf("watch reported %d of %d writes", len(seen), n)
		}
	}
	for k, o := range seen {
		if !strings.HasPrefix(k, "out/") {
			t.Errorf("reported %s outside the watched prefix", k)
		}
		_, mod, err := st.Get(ctx, "pipe", k)
		if err != nil || !mod.Equal(o.Modified) {
			t.Errorf("%s: watched time %v, stored time %v (%v)", k, o.Modified, mod, err)
		}
	}
	cancel()
	for range ch {
	}
}

func TestEventShape(t *testing.T) {
	at := time.Date(2026, 12, 2, 7, 30, 0, 123456789, time.UTC)
	var ev struct {
		Records []struct {
			EventVersion string `json:"eventVersion"`
			EventSource  string `json:"eventSource"`
			AWSRegion    string `json:"awsRegion"`
			EventTime    string `json:"eventTime"`
			EventName    string `json:"eventName"`
			S3           struct {
				SchemaVersion   string `json:"s3SchemaVersion"`
				ConfigurationID string `json:"configurationId"`
				Bucket          struct {
					Name string `json:"name"`
					ARN  string `json:"arn"`
				} `json:"bucket"`
				Object struct {
					Key       string          `json:"key"`
					Size      json.RawMessage `json:"size"`
					ETag      *string         `json:"eTag"`
					Sequencer string          `json:"sequencer"`
				} `json:"object"`
			} `json:"s3"`
		}
	}
	if err := json.Unmarshal(objstore.Event("pipe", "in/my photo+1.jpg", 1024, at), &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Records) != 1 {
		t.Fatalf("%d records, want 1", len(ev.Records))
	}
	r := ev.Records[0]
	for _, c := range []struct{ name, got, want string }{
		{"eventVersion", r.EventVersion, "2.1"},
		{"eventSource", r.EventSource, "aws:s3"},
		{"awsRegion", r.AWSRegion, objstore.EventRegion},
		{"eventTime", r.EventTime, "2026-12-02T07:30:00.123Z"},
		{"eventName", r.EventName, "ObjectCreated:Put"},
		{"s3SchemaVersion", r.S3.SchemaVersion, "1.0"},
		{"bucket.name", r.S3.Bucket.Name, "pipe"},
		{"bucket.arn", r.S3.Bucket.ARN, "arn:aws:s3:::pipe"},
		{"object.key", r.S3.Object.Key, "in/my+photo%2B1.jpg"},
		{"object.size", string(r.S3.Object.Size), "1024"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if r.S3.ConfigurationID == "" || r.S3.Object.ETag == nil {
		t.Errorf("configurationId %q, eTag %v: want both present", r.S3.ConfigurationID, r.S3.Object.ETag)
	}
	later := objstore.Event("pipe", "k", 1, at.Add(time.Millisecond))
	var ev2 struct {
		Records []struct {
			S3 struct {
				Object struct{ Sequencer string } `json:"object"`
			} `json:"s3"`
		}
	}
	json.Unmarshal(later, &ev2)
	if ev2.Records[0].S3.Object.Sequencer <= r.S3.Object.Sequencer {
		t.Errorf("sequencer of a later write %s not greater than %s", ev2.Records[0].S3.Object.Sequencer, r.S3.Object.Sequencer)
	}
}

func TestNotificationOfStoredObject(t *testing.T) {
	ctx := context.Background()
	st := objstore.New()
	if err := st.Put(ctx, "pipe", "in/a", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	b, err := st.Notification(ctx, "pipe", "in/a")
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Records []struct {
			S3 struct {
				Object struct {
					Size int64  `json:"size"`
					ETag string `json:"eTag"`
				} `json:"object"`
			} `json:"s3"`
		}
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	// The MD5 of "hello", which S3 reports as the ETag of a single-part upload.
	if o := ev.Records[0].S3.Object; o.Size != 5 || o.ETag != "5d41402abc4b2a76b9719d911017c592" {
		t.Errorf("object = %+v", o)
	}
	if _, err := st.Notification(ctx, "pipe", "missing"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Notification of a missing key: %v", err)
	}
}
