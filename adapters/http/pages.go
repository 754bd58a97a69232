package http

import (
	"bytes"
	"embed"
	"errors"
	"html/template"

	"github.com/gofiber/fiber/v2"

	"github.com/atrium-platform/atrium/domain/tenant"
)

// The pages a browser meets at /: a tenant's own (its branding, from the
// host name or X-Tenant), or the platform's when the request names no
// tenant. html/template escapes what tenants set: their name as text, their
// logo as a URL, their colours as CSS values (each also validated when set).

//go:embed pages/*.html
var pageFiles embed.FS

var pages = template.Must(template.ParseFS(pageFiles, "pages/*.html"))

// pageSecurity is the policy of the pages: no scripts, no frames, styles
// inline, images from anywhere a logo may be.
const pageSecurity = "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// home answers / with the tenant's page, or the platform's.
func (a *api) home(c *fiber.Ctx, catalog Catalog) error {
	t, err := a.deps.Tenants.Resolve(c)
	name, data := "platform.html", any(nil)
	switch {
	case errors.Is(err, tenant.ErrNoTenant):
	case err != nil:
		return err
	default:
		s, _ := catalog.Get(t)
		b := s.Branding
		data = map[string]string{"Slug": string(t), "Name": b.Name, "Logo": b.LogoURL,
			"Primary": orDefault(b.PrimaryColor, "#33415c"), "Accent": orDefault(b.AccentColor, "#c9a227")}
		name = "tenant.html"
	}
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentSecurityPolicy, pageSecurity)
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Vary(fiber.HeaderHost, "X-Tenant") // one page per tenant
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(buf.Bytes())
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
