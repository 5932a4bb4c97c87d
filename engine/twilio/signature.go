package twilio

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/twilio/twilio-go/client"
)

// Signature errors, for errors.Is.
var (
	ErrNoSignature  = errors.New("twilio: missing X-Twilio-Signature")
	ErrBadSignature = errors.New("twilio: X-Twilio-Signature does not match")
)

// SignatureHeader is the header Twilio signs webhooks with.
const SignatureHeader = "X-Twilio-Signature"

// Validator checks X-Twilio-Signature on incoming webhooks. Twilio signs the
// URL it requested, so behind a proxy or load balancer the URL must come from
// configuration (publicBaseURL), never from the Host header of the request.
type Validator struct {
	base string // scheme://host[:port][/prefix], no trailing slash
	rv   client.RequestValidator
}

// NewValidator returns a Validator for webhooks Twilio sends to
// publicBaseURL (e.g. "https://flowd.example.com" or
// "https://example.com/flowd"), signed with authToken.
func NewValidator(publicBaseURL, authToken string) (*Validator, error) {
	if authToken == "" {
		return nil, errors.New("twilio: validator needs the auth token")
	}
	u, err := url.Parse(publicBaseURL)
	if err != nil {
		return nil, fmt.Errorf("twilio: public base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("twilio: public base URL %q needs a scheme (http or https) and a host", publicBaseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("twilio: public base URL %q must not have a query or fragment", publicBaseURL)
	}
	return &Validator{
		base: strings.TrimSuffix(publicBaseURL, "/"),
		rv:   client.NewRequestValidator(authToken),
	}, nil
}

// URL is the URL Twilio is taken to have requested for pathAndQuery.
func (v *Validator) URL(pathAndQuery string) string {
	if pathAndQuery != "" && !strings.HasPrefix(pathAndQuery, "/") {
		pathAndQuery = "/" + pathAndQuery
	}
	return v.base + pathAndQuery
}

// Check validates signature for a request that reached us at pathAndQuery
// (r.URL.RequestURI()) as if Twilio had sent it to publicBaseURL+pathAndQuery.
// body is the raw request body: a form body is validated as the signed
// parameters; a JSON body against the bodySHA256 query parameter. GET
// requests are signed over the URL (with its query) alone. Ports are tried
// with and without (client.RequestValidator does), as Twilio is inconsistent.
//
// Limitation of twilio-go's validator: only the first value of a repeated
// form parameter is signed.
func (v *Validator) Check(method, pathAndQuery string, body []byte, contentType, signature string) error {
	if signature == "" {
		return ErrNoSignature
	}
	full := v.URL(pathAndQuery)
	var ok bool
	switch {
	case method == http.MethodGet || method == http.MethodHead || method == http.MethodDelete:
		ok = v.rv.Validate(full, map[string]string{}, signature)
	case isJSON(contentType):
		u, err := url.Parse(full)
		if err != nil {
			return fmt.Errorf("twilio: signature: %w", err)
		}
		if u.Query().Get("bodySHA256") == "" {
			return fmt.Errorf("%w: JSON body without bodySHA256 in the URL", ErrBadSignature)
		}
		ok = v.rv.ValidateBody(full, body, signature)
	default:
		// ValidateBody reads a form body as parameters unless the URL
		// carries bodySHA256.
		ok = v.rv.ValidateBody(full, body, signature)
	}
	if !ok {
		return fmt.Errorf("%w for %s %s (is the public base URL right?)", ErrBadSignature, method, full)
	}
	return nil
}

// CheckForm is Check for a form POST whose body the caller already parsed:
// it hands the parameters to client.RequestValidator directly instead of
// having it parse the body again (the webhook hot path). Like twilio-go, it
// signs the first value of each parameter.
func (v *Validator) CheckForm(pathAndQuery string, form url.Values, signature string) error {
	if signature == "" {
		return ErrNoSignature
	}
	full := v.URL(pathAndQuery)
	params := make(map[string]string, len(form))
	for k, vs := range form {
		if len(vs) > 0 {
			params[k] = vs[0]
		}
	}
	if !v.rv.Validate(full, params, signature) {
		return fmt.Errorf("%w for POST %s (is the public base URL right?)", ErrBadSignature, full)
	}
	return nil
}

// CheckRequest is Check for an *http.Request whose body has been read into
// body (the caller restores r.Body if it needs it again).
func (v *Validator) CheckRequest(r *http.Request, body []byte) error {
	return v.Check(r.Method, r.URL.RequestURI(), body, r.Header.Get("Content-Type"), r.Header.Get(SignatureHeader))
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}
