package jetstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/atrium-platform/atrium/documents"
	"github.com/atrium-platform/atrium/domain/tenant"
)

// Documents is a documents.Store on JetStream object stores: one bucket per
// tenant (ATRIUM_DOCS_<tenant>), created on the tenant's first document.
type Documents struct {
	js  jetstream.JetStream
	cfg DocumentsConfig

	mu      sync.Mutex
	dropped map[tenant.ID]bool // dropped here: their bucket is never created again
}

var _ documents.Store = (*Documents)(nil)

// DocumentsConfig configures the document store.
type DocumentsConfig struct {
	// Replicas of each tenant's bucket on a NATS cluster, given when the
	// bucket is created; default 1.
	Replicas int
}

// NewDocuments returns the document store on nc.
func NewDocuments(nc *nats.Conn, cfg DocumentsConfig) (*Documents, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Replicas < 1 || cfg.Replicas > 5 {
		return nil, fmt.Errorf("jetstream documents: Replicas %d, want 1 to 5", cfg.Replicas)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	return &Documents{js: js, cfg: cfg, dropped: map[tenant.ID]bool{}}, nil
}

func docsBucket(t tenant.ID) string { return "ATRIUM_DOCS_" + string(t) }

// Drop deletes the ctx tenant's bucket, every document in it
// (offboarding); its bucket is not created again (documents.ErrDropped).
func (d *Documents) Drop(ctx context.Context) error {
	if err := d.Forget(ctx); err != nil {
		return err
	}
	t, _ := tenant.From(ctx) // Forget checked it
	return d.drop(ctx, t)
}

// Forget makes the store create the ctx tenant's bucket no more
// (documents.ErrDropped), without deleting anything: the instance that
// deleted the tenant deleted its bucket.
func (d *Documents) Forget(ctx context.Context) error {
	t, err := tenant.From(ctx)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.dropped[t] = true
	d.mu.Unlock()
	return nil
}

func (d *Documents) isDropped(t tenant.ID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped[t]
}

// drop deletes tenant t's bucket.
func (d *Documents) drop(ctx context.Context, t tenant.ID) error {
	if err := d.js.DeleteObjectStore(ctx, docsBucket(t)); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return translate(fmt.Errorf("documents of %s: %w", t, err))
	}
	return nil
}

// bucket opens the ctx tenant's bucket for an object key (checked), or for
// listing when key is nil; create makes the bucket when missing.
func (d *Documents) bucket(ctx context.Context, key *string, create bool) (jetstream.ObjectStore, error) {
	t, err := tenant.From(ctx)
	if err != nil {
		return nil, err
	}
	if key != nil {
		if err := documents.CheckKey(*key); err != nil {
			return nil, err
		}
	}
	if create && d.isDropped(t) {
		return nil, fmt.Errorf("%w: %s", documents.ErrDropped, t)
	}
	os, err := d.js.ObjectStore(ctx, docsBucket(t))
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		if !create {
			return nil, documents.ErrNotFound
		}
		os, err = d.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket: docsBucket(t), Description: "documents of tenant " + string(t), Storage: jetstream.FileStorage,
			Replicas: d.cfg.Replicas,
		})
		if err == nil && d.isDropped(t) {
			// Dropped while this created it: it goes again.
			return nil, errors.Join(fmt.Errorf("%w: %s", documents.ErrDropped, t), d.drop(context.WithoutCancel(ctx), t))
		}
		if err == nil {
			os, err = d.settle(ctx, docsBucket(t))
		}
	}
	if err != nil {
		return nil, translate(fmt.Errorf("documents of %s: %w", t, err))
	}
	return os, nil
}

