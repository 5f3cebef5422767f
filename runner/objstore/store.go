// Package objstore is the object storage of pipelines on platforms that host
// storage themselves (the local sandbox): an in-memory store that the runner
// reads and writes directly, and that functions reach through an
// S3-compatible REST API limited to the keys each may use (Handler).
//
// The REST API is gofakes3's; objstore adds the scoping, exact write times,
// write notifications (Watch) and S3's event documents (Event).
package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// ErrNotFound is returned by Get for a bucket or key that does not exist.
var ErrNotFound = errors.New("no such object")

// Object describes one stored object.
type Object struct {
	Key  string
	Size int64
	// Modified is when the write that stored the object completed, at the
	// host clock's full precision (S3's REST API shows it to the second).
	Modified time.Time
}

// Store is an in-memory object store. It is safe for concurrent use; writes
// through Put and through every Handler of the store are seen by all.
type Store struct {
	backend *backend
	rest    http.Handler
}

// New returns an empty store.
func New() *Store {
	b := &backend{
		Backend:  s3mem.New(),
		modified: map[string]map[string]time.Time{},
	}
	// The backend wrapper implements neither gofakes3's versioning nor its
	// multipart interfaces, so multipart uploads are assembled by gofakes3
	// and stored through PutObject, where they are timed and watched.
	fake := gofakes3.New(b,
		gofakes3.WithAutoBucket(true),
		gofakes3.WithoutVersioning(),
		// Signatures are not checked, so a clock-skew check guards nothing.
		gofakes3.WithTimeSkewLimit(0),
	)
	return &Store{backend: b, rest: fake.Server()}
}

// Put stores data at bucket/key, creating the bucket if needed.
func (s *Store) Put(ctx context.Context, bucket, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.backend.ensureBucket(bucket); err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	if _, err := s.backend.PutObject(bucket, key, map[string]string{}, bytes.NewReader(data), int64(len(data)), nil); err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// Get returns the object at bucket/key and when it was written. A missing
// bucket or key is ErrNotFound.
func (s *Store) Get(ctx context.Context, bucket, key string) ([]byte, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return nil, time.Time{}, err
	}
	obj, err := s.backend.GetObject(bucket, key, nil)
	if err != nil {
		if gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey) || gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchBucket) {
			return nil, time.Time{}, fmt.Errorf("get s3://%s/%s: %w", bucket, key, ErrNotFound)
		}
		return nil, time.Time{}, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer obj.Contents.Close()
	data, err := io.ReadAll(obj.Contents)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	return data, s.backend.modifiedAt(bucket, key), nil
}

// List returns the objects of bucket whose keys start with prefix, in key
// order. A missing bucket has no objects.
func (s *Store) List(ctx context.Context, bucket, prefix string) ([]Object, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	list, err := s.backend.ListBucket(bucket, &gofakes3.Prefix{HasPrefix: true, Prefix: prefix}, gofakes3.ListBucketPage{})
	if err != nil {
		if gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchBucket) {
			return nil, nil
		}
		return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
	}
	objs := make([]Object, 0, len(list.Contents))
	for _, c := range list.Contents {
		objs = append(objs, Object{Key: c.Key, Size: c.Size, Modified: s.backend.modifiedAt(bucket, c.Key)})
	}
	return objs, nil
}

// Watch reports every object written to bucket under prefix from now on,
// through Put or any Handler, in the order the writes completed. Writers
// never wait for the watcher: reports queue until read. The channel is
// closed when ctx is done.
func (s *Store) Watch(ctx context.Context, bucket, prefix string) <-chan Object {
	w := &watcher{bucket: bucket, prefix: prefix, wake: make(chan struct{}, 1)}
	s.backend.mu.Lock()
	s.backend.watchers = append(s.backend.watchers, w)
	s.backend.mu.Unlock()
	out := make(chan Object)
	go func() {
		defer close(out)
		defer s.backend.unwatch(w)
		for {
			w.mu.Lock()
			queued := w.queue
			w.queue = nil
			w.mu.Unlock()
			for _, o := range queued {
				select {
				case out <- o:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-w.wake:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

type watcher struct {
	bucket, prefix string
	wake           chan struct{}
	mu             sync.Mutex
	queue          []Object
}

func (w *watcher) notify(o Object) {
	w.mu.Lock()
	w.queue = append(w.queue, o)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// backend is the in-memory gofakes3 backend with the write times and
// watchers of the store. Writes are serialised by mu so that the recorded
// time and the order of notifications match the order of the writes.
type backend struct {
	gofakes3.Backend

	mu       sync.Mutex
	modified map[string]map[string]time.Time // bucket -> key -> write time
	watchers []*watcher
}

func (b *backend) ensureBucket(bucket string) error {
	ok, err := b.BucketExists(bucket)
	if err != nil || ok {
		return err
	}
	if err := b.CreateBucket(bucket); err != nil && !gofakes3.HasErrorCode(err, gofakes3.ErrBucketAlreadyExists) {
		return err
	}
	return nil
}

func (b *backend) modifiedAt(bucket, key string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.modified[bucket][key]
}

func (b *backend) unwatch(w *watcher) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, x := range b.watchers {
		if x == w {
			b.watchers = append(b.watchers[:i], b.watchers[i+1:]...)
			return
		}
	}
}

// PutObject stores the object and records the time the write completed.
func (b *backend) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, conditions *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	// Read the body before taking the lock: a slow client must not hold up
	// other writers.
	body, err := gofakes3.ReadAll(input, size)
	if err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	res, err := b.Backend.PutObject(bucket, key, meta, bytes.NewReader(body), int64(len(body)), conditions)
	if err != nil {
		return res, err
	}
	now := time.Now()
	if b.modified[bucket] == nil {
		b.modified[bucket] = map[string]time.Time{}
	}
	b.modified[bucket][key] = now
	o := Object{Key: key, Size: int64(len(body)), Modified: now}
	for _, w := range b.watchers {
		if w.bucket == bucket && strings.HasPrefix(key, w.prefix) {
			w.notify(o)
		}
	}
	return res, nil
}

// CopyObject copies through PutObject so that copies are timed and watched.
func (b *backend) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	return gofakes3.CopyObject(b, srcBucket, srcKey, dstBucket, dstKey, meta)
}

func (b *backend) DeleteObject(bucket, key string) (gofakes3.ObjectDeleteResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	res, err := b.Backend.DeleteObject(bucket, key)
	if err == nil {
		delete(b.modified[bucket], key)
	}
	return res, err
}

func (b *backend) DeleteMulti(bucket string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	res, err := b.Backend.DeleteMulti(bucket, keys...)
	for _, d := range res.Deleted {
		delete(b.modified[bucket], d.Key)
	}
	return res, err
}

func (b *backend) DeleteBucket(bucket string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.Backend.DeleteBucket(bucket)
	if err == nil {
		delete(b.modified, bucket)
	}
	return err
}

func (b *backend) ForceDeleteBucket(bucket string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.Backend.ForceDeleteBucket(bucket)
	if err == nil {
		delete(b.modified, bucket)
	}
	return err
}
