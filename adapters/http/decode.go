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

func writeJSON(c *fiber.Ctx, status int, v any) error {
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
func decode(c *fiber.Ctx, v any, allowEmpty bool) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if allowEmpty {
			return nil
		}
		return fieldProblem("", "the request needs a JSON body")
	}
	if ct := c.Get(fiber.HeaderContentType); ct != "" && !strings.HasPrefix(strings.ToLower(ct), fiber.MIMEApplicationJSON) {
		return problem(fiber.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeProblem(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fieldProblem("", "the body must hold one JSON value")
	}
	return nil
}

func decodeProblem(err error) *Problem {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fieldProblem("", fmt.Sprintf("malformed JSON at byte %d", syn.Offset))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return fieldProblem(field, fmt.Sprintf("%s must be %s", field, kindOf(typ.Type.Kind().String())))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fieldProblem("", "the JSON body ends too early")
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return fieldProblem(f, fmt.Sprintf("unknown field %q", f))
	}
	return fieldProblem("", "the body is not valid JSON for this route")
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
