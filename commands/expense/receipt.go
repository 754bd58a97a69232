package expense

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/atrium-platform/atrium/commands"
	"github.com/atrium-platform/atrium/documents"
	"github.com/atrium-platform/atrium/domain"
	"github.com/atrium-platform/atrium/domain/expense"
	"github.com/atrium-platform/atrium/domain/user"
)

// ReceiptPrefix is the document key prefix of claim id's receipts. Every
// attach stores its file under a key of its own below it, so no attach
// ever writes over a receipt a claim records. Claims attached before
// recorded the single key receipts/<id>, which is still served; the new
// keys do not nest under it, since S3 servers such as MinIO refuse an
// object below a key that is itself an object.
func ReceiptPrefix(id string) string { return "expenses/" + id + "/receipts/" }

// discardTimeout bounds the clean-up after an attach, which runs to its end
// even when the request's context has ended.
const discardTimeout = 30 * time.Second

// receiptTypes are the accepted receipt types and how their bytes begin.
var receiptTypes = map[string][][]byte{
	"application/pdf": {[]byte("%PDF-")},
	"image/png":       {[]byte("\x89PNG\r\n\x1a\n")},
	"image/jpeg":      {[]byte("\xff\xd8\xff")},
	"image/webp":      {[]byte("RIFF")},
}

// checkReceipt refuses a type that is not an image or a PDF, a size over
// the policy, and bytes that are not of the declared type.
func checkReceipt(contentType string, body []byte, max int64) error {
	magics, ok := receiptTypes[contentType]
	if !ok {
		return domain.Rejectf("unsupported_receipt_type", "receipts are PDF, PNG, JPEG or WebP")
	}
	if len(body) == 0 {
		return domain.Invalidf("body", "required", "the receipt is empty")
	}
	if max > 0 && int64(len(body)) > max {
		return domain.Rejectf("receipt_too_large", "receipts are at most %d bytes", max)
	}
	if !slices.ContainsFunc(magics, func(m []byte) bool { return bytes.HasPrefix(body, m) }) ||
		(contentType == "image/webp" && (len(body) < 12 || string(body[8:12]) != "WEBP")) {
		return domain.Rejectf("receipt_type_mismatch", "the bytes are not a %s", contentType)
	}
	return nil
}

// AttachReceipt is a receipt for the caller's draft: the file's bytes and
// type, as the client uploads them.
type AttachReceipt struct {
	commands.Request
	ExpenseID   string
	ContentType string
	Body        []byte
}

// AttachReceipt stores a receipt for the caller's draft and records it.
//
// The claim's receipt changes only when the command recording it commits.
// Every check that can be made before writing comes first (the file's
// type, size and bytes, the claim's owner and state, the idempotency key,
// If-Match), so a refused request writes nothing. The file then goes under
// a new key of its own, and ReceiptAttached records that key and the
// file's SHA-256 at the version the decision was made on. When that event
// does not commit (a refusal, a race lost to a submit, the answer of an
// earlier attach with the same idempotency key), the new object is
// deleted; when it commits, the object the claim recorded before is. A
// failed deletion leaves an orphan object, never a claim whose events name
// other bytes than it serves; so does an append whose outcome is unknown.
func (h *Handler) AttachReceipt(ctx context.Context, c AttachReceipt) (commands.Result, error) {
	req, id, contentType, body := c.Request, c.ExpenseID, c.ContentType, c.Body
	p, err := member(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	pol, err := h.policies.ExpensePolicy(ctx)
	if err != nil {
		return commands.Result{}, err
	}
	if err := checkReceipt(contentType, body, pol.MaxReceiptBytes); err != nil {
		return commands.Result{}, err
	}
	stream, err := StreamOf(ctx, id)
	if err != nil {
		return commands.Result{}, err
	}
	evs, recs, err := h.x.Load(ctx, stream)
	if err != nil {
		return commands.Result{}, err
	}
	if res, done, err := h.x.Precheck(ctx, req, stream, recs); done || err != nil {
		return res, err
	}
	if _, err := expense.DecideAttach(expense.Fold(evs), string(p.ID), expense.ReceiptAttached{}); err != nil {
		return commands.Result{}, err
	}

	sum := sha256.Sum256(body)
	key := ReceiptPrefix(id) + uuid.NewString()
	if _, err := h.docs.Put(ctx, key, contentType, bytes.NewReader(body), int64(len(body))); err != nil {
		h.discard(ctx, key) // a failed put may have left part of it
		return commands.Result{}, err
	}
	var previous string // what the claim recorded when the decision was made
	res, committed, err := h.x.RunCommitted(ctx, commands.Call{Name: "attach_receipt", Request: req, Stream: stream, Decide: func(_ context.Context, history []domain.Event) (commands.Decision, error) {
		s := expense.Fold(history)
		if !s.Exists() {
			return commands.Decision{}, domain.NotFoundf(missing, "no such expense")
		}
		previous = ""
		if r, ok := s.Receipt(); ok {
			previous = r.Key
		}
		evs, err := expense.DecideAttach(s, string(p.ID), expense.ReceiptAttached{Key: key, ContentType: contentType,
			Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:]), At: h.now().UTC()})
		return commands.Decision{Events: evs}, err
	}})
	switch {
	case committed:
		if previous != "" {
			h.discard(ctx, previous)
		}
	case err == nil || commands.Refused(err):
		h.discard(ctx, key)
	}
	return res, err
}

// discard deletes an object no claim's events record any more, or never
// did: best effort, to its end even when the request's context has ended.
// A failure leaves an orphan object, which nothing serves.
func (h *Handler) discard(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discardTimeout)
	defer cancel()
	_ = h.docs.Delete(ctx, key)
}

// Receipt returns a claim's receipt to its owner or to those who read all
// claims: the object under the key the claim's last ReceiptAttached
// records.
func (h *Handler) Receipt(ctx context.Context, id string) (io.ReadCloser, documents.Object, error) {
	p, err := member(ctx)
	if err != nil {
		return nil, documents.Object{}, err
	}
	stream, err := StreamOf(ctx, id)
	if err != nil {
		return nil, documents.Object{}, err
	}
	// An attach committing between reading the claim and reading its file
	// deletes the file read: read the claim again while its key changes.
	const attempts = 5
	var last string
	for i := 1; ; i++ {
		evs, _, err := h.x.Load(ctx, stream)
		if err != nil {
			return nil, documents.Object{}, err
		}
		s := expense.Fold(evs)
		if !s.Exists() || (s.Owner() != string(p.ID) && !p.Has(user.Overseers()...)) {
			return nil, documents.Object{}, domain.NotFoundf(missing, "no such expense")
		}
		r, ok := s.Receipt()
		if !ok {
			return nil, documents.Object{}, domain.NotFoundf("receipt_not_found", "this claim has no receipt")
		}
		rc, obj, err := h.docs.Get(ctx, r.Key)
		if errors.Is(err, documents.ErrNotFound) && r.Key != last && i < attempts {
			last = r.Key
			continue
		}
		if err != nil {
			return nil, documents.Object{}, fmt.Errorf("receipt of %s: %w", stream, err)
		}
		return rc, obj, nil
	}
}
