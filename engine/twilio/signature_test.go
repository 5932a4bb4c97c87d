package twilio

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The worked example of Twilio's security documentation (TWILIO.md).
const (
	vectorToken = "12345"
	vectorSig   = "L/OH5YylLD5NRKLltdqwSvS0BnU="
	vectorPath  = "/myapp.php?foo=1&bar=2"
)

func vectorForm() url.Values {
	return url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+14158675310"},
		"Digits":  {"1234"},
		"From":    {"+14158675310"},
		"To":      {"+18005551212"},
	}
}

const formType = "application/x-www-form-urlencoded"

func TestValidatorCheck(t *testing.T) {
	body := []byte(vectorForm().Encode())
	tampered := vectorForm()
	tampered.Set("Digits", "9999")
	extra := vectorForm()
	extra.Set("Injected", "1")

	// A GET is signed over the URL alone: a URL equal to the vector's
	// string-to-sign (URL followed by the sorted name+value pairs) carries
	// the vector's signature.
	getPath := vectorPath + "CallSidCA1234567890ABCDECaller+14158675310Digits1234From+14158675310To+18005551212"

	cases := []struct {
		name        string
		base        string
		method      string
		path        string
		body        []byte
		contentType string
		sig         string
		want        error
	}{
		{"worked vector", "https://example.com", "POST", vectorPath, body, formType, vectorSig, nil},
		{"trailing slash in base", "https://example.com/", "POST", vectorPath, body, formType, vectorSig, nil},
		{"explicit default port", "https://example.com:443", "POST", vectorPath, body, formType, vectorSig, nil},
		{"content type with charset", "https://example.com", "POST", vectorPath, body, formType + "; charset=utf-8", vectorSig, nil},
		{"forged signature", "https://example.com", "POST", vectorPath, body, formType, "L/OH5YylLD5NRKLltdqwSvS0BnX=", ErrBadSignature},
		{"tampered parameter", "https://example.com", "POST", vectorPath, []byte(tampered.Encode()), formType, vectorSig, ErrBadSignature},
		{"added parameter", "https://example.com", "POST", vectorPath, []byte(extra.Encode()), formType, vectorSig, ErrBadSignature},
		{"missing signature", "https://example.com", "POST", vectorPath, body, formType, "", ErrNoSignature},
		{"replayed to another host", "https://evil.example.net", "POST", vectorPath, body, formType, vectorSig, ErrBadSignature},
		{"replayed to another path", "https://example.com", "POST", "/other.php?foo=1&bar=2", body, formType, vectorSig, ErrBadSignature},
		{"query changed", "https://example.com", "POST", "/myapp.php?foo=1&bar=3", body, formType, vectorSig, ErrBadSignature},
		{"http instead of https", "http://example.com", "POST", vectorPath, body, formType, vectorSig, ErrBadSignature},
		{"GET with query", "https://example.com", "GET", getPath, nil, "", vectorSig, nil},
		{"GET with other query", "https://example.com", "GET", vectorPath, nil, "", vectorSig, ErrBadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewValidator(tc.base, vectorToken)
			if err != nil {
				t.Fatal(err)
			}
			err = v.Check(tc.method, tc.path, tc.body, tc.contentType, tc.sig)
			if tc.want == nil && err != nil {
				t.Fatalf("Check: %v", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
		})
	}
}

// twilio-go's own JSON-body vector (client/request_validator_test.go).
func TestValidatorJSONBody(t *testing.T) {
	v, err := NewValidator("https://mycompany.com", vectorToken)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"property": "value", "boolean": true}`)
	path := "/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
	const sig = "a9nBmqA0ju/hNViExpshrM61xv4="
	if err := v.Check("POST", path, body, "application/json", sig); err != nil {
		t.Fatalf("valid JSON body: %v", err)
	}
	if err := v.Check("POST", path, []byte(`{"property": "forged"}`), "application/json", sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged JSON body: %v", err)
	}
	if err := v.Check("POST", "/myapp.php?foo=1&bar=2", body, "application/json", sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("JSON body without bodySHA256: %v", err)
	}
}

func TestValidatorURLWithPrefix(t *testing.T) {
	v, err := NewValidator("https://example.com/flowd/", vectorToken)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.URL("/voice?x=1"); got != "https://example.com/flowd/voice?x=1" {
		t.Errorf("URL = %q", got)
	}
}

func TestValidatorCheckRequest(t *testing.T) {
	v, err := NewValidator("https://example.com", vectorToken)
	if err != nil {
		t.Fatal(err)
	}
	body := vectorForm().Encode()
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+vectorPath, strings.NewReader(body))
	r.Header.Set("Content-Type", formType)
	r.Header.Set(SignatureHeader, vectorSig)
	if err := v.CheckRequest(r, []byte(body)); err != nil {
		t.Fatal(err)
	}
}

func TestNewValidatorErrors(t *testing.T) {
	for _, tc := range []struct{ base, token string }{
		{"https://example.com", ""},
		{"", "t"},
		{"example.com", "t"},
		{"ftp://example.com", "t"},
		{"https://example.com/?x=1", "t"},
	} {
		if _, err := NewValidator(tc.base, tc.token); err == nil {
			t.Errorf("NewValidator(%q, %q): no error", tc.base, tc.token)
		}
	}
}
