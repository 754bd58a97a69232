package http

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3gen"
	"github.com/gofiber/fiber/v2"
)

// The API description, /openapi.json (OpenAPI 3.1), is made from the
// routes as they are mounted: every route registers itself through Routes
// and Group, which know who may call it (public, a tenant's member, a
// platform administrator), whether it reads (X-Read-After) or runs a
// command (Idempotency-Key, If-Match, ETag), and the command's body type.
// What a route answers beyond that is said by its Doc. The schemas are
// derived from the Go types the handlers encode, so they change with them.

// Doc describes a route's answer for the API description.
type Doc struct {
	Summary string
	// Answer is a value of the type the route answers as JSON (its schema
	// is derived from the type); nil: no JSON body.
	Answer any
	// Status is the success status; default 200 (204 without Answer or
	// Media).
	Status int
	// Body is a value of the JSON body's type, for a route that is not a
	// command.
	Body any
	// Query names the query parameters the route reads.
	Query []string
	// Media is the answer's media type when it is not JSON (a page, a
	// file), or another it may take besides JSON (NDJSON).
	Media string
	// Unavailable is a value of the JSON answer's type when the route
	// answers 503 with it rather than with a problem.
	Unavailable any
	// Options: the route reads Idempotency-Key and If-Match, and answers
	// the aggregate's version as ETag.
	Options bool
	// Bearer: a public route that takes a bearer token.
	Bearer bool
	// BodyMedia is the body's media type when it is not JSON (a file).
	BodyMedia string
	// Conditional: the answer has an ETag, and If-None-Match naming it is
	// answered 304 without a body.
	Conditional bool
	// Page: a page for browsers (the console): it may answer 303 See Other
	// to the next page, and a form's failure is the page again, as
	// text/html with the problem's status, beside the problems every route
	// may answer.
	Page bool
	// SeeOther: besides its answer, the route may answer 303 See Other
	// (a browser sent back where it asked to go).
	SeeOther bool
	// Form names the fields of an application/x-www-form-urlencoded body,
	// all optional to the description (the route says which it needs).
	Form []string
}

// access is who may call a route.
type access int

const (
	accessPublic access = iota
	accessTenant
	accessPlatform
)

// routeDoc is one mounted route, as the description tells it.
type routeDoc struct {
	method, path string // the path in Fiber's syntax: /invoices/:id
	access       access
	reads        bool
	command      bool
	action       bool         // a command without a body
	body         reflect.Type // a command's body
	status       int          // a command's success status
	doc          Doc
}

// Documented is a mounted route, to be described.
type Documented struct{ r *routeDoc }

// Doc sets what the route's description says of its answer.
func (d Documented) Doc(doc Doc) { d.r.doc = doc }

// document records a route mounted by g.
func (g Group) document(method, path string) *routeDoc {
	r := &routeDoc{method: method, path: g.prefix + path, access: g.access, reads: g.reads && method == fiber.MethodGet}
	g.a.docs = append(g.a.docs, r)
	return r
}

// describe builds the description of every route mounted, once they all
// are: New fails on a description that cannot be built.
func (a *api) describe() error {
	spec, err := a.buildSpec()
	if err != nil {
		return fmt.Errorf("http: the API description: %w", err)
	}
	if a.spec, err = json.Marshal(spec); err != nil {
		return fmt.Errorf("http: the API description: %w", err)
	}
	sum := sha256.Sum256(a.spec)
	a.specETag = `"` + hex.EncodeToString(sum[:16]) + `"`
	return nil
}

// openAPI answers the description.
func (a *api) openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderETag, a.specETag)
	// A client that has it already (a generator, an SPA polling it) is
	// answered without its 150 KiB again.
	if c.Get(fiber.HeaderIfNoneMatch) == a.specETag {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(a.spec)
}

var pathParam = regexp.MustCompile(`:([A-Za-z_][A-Za-z0-9_]*)`)

// openAPIPath is a Fiber path in OpenAPI's syntax: /invoices/{id}.
func openAPIPath(p string) string { return pathParam.ReplaceAllString(p, "{$1}") }

// problemCodes are the statuses every route may answer with a problem,
// by who may call it.
func problemStatuses(r *routeDoc) []int {
	out := []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusTooManyRequests}
	if r.doc.Unavailable == nil {
		out = append(out, http.StatusServiceUnavailable)
	}
	if r.command || r.method != fiber.MethodGet {
		out = append(out, http.StatusConflict, http.StatusPreconditionFailed, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType)
	}
	slices.Sort(out)
	return out
}

