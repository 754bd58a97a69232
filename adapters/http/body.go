package http

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Request bodies are streamed (Fiber's StreamRequestBody): the server reads
// at most a few KiB before a handler runs. limitBody, first on every
// request, fixes the route's limit and refuses at once a body whose
// Content-Length is over it, before the tenant, the caller or anything else
// is looked at; readBody reads the rest while counting, so a chunked body
// over the limit stops being read at the limit. A body is never
// decompressed: a request with a Content-Encoding is refused, so a small
// body cannot expand into a large one.

// bodyLimitKey holds a request's body limit in Fiber's locals.
type bodyLimitKey struct{}

// bodyKey holds a body once read.
type bodyKey struct{}

// limitFor is the body limit of a request: small for sign-in and the
// console's forms, the upload limit for receipts, BodyLimit for every
// other route.
func (a *api) limitFor(method, path string) int {
	// Routes match whatever the path's case: so do the limits.
	path = strings.ToLower(path)
	switch {
	case strings.HasPrefix(path, "/api/v1/auth/"), path == "/api/v1/erp/inbound", strings.HasPrefix(path, "/console"):
		return a.cfg.AuthBodyLimit
	case method == fiber.MethodPut && strings.HasSuffix(path, "/receipt"):
		return a.cfg.UploadLimit
	}
	return a.cfg.BodyLimit
}

func tooLarge(c *fiber.Ctx) error {
	// The rest of the body is still on the wire: end the connection after
	// the answer rather than read it.
	c.Context().SetConnectionClose()
	return fiber.ErrRequestEntityTooLarge
}

// limitBody refuses what no route reads: a body over the route's limit by
// its Content-Length, and an encoded (compressed) body.
func (a *api) limitBody(c *fiber.Ctx) error {
	limit := a.limitFor(c.Method(), c.Path())
	c.Locals(bodyLimitKey{}, limit)
	if enc := strings.TrimSpace(c.Get(fiber.HeaderContentEncoding)); enc != "" && !strings.EqualFold(enc, "identity") {
		c.Context().SetConnectionClose()
		return NewProblem(fiber.StatusUnsupportedMediaType, "unsupported_content_encoding", "request bodies are not accepted compressed")
	}
	if n := c.Request().Header.ContentLength(); n > limit {
		return tooLarge(c)
	}
	err := c.Next()
	discardBody(c, limit)
	return err
}

// discardBody reads what is left of a body no handler read, within the
// limit, so the connection can carry the next request; past the limit the
// connection is closed instead.
func discardBody(c *fiber.Ctx, limit int) {
	if _, read := c.Locals(bodyKey{}).([]byte); read {
		return
	}
	stream := c.Context().RequestBodyStream()
	if stream == nil {
		return
	}
	if n, err := io.Copy(io.Discard, io.LimitReader(stream, int64(limit)+1)); err != nil || n > int64(limit) {
		c.Context().SetConnectionClose()
	}
}

// readBody returns the request's body, read at most once and never past
// the route's limit (413 beyond it).
func Body(c *fiber.Ctx) ([]byte, error) {
	if b, ok := c.Locals(bodyKey{}).([]byte); ok {
		return b, nil
	}
	limit, ok := c.Locals(bodyLimitKey{}).(int)
	if !ok {
		return nil, errors.New("http: body read before its limit was set")
	}
	var b []byte
	if stream := c.Context().RequestBodyStream(); stream != nil {
		var buf bytes.Buffer
		if n := c.Request().Header.ContentLength(); n > 0 {
			buf.Grow(n)
		}
		read, err := buf.ReadFrom(io.LimitReader(stream, int64(limit)+1))
		if err != nil {
			c.Context().SetConnectionClose()
			return nil, fiber.NewError(fiber.StatusBadRequest, "the request body could not be read")
		}
		if read > int64(limit) {
			return nil, tooLarge(c)
		}
		b = buf.Bytes()
	} else {
		b = append([]byte(nil), c.Request().Body()...)
		if len(b) > limit {
			return nil, tooLarge(c)
		}
	}
	c.Request().SetBodyRaw(b)
	c.Locals(bodyKey{}, b)
	return b, nil
}
