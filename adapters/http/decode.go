package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gofiber/fiber/v2"
)

func jsonMarshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func WriteJSON(c *fiber.Ctx, status int, v any) error {
	body, err := jsonMarshal(v)
	if err != nil {
		return err
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(body)
}

// decode reads a JSON body into v strictly: unknown fields, trailing data
// and wrong types are 400 invalid_request naming the field. An empty body
// decodes as {} when allowEmpty.
func Decode(c *fiber.Ctx, v any, allowEmpty bool) error {
	body, err := Body(c)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if allowEmpty {
			return nil
		}
		return FieldProblem("", "the request needs a JSON body")
	}
	if ct := c.Get(fiber.HeaderContentType); ct != "" && !strings.HasPrefix(strings.ToLower(ct), fiber.MIMEApplicationJSON) {
		return NewProblem(fiber.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
	}
	return DecodeBytes(body, v)
}

// DecodeBytes decodes a JSON body into v as Decode does: one object, no
// unknown field, no key twice.
func DecodeBytes(body []byte, v any) error {
	if bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		return FieldProblem("", "the body must be a JSON object")
	}
	if key, err := duplicateKey(body); err != nil {
		return decodeProblem(err)
	} else if key != "" {
		// encoding/json would merge the repeats into one field, and the
		// Idempotency-Key hash would keep only the last: refused, so one
		// body means one request.
		return FieldProblem(key, fmt.Sprintf("%q appears twice in one object", key))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeProblem(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return FieldProblem("", "the body must hold one JSON value")
	}
	return nil
}

func decodeProblem(err error) *Problem {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return FieldProblem("", fmt.Sprintf("malformed JSON at byte %d", syn.Offset))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return FieldProblem(field, fmt.Sprintf("%s must be %s", field, kindOf(typ.Type.Kind().String())))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return FieldProblem("", "the JSON body ends too early")
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return FieldProblem(f, fmt.Sprintf("unknown field %q", f))
	}
	return FieldProblem("", "the body is not valid JSON for this route")
}

func kindOf(k string) string {
	switch k {
	case "int64", "int", "int32", "uint64":
		return "an integer that fits in 64 bits"
	case "string":
		return "a string"
	case "struct", "map":
		return "an object"
	case "slice":
		return "an array"
	case "bool":
		return "true or false"
	}
	return "of another type"
}

// duplicateKey returns the first key found twice in one object of the JSON
// value in body, compared as encoding/json matches keys to fields (without
// regard to case), or "" when there is none. A well-formed body is scanned
// in place (scanKeys); one that is not goes through encoding/json's
// tokenizer (tokenKeys), which reports where it breaks.
func duplicateKey(body []byte) (string, error) {
	if json.Valid(body) {
		return scanKeys(body), nil
	}
	return tokenKeys(body)
}

// scanKeys is duplicateKey for a body json.Valid accepts: one pass over
// the bytes, a key unescaped only when it holds an escape, and a key's
// case folded only when it is not plain lower-case ASCII.
func scanKeys(body []byte) string {
	type frame struct {
		keys      keySet
		object    bool
		expectKey bool
	}
	var stack []frame
	for i := 0; i < len(body); {
		switch c := body[i]; c {
		case '{', '[':
			stack = append(stack, frame{object: c == '{', expectKey: c == '{'})
			i++
		case '}', ']':
			stack = stack[:len(stack)-1]
			i++
		case ',':
			if n := len(stack); n > 0 && stack[n-1].object {
				stack[n-1].expectKey = true
			}
			i++
		case '"':
			end, escaped := i+1, false
			for body[end] != '"' {
				if body[end] == '\\' {
					escaped = true
					end++
				}
				end++
			}
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expectKey {
				top := &stack[n-1]
				key := body[i+1 : end]
				if escaped {
					var k string
					_ = json.Unmarshal(body[i:end+1], &k) // valid JSON: a valid string
					key = []byte(k)
				}
				if !top.keys.add(foldKey(key)) {
					return string(key)
				}
				top.expectKey = false
			}
			i = end + 1
		default: // white space, ':', numbers, true, false, null
			i++
		}
	}
	return ""
}

// keySet holds an object's folded keys: a list while there are few, a map
// beyond, so that an object of many keys costs linear time, not square.
type keySet struct {
	few  [][]byte
	many map[string]struct{}
}

// fewKeys is how many keys a keySet compares one by one.
const fewKeys = 8

// add adds k and reports whether it was not there yet.
func (s *keySet) add(k []byte) bool {
	if s.many != nil {
		if _, ok := s.many[string(k)]; ok {
			return false
		}
		s.many[string(k)] = struct{}{}
		return true
	}
	for _, f := range s.few {
		if bytes.Equal(f, k) {
			return false
		}
	}
	if len(s.few) < fewKeys {
		s.few = append(s.few, k)
		return true
	}
	s.many = make(map[string]struct{}, 2*fewKeys)
	for _, f := range s.few {
		s.many[string(f)] = struct{}{}
	}
	s.many[string(k)] = struct{}{}
	return true
}

// foldKey is key as encoding/json matches it to a field, without regard
// to case: ſ and s, K (Kelvin) and k are one.
func foldKey(key []byte) []byte {
	for _, c := range key {
		if c >= 0x80 || ('A' <= c && c <= 'Z') {
			return []byte(strings.ToLower(strings.ToUpper(string(key))))
		}
	}
	return key
}

// tokenKeys is duplicateKey through encoding/json's tokenizer, for bodies
// that are not well-formed: it reports the syntax error as the decoder
// would.
func tokenKeys(body []byte) (string, error) {
	type frame struct {
		keys      map[string]bool
		object    bool
		expectKey bool
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if top != nil && top.object {
					top.expectKey = true // the container is the value of a key
				}
				stack = append(stack, &frame{keys: map[string]bool{}, object: d == '{', expectKey: d == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].expectKey = true
				}
			}
			continue
		}
		if top == nil || !top.object {
			continue
		}
		if top.expectKey {
			k := strings.ToLower(strings.ToUpper(tok.(string))) // a fold as encoding/json matches: ſ and s, K (Kelvin) and k
			if top.keys[k] {
				return tok.(string), nil
			}
			top.keys[k] = true
			top.expectKey = false
			continue
		}
		top.expectKey = true
	}
}
