package sandbox_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/atrium-platform/atrium/domain/invoice"
	"github.com/atrium-platform/atrium/domain/money"
	"github.com/atrium-platform/atrium/projections/erpsync"
)

// docPath is the integrators' page whose worked example and receiver
// these tests check.
const docPath = "../../../docs/erp.md"

// The worked example of docs/erp.md.
const (
	workedSecret    = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	workedID        = "0b4f3c6e-2f1a-4d8e-9c57-8e2a1f6d3b90"
	workedTimestamp = 1767259806
	workedBody      = `{"id":"0b4f3c6e-2f1a-4d8e-9c57-8e2a1f6d3b90","tenant":"acme","type":"invoice.issued","aggregate":"invoice","aggregate_id":"7d1e9a52-4c3b-4f6a-8e21-5a9c0d3b6f14","version":2,"position":42,"occurred_at":"2026-01-01T09:30:00Z","data":{"invoice_id":"7d1e9a52-4c3b-4f6a-8e21-5a9c0d3b6f14","number":"INV-2026-000042","total":{"amount":120000,"currency":"EUR"},"due_date":"2026-01-31","issued_by":"3c2b1a09-8f7e-4d6c-b5a4-938271605f4e","issued_at":"2026-01-01T09:30:00Z"}}`
	workedSignature = "v1,5CYd15vCdqieX+E9CpuIjkiLydP5ECJ50kuIKU3dgqA="
)

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The worked example's body is what Atrium sends for that invoice.issued
// event: the message format marshalled, with the event's own data.
func TestWorkedExampleBodyIsAMessage(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 9, 30, 0, 0, time.UTC)
	data, err := json.Marshal(invoice.Issued{
		InvoiceID: "7d1e9a52-4c3b-4f6a-8e21-5a9c0d3b6f14", Number: "INV-2026-000042",
		Total: money.New(120000, "EUR"), DueDate: "2026-01-31",
		IssuedBy: "3c2b1a09-8f7e-4d6c-b5a4-938271605f4e", IssuedAt: at,
	})
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(erpsync.Message{
		ID: workedID, Tenant: "acme", Type: "invoice.issued", Aggregate: invoice.Category,
		AggregateID: "7d1e9a52-4c3b-4f6a-8e21-5a9c0d3b6f14", Version: 2, Position: 42,
		OccurredAt: at, Data: data,
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != workedBody {
		t.Fatalf("the message marshals as\n%s\nthe doc shows\n%s", body, workedBody)
	}
	// The doc's indented rendering is the same message.
	var shown, sent any
	doc := readDoc(t)
	start := strings.Index(doc, "```json\n")
	end := strings.Index(doc[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("the doc has no json block")
	}
	if err := json.Unmarshal([]byte(doc[start+8:start+8+end]), &shown); err != nil {
		t.Fatalf("the doc's example message: %v", err)
	}
	if err := json.Unmarshal(body, &sent); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(shown) != fmt.Sprint(sent) {
		t.Fatalf("the doc's example message differs from the worked example:\n%v\n%v", shown, sent)
	}
}

// The signature the doc gives is the Standard Webhooks library's, the
// library and the doc's own receiver verify it, and the doc says each
// value word for word.
func TestWorkedExampleSignature(t *testing.T) {
	t.Parallel()
	wh, err := standardwebhooks.NewWebhook(workedSecret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(workedID, time.Unix(workedTimestamp, 0), []byte(workedBody))
	if err != nil || sig != workedSignature {
		t.Fatalf("the library signs %q (%v), the doc says %q", sig, err, workedSignature)
	}
	h := http.Header{}
	h.Set("webhook-id", workedID)
	h.Set("webhook-timestamp", strconv.Itoa(workedTimestamp))
	h.Set("webhook-signature", workedSignature)
	if err := wh.VerifyIgnoringTimestamp([]byte(workedBody), h); err != nil {
		t.Fatalf("the library does not verify the worked example: %v", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(workedSecret, "whsec_"))
	if err != nil || !bytes.Equal(key, []byte{
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
		16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
	}) {
		t.Fatalf("the secret is not the bytes 0x00 to 0x1f the doc says (%v)", err)
	}
	sent := time.Unix(workedTimestamp, 0)
	if err := verify(key, h, []byte(workedBody), sent.Add(4*time.Minute)); err != nil {
		t.Fatalf("the doc's receiver refuses the worked example: %v", err)
	}
	if err := verify(key, h, []byte(workedBody), sent.Add(6*time.Minute)); err == nil {
		t.Fatal("the doc's receiver takes the worked example 6 minutes late")
	}
	if err := verify(key, h, []byte(workedBody+" "), sent); err == nil {
		t.Fatal("the doc's receiver takes an altered body")
	}

	doc := readDoc(t)
	for _, want := range []string{
		"secret             " + workedSecret,
		"webhook-id         " + workedID,
		"webhook-timestamp  " + strconv.Itoa(workedTimestamp),
		"\n" + workedBody + "\n",
		fmt.Sprintf("The body, %d bytes,", len(workedBody)),
		"webhook-signature: " + workedSignature,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/erp.md does not say %q", want)
		}
	}
}

// The receiver docs/erp.md shows is the code Example_receiver runs.
func TestDocReceiverIsTheExample(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, code, ok := strings.Cut(string(src), "// receiver begins\n\n")
	code, _, ok2 := strings.Cut(code, "\n// receiver ends")
	if !ok || !ok2 || len(code) < 500 {
		t.Fatal("example_test.go has no receiver between its markers")
	}
	if !strings.Contains(readDoc(t), "```go\n"+strings.TrimSpace(code)+"\n```") {
		t.Fatal("docs/erp.md's receiver is not example_test.go's, word for word: copy it again")
	}
	// The doc lists the imports the receiver needs, and only those.
	for _, imp := range []string{"crypto/hmac", "crypto/sha256", "encoding/base64", "errors", "fmt", "io", "net/http", "strconv", "strings", "time"} {
		name := imp[strings.LastIndex(imp, "/")+1:]
		if !strings.Contains(code, name+".") || !strings.Contains(readDoc(t), "`"+imp+"`") {
			t.Errorf("import %s: used %v, listed in the doc %v", imp, strings.Contains(code, name+"."), strings.Contains(readDoc(t), "`"+imp+"`"))
		}
	}
}