// buildSpec describes every route mounted.
func (a *api) buildSpec() (*openapi3.T, error) {
	// Answers: a field encoding/json always writes is required. Bodies:
	// what a client must send is the commands' to check, and answered
	// with a problem naming the field; the schema requires nothing.
	answers := openapi3gen.NewGenerator(openapi3gen.SchemaCustomizer(customizeSchema(true)))
	bodies := openapi3gen.NewGenerator(openapi3gen.SchemaCustomizer(customizeSchema(false)))
	generate := func(gen *openapi3gen.Generator) func(any) (*openapi3.SchemaRef, error) {
		return func(v any) (*openapi3.SchemaRef, error) {
			s, err := gen.NewSchemaRefForValue(v, nil)
			if err != nil {
				return nil, fmt.Errorf("openapi: schema of %T: %w", v, err)
			}
			return s, nil
		}
	}
	schemaOf, bodyOf := generate(answers), generate(bodies)
	problem, err := schemaOf(Problem{})
	if err != nil {
		return nil, err
	}
	answer, err := schemaOf(commandAnswer{})
	if err != nil {
		return nil, err
	}
	spec := &openapi3.T{
		OpenAPI: "3.1.0",
		Info: &openapi3.Info{Title: "Atrium", Version: "1",
			Description: "One deployment, many isolated tenants. Tenant routes (/api/v1) take the tenant from the host name or X-Tenant and a member's bearer token; /admin/v1 is for platform administrators. Errors are application/problem+json with a stable code."},
		Paths: openapi3.NewPaths(),
		Components: &openapi3.Components{
			Schemas:         openapi3.Schemas{"Problem": problem, "CommandAnswer": answer},
			SecuritySchemes: openapi3.SecuritySchemes{"bearer": &openapi3.SecuritySchemeRef{Value: openapi3.NewJWTSecurityScheme()}},
			Parameters: openapi3.ParametersMap{
				"XTenant":        {Value: headerParam("X-Tenant", "The tenant, when the host name does not say it.")},
				"XReadAfter":     {Value: headerParam("X-Read-After", "A position a command answered: the read waits until the tenant's read models have projected it (or answers 503 projection_lagging).")},
				"IdempotencyKey": {Value: headerParam("Idempotency-Key", "Makes a retry of the same request answer what the first did; at most 200 characters.")},
				"IfMatch":        {Value: headerParam("If-Match", `The aggregate's version as an ETag ("3"): the command is refused with 412 when it has moved on.`)},
			},
			Headers: openapi3.Headers{
				"XProjectionPosition": {Value: &openapi3.Header{Parameter: openapi3.Parameter{Description: "How far the tenant's read models had projected its log when the read was answered.", Schema: openapi3.NewIntegerSchema().NewRef()}}},
				"ETag":                {Value: &openapi3.Header{Parameter: openapi3.Parameter{Description: "The aggregate's version after the command.", Schema: openapi3.NewStringSchema().NewRef()}}},
			},
		},
	}
	for _, r := range a.docs {
		op, err := a.operation(r, schemaOf, bodyOf)
		if err != nil {
			return nil, err
		}
		spec.AddOperation(openAPIPath(r.path), r.method, op)
	}
	nullables(spec)
	return spec, nil
}

// headerParam is an optional header parameter.
func headerParam(name, description string) *openapi3.Parameter {
	return &openapi3.Parameter{In: openapi3.ParameterInHeader, Name: name, Description: description, Schema: openapi3.NewStringSchema().NewRef()}
}

