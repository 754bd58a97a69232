// Package minio is the documents.Store on MinIO or any S3 service, through
// minio-go: a bucket per tenant ("atrium-<tenant>"), or one shared bucket
// with a prefix per tenant ("<tenant>/"), by configuration.
package minio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/atrium-platform/atrium/documents"
	"github.com/atrium-platform/atrium/domain/tenant"
)

// Config configures the store.
type Config struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	Secure    bool
	// Bucket, when set, holds every tenant's documents under a "<tenant>/"
	// prefix; empty gives each tenant its own bucket, "atrium-<tenant>".
	Bucket string
}

// Validate reports every problem of c.
func (c Config) Validate() error {
	var errs []error
	if c.Endpoint == "" {
		errs = append(errs, errors.New("minio: no endpoint"))
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		errs = append(errs, errors.New("minio: no credentials"))
	}
	return errors.Join(errs...)
}

// Store is a documents.Store on S3.
type Store struct {
	cfg Config
	c   *miniogo.Client
}

var _ documents.Store = (*Store)(nil)

// New returns a store; it does not contact the server.
func New(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c, err := miniogo.New(cfg.Endpoint, &miniogo.Options{Creds: credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""), Secure: cfg.Secure})
	if err != nil {
		return nil, fmt.Errorf("minio: %w", err)
	}
	return &Store{cfg: cfg, c: c}, nil
}

// where returns the bucket and object name of key in the ctx tenant.
func (s *Store) where(ctx context.Context, key *string) (bucket, name string, err error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return "", "", err
	}
	if key != nil {
		if err := documents.CheckKey(*key); err != nil {
			return "", "", err
		}
		name = *key
	}
	if s.cfg.Bucket != "" {
		return s.cfg.Bucket, string(t) + "/" + name, nil
	}
	return "atrium-" + string(t), name, nil
}

func (s *Store) keyOf(ctx context.Context, name string) string {
	if s.cfg.Bucket == "" {
		return name
	}
	t, _ := tenant.From(ctx)
	return strings.TrimPrefix(name, string(t)+"/")
}

// translate maps S3 errors onto the port's.
func translate(err error) error {
	if err == nil {
		return nil
	}
	switch miniogo.ToErrorResponse(err).Code {
	case "NoSuchKey", "NoSuchBucket", "NoSuchObject":
		return fmt.Errorf("%w: %w", documents.ErrNotFound, err)
	case "EntityTooLarge":
		return fmt.Errorf("%w: %w", documents.ErrTooLarge, err)
	}
	return err
}

func (s *Store) ensureBucket(ctx context.Context, bucket string) error {
	ok, err := s.c.BucketExists(ctx, bucket)
	if err != nil {
		return translate(err)
	}
	if ok {
		return nil
	}
	err = s.c.MakeBucket(ctx, bucket, miniogo.MakeBucketOptions{})
	if code := miniogo.ToErrorResponse(err).Code; code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" {
		return nil
	}
	return translate(err)
}

// Put implements documents.Store.
func (s *Store) Put(ctx context.Context, key, contentType string, r io.Reader, size int64) (documents.Object, error) {
	bucket, name, err := s.where(ctx, &key)
	if err != nil {
		return documents.Object{}, err
	}
	if err := s.ensureBucket(ctx, bucket); err != nil {
		return documents.Object{}, err
	}
	// Read r only through a plain reader, so that what is left in it after
	// the upload tells whether it held more than announced.
	info, err := s.c.PutObject(ctx, bucket, name, struct{ io.Reader }{io.LimitReader(r, size)}, size,
		miniogo.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return documents.Object{}, translate(fmt.Errorf("put %s: %w", key, err))
	}
	var extra [1]byte
	if n, _ := r.Read(extra[:]); n > 0 {
		_ = s.c.RemoveObject(ctx, bucket, name, miniogo.RemoveObjectOptions{})
		return documents.Object{}, fmt.Errorf("put %s: more than the %d bytes announced", key, size)
	}
	return documents.Object{Key: key, ContentType: contentType, Size: info.Size, Modified: info.LastModified}, nil
}

// Get implements documents.Store.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, documents.Object, error) {
	bucket, name, err := s.where(ctx, &key)
	if err != nil {
		return nil, documents.Object{}, err
	}
	obj, err := s.c.GetObject(ctx, bucket, name, miniogo.GetObjectOptions{})
	if err != nil {
		return nil, documents.Object{}, translate(err)
	}
	st, err := obj.Stat()
	if err != nil {
		_ = obj.Close()
		return nil, documents.Object{}, translate(err)
	}
	return obj, documents.Object{Key: key, ContentType: st.ContentType, Size: st.Size, Modified: st.LastModified}, nil
}

// Stat implements documents.Store.
func (s *Store) Stat(ctx context.Context, key string) (documents.Object, error) {
	bucket, name, err := s.where(ctx, &key)
	if err != nil {
		return documents.Object{}, err
	}
	st, err := s.c.StatObject(ctx, bucket, name, miniogo.StatObjectOptions{})
	if err != nil {
		return documents.Object{}, translate(err)
	}
	return documents.Object{Key: key, ContentType: st.ContentType, Size: st.Size, Modified: st.LastModified}, nil
}

// Delete implements documents.Store: a missing object is ErrNotFound (S3
// itself answers success).
func (s *Store) Delete(ctx context.Context, key string) error {
	if _, err := s.Stat(ctx, key); err != nil {
		return err
	}
	bucket, name, err := s.where(ctx, &key)
	if err != nil {
		return err
	}
	return translate(s.c.RemoveObject(ctx, bucket, name, miniogo.RemoveObjectOptions{}))
}

// List implements documents.Store.
func (s *Store) List(ctx context.Context, prefix string) ([]documents.Object, error) {
	bucket, base, err := s.where(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := []documents.Object{}
	for o := range s.c.ListObjects(ctx, bucket, miniogo.ListObjectsOptions{Prefix: base + prefix, Recursive: true}) {
		if o.Err != nil {
			if errors.Is(translate(o.Err), documents.ErrNotFound) {
				return out, nil
			}
			return nil, translate(o.Err)
		}
		key := s.keyOf(ctx, o.Key)
		st, err := s.Stat(ctx, key)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
