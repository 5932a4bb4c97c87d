package twiliosim

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
)

// redirectClient points twilio-go at the sim: it rewrites scheme+host inside
// SendRequest (RequestHandler.BuildUrl mangles dotted hosts before that).
type redirectClient struct {
	*client.Client
	base *url.URL
}

func (c *redirectClient) SendRequest(method, rawURL string, data url.Values, headers map[string]interface{}, body ...byte) (*http.Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	u.Scheme, u.Host = c.base.Scheme, c.base.Host
	return c.Client.SendRequest(method, u.String(), data, headers, body...)
}

func restClient(t testing.TB, s *Sim) *twilio.RestClient {
	t.Helper()
	base, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	cl := &client.Client{Credentials: client.NewCredentials(s.AccountSid(), s.AuthToken())}
	cl.SetAccountSid(s.AccountSid())
	return twilio.NewRestClientWithParams(twilio.ClientParams{Client: &redirectClient{Client: cl, base: base}})
}

// app is a fake application: path -> reply. It records every request and
// checks every signature.
type app struct {
	t      testing.TB
	srv    *httptest.Server
	token  string
	mu     sync.Mutex
	routes map[string]func(f url.Values) (int, string)
	got    []appReq
}

type appReq struct {
	Path   string
	Form   url.Values
	Header http.Header
}

func newApp(t testing.TB, s *Sim) *app {
	a := &app{t: t, token: s.AuthToken(), routes: map[string]func(url.Values) (int, string){}}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *app) url(p string) string { return a.srv.URL + p }

func (a *app) on(path string, fn func(f url.Values) (int, string)) {
	a.mu.Lock()
	a.routes[path] = fn
	a.mu.Unlock()
}

func (a *app) twiml(path, doc string) {
	a.on(path, func(url.Values) (int, string) { return 200, doc })
}

func (a *app) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f, _ := url.ParseQuery(string(b))
	full := "http://" + r.Host + r.URL.RequestURI()
	v := client.NewRequestValidator(a.token)
	if r.Method == http.MethodGet {
		q := map[string]string{}
		if !v.Validate(full, q, r.Header.Get("X-Twilio-Signature")) {
			a.t.Errorf("bad signature on GET %s", full)
		}
		f = r.URL.Query()
	} else if !v.ValidateBody(full, b, r.Header.Get("X-Twilio-Signature")) {
		a.t.Errorf("bad signature on %s %s", r.Method, full)
	}
	if r.Header.Get("I-Twilio-Idempotency-Token") == "" {
		a.t.Errorf("no idempotency token on %s", full)
	}
	a.mu.Lock()
	a.got = append(a.got, appReq{Path: r.URL.Path, Form: f, Header: r.Header.Clone()})
	fn := a.routes[r.URL.Path]
	a.mu.Unlock()
	if fn == nil {
		w.WriteHeader(204)
		return
	}
	status, body := fn(f)
	if strings.HasPrefix(strings.TrimSpace(body), "<") {
		w.Header().Set("Content-Type", "text/xml")
	} else if body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (a *app) requests(path string) []appReq {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []appReq
	for _, r := range a.got {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func settle(t testing.TB, s *Sim) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