// operation describes one route.
func (a *api) operation(r *routeDoc, schemaOf, bodyOf func(any) (*openapi3.SchemaRef, error)) (*openapi3.Operation, error) {
	op := openapi3.NewOperation()
	op.Summary = r.doc.Summary
	if op.Summary == "" {
		op.Summary = r.method + " " + r.path
	}
	op.OperationID = operationID(r)
	switch r.access {
	case accessTenant:
		op.Tags = []string{"tenant"}
		op.Security = &openapi3.SecurityRequirements{{"bearer": []string{}}}
		op.Parameters = openapi3.Parameters{{Ref: "#/components/parameters/XTenant"}}
	case accessPlatform:
		op.Tags = []string{"platform"}
		op.Security = &openapi3.SecurityRequirements{{"bearer": []string{}}}
	default:
		op.Tags = []string{"public"}
		if r.doc.Bearer {
			op.Security = &openapi3.SecurityRequirements{{"bearer": []string{}}}
		}
	}
	for _, m := range pathParam.FindAllStringSubmatch(r.path, -1) {
		op.AddParameter(openapi3.NewPathParameter(m[1]).WithSchema(openapi3.NewStringSchema()))
	}
	for _, q := range r.doc.Query {
		op.AddParameter(openapi3.NewQueryParameter(q).WithSchema(openapi3.NewStringSchema()))
	}
	if r.reads {
		op.Parameters = append(op.Parameters, &openapi3.ParameterRef{Ref: "#/components/parameters/XReadAfter"})
	}
	if r.command || r.doc.Options {
		op.Parameters = append(op.Parameters,
			&openapi3.ParameterRef{Ref: "#/components/parameters/IdempotencyKey"},
			&openapi3.ParameterRef{Ref: "#/components/parameters/IfMatch"})
	}
	// The body.
	var body any
	switch {
	case r.command && !r.action:
		body = reflect.New(r.body).Elem().Interface()
	case r.doc.Body != nil:
		body = r.doc.Body
	}
	switch {
	case body != nil:
		s, err := bodyOf(body)
		if err != nil {
			return nil, err
		}
		op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithJSONSchemaRef(s)}
	case r.doc.Form != nil:
		fields := openapi3.NewObjectSchema()
		for _, f := range r.doc.Form {
			fields.WithProperty(f, openapi3.NewStringSchema())
		}
		op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().
			WithContent(openapi3.NewContentWithSchema(fields, []string{fiber.MIMEApplicationForm}))}
	case r.doc.BodyMedia != "":
		op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).
			WithContent(openapi3.NewContentWithSchema(openapi3.NewStringSchema().WithFormat("binary"), []string{r.doc.BodyMedia}))}
	}
	// The answers.
	status, resp := r.doc.Status, openapi3.NewResponse().WithDescription("OK")
	switch {
	case r.command:
		status = r.status
		resp.WithContent(openapi3.NewContentWithJSONSchemaRef(&openapi3.SchemaRef{Ref: "#/components/schemas/CommandAnswer"}))
	case r.doc.Answer != nil && strings.HasSuffix(r.doc.Media, "+json"):
		s, err := schemaOf(r.doc.Answer)
		if err != nil {
			return nil, err
		}
		resp.WithContent(openapi3.NewContentWithSchemaRef(s, []string{r.doc.Media}))
	case r.doc.Answer != nil:
		s, err := schemaOf(r.doc.Answer)
		if err != nil {
			return nil, err
		}
		resp.WithContent(openapi3.NewContentWithJSONSchemaRef(s))
		if r.doc.Media != "" {
			resp.Content[r.doc.Media] = openapi3.NewMediaType().WithSchema(openapi3.NewStringSchema())
		}
	case r.doc.Media != "":
		resp.WithContent(openapi3.NewContentWithSchema(openapi3.NewStringSchema().WithFormat("binary"), []string{r.doc.Media}))
	}
	if status == 0 {
		status = http.StatusOK
		if r.doc.Answer == nil && r.doc.Media == "" && !r.command {
			status = http.StatusNoContent
		}
	}
	if r.command || r.doc.Options {
		resp.Headers = openapi3.Headers{"ETag": {Ref: "#/components/headers/ETag"}}
	}
	if r.doc.Conditional {
		etag := &openapi3.HeaderRef{Value: &openapi3.Header{Parameter: openapi3.Parameter{Description: "The version of the answer.", Schema: openapi3.NewStringSchema().NewRef()}}}
		resp.Headers = openapi3.Headers{"ETag": etag}
		op.AddParameter(headerParam("If-None-Match", "An ETag this route answered: 304, without a body, while it still holds."))
		notModified := openapi3.NewResponse().WithDescription("Not Modified")
		notModified.Headers = openapi3.Headers{"ETag": etag}
		op.AddResponse(http.StatusNotModified, notModified)
	}
	if r.reads {
		resp.Headers = openapi3.Headers{"X-Projection-Position": {Ref: "#/components/headers/XProjectionPosition"}}
	}
	op.AddResponse(status, resp)
	if r.doc.Unavailable != nil {
		s, err := schemaOf(r.doc.Unavailable)
		if err != nil {
			return nil, err
		}
		op.AddResponse(http.StatusServiceUnavailable, openapi3.NewResponse().WithDescription("Service Unavailable").WithContent(openapi3.NewContentWithJSONSchemaRef(s)))
	}
	problem := openapi3.NewContentWithSchemaRef(&openapi3.SchemaRef{Ref: "#/components/schemas/Problem"}, []string{"application/problem+json"})
	if r.doc.Page || r.doc.SeeOther {
		seeOther := openapi3.NewResponse().WithDescription("See Other: the page to show next")
		seeOther.Headers = openapi3.Headers{"Location": {Value: &openapi3.Header{Parameter: openapi3.Parameter{Schema: openapi3.NewStringSchema().NewRef()}}}}
		op.AddResponse(http.StatusSeeOther, seeOther)
	}
	if r.doc.Page {
		pageOrProblem := openapi3.NewContentWithSchemaRef(&openapi3.SchemaRef{Ref: "#/components/schemas/Problem"}, []string{"application/problem+json"})
		pageOrProblem[fiber.MIMETextHTMLCharsetUTF8] = openapi3.NewMediaType().WithSchema(openapi3.NewStringSchema())
		problem = pageOrProblem
	}
	for _, st := range problemStatuses(r) {
		op.AddResponse(st, openapi3.NewResponse().WithDescription(http.StatusText(st)).WithContent(problem))
	}
	// Any other failure (a 500, a 501 where a feature is off) is a problem too.
	op.Responses.Set("default", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("Another failure").WithContent(problem)})
	return op, nil
}