// settle readies a bucket just created, and returns it bound again. On a
// cluster its reads go to its stream's leader (a follower a moment behind
// would not know an object just stored through another instance: 404),
// and it returns once its stream answers on this connection (a server
// learns of a new stream's subscriptions a moment after it is created;
// before, a put finds no responders).
func (d *Documents) settle(ctx context.Context, bucket string) (jetstream.ObjectStore, error) {
	if d.cfg.Replicas > 1 {
		st, err := d.js.Stream(ctx, "OBJ_"+bucket)
		if err != nil {
			return nil, err
		}
		if cfg := st.CachedInfo().Config; cfg.AllowDirect {
			cfg.AllowDirect = false
			if _, err := d.js.UpdateStream(ctx, cfg); err != nil {
				return nil, err
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := awaitAnswer(ctx, d.js.Conn(), refusedProbe("$O."+bucket+".M.probe", "OBJ_"+bucket), nil); err != nil {
		return nil, fmt.Errorf("bucket %s not reachable: %w", bucket, err)
	}
	return d.js.ObjectStore(ctx, bucket)
}

func objectOf(info *jetstream.ObjectInfo) documents.Object {
	ct := ""
	if info.Headers != nil {
		ct = info.Headers.Get("Content-Type")
	}
	return documents.Object{Key: info.Name, ContentType: ct, Size: int64(info.Size), Modified: info.ModTime}
}

func notFound(err error) error {
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return documents.ErrNotFound
	}
	return translate(err)
}

// Put implements documents.Store. A reader that yields another size than
// announced stores nothing.
func (d *Documents) Put(ctx context.Context, key, contentType string, r io.Reader, size int64) (documents.Object, error) {
	os, err := d.bucket(ctx, &key, true)
	if err != nil {
		return documents.Object{}, err
	}
	counted := &countingReader{r: io.LimitReader(r, size+1)}
	info, err := os.Put(ctx, jetstream.ObjectMeta{Name: key, Headers: nats.Header{"Content-Type": []string{contentType}}}, counted)
	if err != nil {
		return documents.Object{}, translate(fmt.Errorf("put %s: %w", key, err))
	}
	if counted.n != size {
		_ = os.Delete(ctx, key)
		return documents.Object{}, fmt.Errorf("put %s: %d bytes announced, %d or more sent", key, size, counted.n)
	}
	return objectOf(info), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Get implements documents.Store.
func (d *Documents) Get(ctx context.Context, key string) (io.ReadCloser, documents.Object, error) {
	os, err := d.bucket(ctx, &key, false)
	if err != nil {
		return nil, documents.Object{}, err
	}
	res, err := os.Get(ctx, key)
	if err != nil {
		return nil, documents.Object{}, notFound(err)
	}
	info, err := res.Info()
	if err != nil {
		_ = res.Close()
		return nil, documents.Object{}, notFound(err)
	}
	return res, objectOf(info), nil
}

// Stat implements documents.Store.
func (d *Documents) Stat(ctx context.Context, key string) (documents.Object, error) {
	os, err := d.bucket(ctx, &key, false)
	if err != nil {
		return documents.Object{}, err
	}
	info, err := os.GetInfo(ctx, key)
	if err != nil {
		return documents.Object{}, notFound(err)
	}
	return objectOf(info), nil
}

// Delete implements documents.Store.
func (d *Documents) Delete(ctx context.Context, key string) error {
	os, err := d.bucket(ctx, &key, false)
	if err != nil {
		return err
	}
	return notFound(os.Delete(ctx, key))
}

// List implements documents.Store.
func (d *Documents) List(ctx context.Context, prefix string) ([]documents.Object, error) {
	os, err := d.bucket(ctx, nil, false)
	if errors.Is(err, documents.ErrNotFound) {
		return []documents.Object{}, nil
	}
	if err != nil {
		return nil, err
	}
	infos, err := os.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return []documents.Object{}, nil
	}
	if err != nil {
		return nil, translate(err)
	}
	out := []documents.Object{}
	for _, info := range infos {
		if strings.HasPrefix(info.Name, prefix) {
			out = append(out, objectOf(info))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
