package objstore

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// EventRegion is the awsRegion of the events this package builds.
const EventRegion = "us-east-1"

// Event returns the S3 event notification that Lambda hands a function
// triggered by an object created with PutObject ("ObjectCreated:Put"),
// for the object bucket/key of size bytes written at at. The key is
// URL-encoded as S3 encodes it (spaces as "+", "/" kept), so handlers
// decode it with urllib.parse.unquote_plus. Event knows no content, so the
// object's eTag is empty; Store.Notification fills it in.
func Event(bucket, key string, size int64, at time.Time) []byte {
	return event(bucket, key, size, "", at)
}

// Notification returns Event for the object stored at bucket/key, with
// its size, eTag and write time.
func (s *Store) Notification(ctx context.Context, bucket, key string) ([]byte, error) {
	data, at, err := s.Get(ctx, bucket, key)
	if err != nil {
		return nil, fmt.Errorf("notification: %w", err)
	}
	sum := md5.Sum(data)
	return event(bucket, key, int64(len(data)), hex.EncodeToString(sum[:]), at), nil
}

type eventRecord struct {
	EventVersion      string            `json:"eventVersion"`
	EventSource       string            `json:"eventSource"`
	AWSRegion         string            `json:"awsRegion"`
	EventTime         string            `json:"eventTime"`
	EventName         string            `json:"eventName"`
	UserIdentity      map[string]string `json:"userIdentity"`
	RequestParameters map[string]string `json:"requestParameters"`
	ResponseElements  map[string]string `json:"responseElements"`
	S3                eventS3           `json:"s3"`
}

type eventS3 struct {
	SchemaVersion   string `json:"s3SchemaVersion"`
	ConfigurationID string `json:"configurationId"`
	Bucket          struct {
		Name          string            `json:"name"`
		OwnerIdentity map[string]string `json:"ownerIdentity"`
		ARN           string            `json:"arn"`
	} `json:"bucket"`
	Object struct {
		Key       string `json:"key"`
		Size      int64  `json:"size"`
		ETag      string `json:"eTag"`
		Sequencer string `json:"sequencer"`
	} `json:"object"`
}

func event(bucket, key string, size int64, etag string, at time.Time) []byte {
	r := eventRecord{
		EventVersion:      "2.1",
		EventSource:       "aws:s3",
		AWSRegion:         EventRegion,
		EventTime:         at.UTC().Format("2006-01-02T15:04:05.000Z"),
		EventName:         "ObjectCreated:Put",
		UserIdentity:      map[string]string{"principalId": "faaslab"},
		RequestParameters: map[string]string{"sourceIPAddress": "127.0.0.1"},
		ResponseElements:  map[string]string{"x-amz-request-id": sequencer(at), "x-amz-id-2": "faaslab"},
	}
	r.S3.SchemaVersion = "1.0"
	r.S3.ConfigurationID = "faaslab"
	r.S3.Bucket.Name = bucket
	r.S3.Bucket.OwnerIdentity = map[string]string{"principalId": "faaslab"}
	r.S3.Bucket.ARN = "arn:aws:s3:::" + bucket
	r.S3.Object.Key = eventKey(key)
	r.S3.Object.Size = size
	r.S3.Object.ETag = etag
	r.S3.Object.Sequencer = sequencer(at)
	b, err := json.Marshal(map[string][]eventRecord{"Records": {r}})
	if err != nil {
		panic(err) // only strings and numbers: cannot fail
	}
	return b
}

// eventKey encodes key as S3 event notifications do: form encoding of each
// path segment.
func eventKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.QueryEscape(s)
	}
	return strings.Join(segs, "/")
}

// sequencer orders events for the same key, as S3's hexadecimal
// sequencer does: later writes compare greater.
func sequencer(at time.Time) string {
	return fmt.Sprintf("%016X", at.UnixNano())
}
