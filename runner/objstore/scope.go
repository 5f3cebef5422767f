package objstore

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Scope is what one function may do in the store: read keys under the Read
// prefixes and write (put, delete) keys under the Write prefixes of Bucket,
// as an IAM policy of s3:GetObject and s3:ListBucket on the Read prefixes
// and s3:PutObject and s3:DeleteObject on the Write prefixes would allow.
// The prefix "" is the whole bucket.
type Scope struct {
	Bucket      string
	Read, Write []string
}

func (sc Scope) readable(key string) bool { return underAny(key, sc.Read) }
func (sc Scope) writable(key string) bool { return underAny(key, sc.Write) }

func underAny(key string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// Handler returns the store's S3 REST API limited to scope: any request for
// another bucket, for keys outside the scope's prefixes, or for bucket
// administration (creating, deleting, listing buckets, versioning) gets
// S3's AccessDenied error. Requests use path-style addressing
// (http://host:port/bucket/key), which S3 SDKs use for an endpoint that is
// an IP address. Signatures are not checked: any credentials are accepted.
func (s *Store) Handler(scope Scope) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := scope.allow(r); err != nil {
			accessDenied(w, r)
			return
		}
		s.rest.ServeHTTP(w, r)
	})
}

// errDenied is why allow refused a request; only its presence matters to
// the client, which sees S3's generic AccessDenied.
type errDenied string

func (e errDenied) Error() string { return string(e) }

// allow says whether scope permits the request. It reads (and restores)
// the body of a multi-object delete to check each key.
func (sc Scope) allow(r *http.Request) error {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket == "" {
		return errDenied("listing buckets")
	}
	if bucket != sc.Bucket {
		return errDenied("bucket " + bucket)
	}
	q := r.URL.Query()
	for _, sub := range []string{"versioning", "versions", "versionId", "acl", "policy", "lifecycle", "cors", "notification", "replication", "website", "encryption", "tagging", "object-lock"} {
		if q.Has(sub) {
			return errDenied("subresource " + sub)
		}
	}
	if key == "" {
		switch {
		case r.Method == http.MethodHead:
			return nil // HeadBucket: the bucket exists
		case r.Method == http.MethodGet && q.Has("location"):
			return nil
		case r.Method == http.MethodGet && !q.Has("uploads"):
			if !sc.readable(q.Get("prefix")) {
				return errDenied("listing prefix " + q.Get("prefix"))
			}
			return nil
		case r.Method == http.MethodPost && q.Has("delete"):
			return sc.allowDeleteObjects(r)
		}
		return errDenied(r.Method + " on the bucket")
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if !sc.readable(key) {
			return errDenied("reading " + key)
		}
		return nil
	case http.MethodPut, http.MethodPost, http.MethodDelete:
		if !sc.writable(key) {
			return errDenied("writing " + key)
		}
		if src := r.Header.Get("x-amz-copy-source"); src != "" && r.Method == http.MethodPut {
			return sc.allowCopySource(src)
		}
		return nil
	}
	return errDenied(r.Method + " on " + key)
}

// allowCopySource checks the source of a CopyObject or UploadPartCopy,
// "bucket/key" or "/bucket/key", URL-encoded, maybe with "?versionId=".
func (sc Scope) allowCopySource(src string) error {
	src, _, _ = strings.Cut(src, "?")
	src, err := url.PathUnescape(strings.TrimPrefix(src, "/"))
	if err != nil {
		return errDenied("copy source " + src)
	}
	bucket, key, _ := strings.Cut(src, "/")
	if bucket != sc.Bucket || !sc.readable(key) {
		return errDenied("copy source " + src)
	}
	return nil
}

// allowDeleteObjects checks every key of a DeleteObjects request.
func (sc Scope) allowDeleteObjects(r *http.Request) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 2<<20))
	if err != nil {
		return fmt.Errorf("read delete request: %w", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req struct {
		Objects []struct {
			Key string `xml:"Key"`
		} `xml:"Object"`
	}
	if err := xml.Unmarshal(body, &req); err != nil {
		// gofakes3 answers malformed XML itself.
		return nil
	}
	for _, o := range req.Objects {
		if !sc.writable(o.Key) {
			return errDenied("deleting " + o.Key)
		}
	}
	return nil
}

// accessDenied answers as S3 does when a policy denies a request.
func accessDenied(w http.ResponseWriter, r *http.Request) {
	id := make([]byte, 8)
	rand.Read(id)
	reqID := strings.ToUpper(hex.EncodeToString(id))
	w.Header().Set("x-amz-request-id", reqID)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusForbidden)
	if r.Method == http.MethodHead {
		return
	}
	fmt.Fprintf(w, "%s<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>%s</RequestId><HostId>faaslab</HostId></Error>", xml.Header, reqID)
}