// operationID names a route: its method and path, in lower camel case.
func operationID(r *routeDoc) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(r.method))
	for _, part := range strings.FieldsFunc(r.path, func(c rune) bool { return c == '/' || c == '.' || c == '-' || c == '_' }) {
		by := strings.HasPrefix(part, ":")
		part = strings.TrimPrefix(part, ":")
		if by {
			b.WriteString("By")
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// nullables writes OpenAPI 3.0's nullable as 3.1 does: "null" among the
// schema's types.
func nullables(spec *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(s *openapi3.SchemaRef)
	walk = func(s *openapi3.SchemaRef) {
		if s == nil || s.Value == nil || seen[s.Value] {
			return
		}
		v := s.Value
		seen[v] = true
		if v.Nullable {
			v.Nullable = false
			if v.Type != nil && !v.Type.Includes(openapi3.TypeNull) {
				t := append(openapi3.Types{}, *v.Type...)
				t = append(t, openapi3.TypeNull)
				v.Type = &t
			}
		}
		for _, p := range v.Properties {
			walk(p)
		}
		walk(v.Items)
		if v.AdditionalProperties.Schema != nil {
			walk(v.AdditionalProperties.Schema)
		}
	}
	for _, s := range spec.Components.Schemas {
		walk(s)
	}
	for _, item := range spec.Paths.Map() {
		for _, op := range item.Operations() {
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				for _, mt := range op.RequestBody.Value.Content {
					walk(mt.Schema)
				}
			}
			for _, resp := range op.Responses.Map() {
				if resp.Value == nil {
					continue
				}
				for _, mt := range resp.Value.Content {
					walk(mt.Schema)
				}
			}
		}
	}
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	timeType      = reflect.TypeFor[time.Time]()
)

// customizeSchema completes what the generator derives from a Go type: a
// type that marshals itself is described by what its zero value marshals
// to (a number, a string); with required, a struct's fields that
// encoding/json always writes (no omitempty) are required.
func customizeSchema(required bool) openapi3gen.SchemaCustomizerFn {
	return func(_ string, t reflect.Type, _ reflect.StructTag, s *openapi3.Schema) error {
		if required && t.Kind() == reflect.Struct && t != timeType && !t.Implements(jsonMarshaler) {
			s.Required = requiredFields(t)
		}
		return selfMarshaled(t, s)
	}
}

// selfMarshaled describes a type that marshals itself by what its zero
// value marshals to.
func selfMarshaled(t reflect.Type, s *openapi3.Schema) error {
	if t == timeType || !t.Implements(jsonMarshaler) {
		return nil
	}
	b, err := reflect.Zero(t).Interface().(json.Marshaler).MarshalJSON()
	if err != nil || len(b) == 0 {
		return nil //nolint:nilerr // described as the generator derived it
	}
	switch c := b[0]; {
	case c == '-' || (c >= '0' && c <= '9'):
		*s = *openapi3.NewFloat64Schema()
	case c == '"':
		*s = *openapi3.NewStringSchema()
	}
	return nil
}

// requiredFields are the JSON names of t's fields written whatever their
// value, embedded structs' included.
func requiredFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" && opts == "" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, requiredFields(ft)...)
				continue
			}
		}
		if strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,") {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}
