package server

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// TestRouteEdges: what an integrator or an attacker sends besides the
// routes as documented — trailing slashes, encoded slashes in a SID, HEAD.
func TestRouteEdges(t *testing.T) {
	h := newHarness(t)
	h.call("CA300", "WT300", true)
	voice := incomingCall("CA301", supportNumber)
	cases := []struct {
		name   string
		r      req
		status int
		code   string // /v1 error code, when JSON
	}{
		// An encoded slash stays in the SID: it must not reach the
		// commands route and run hold.
		{"encoded slash in a SID", req{method: "POST", path: "/v1/tasks/WT300%2Fcommands%2Fhold"}, 405, "method_not_allowed"},
		{"encoded slash in a GET", req{method: "GET", path: "/v1/tasks/WT300%2Fcommands%2Fhold"}, 404, "unknown_task"},
		{"encoded letter in a SID", req{method: "GET", path: "/v1/tasks/%57T300"}, 200, ""},
		// Trailing slashes are unknown routes, answered and logged like
		// any other, not redirected by the router.
		{"command with a trailing slash", req{method: "POST", path: "/v1/tasks/WT300/commands/hold/"}, 404, "not_found"},
		{"flows with a trailing slash", req{method: "GET", path: "/v1/flows/"}, 404, "not_found"},
		{"healthz with a trailing slash", req{method: "GET", path: "/healthz/"}, 404, ""},
		{"voice with a trailing slash", req{path: "/twilio/voice/", form: voice}, 404, ""},
		// HEAD answers wherever GET does, except on webhooks (a GET
		// webhook is an event).
		{"HEAD flows", req{method: "HEAD", path: "/v1/flows"}, 200, ""},
		{"HEAD task", req{method: "HEAD", path: "/v1/tasks/WT300"}, 200, ""},
		{"HEAD graph", req{method: "HEAD", path: "/v1/flows/support/graph"}, 200, ""},
		{"HEAD metrics", req{method: "HEAD", path: "/metrics"}, 200, ""},
		{"HEAD voice webhook", req{method: "HEAD", path: "/twilio/voice"}, 405, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.r.method == "POST" && strings.HasPrefix(c.r.path, "/v1/") {
				c.r.ctype = "application/json"
			}
			w := h.do(c.r)
			mustStatus(t, w, c.status)
			if loc := w.Header().Get("Location"); loc != "" {
				t.Fatalf("redirected to %s", loc)
			}
			if c.code != "" {
				if e := decodeError(t, w); e.Code != c.code {
					t.Fatalf("code %q, want %q", e.Code, c.code)
				}
			}
		})
	}
	if st := h.state("WT300"); st != "talking" {
		t.Fatalf("state %q after the probes, want talking (a probe ran a command)", st)
	}
	if n := len(h.sender.Ops()); n != 0 {
		t.Fatalf("%d REST calls sent, want none: %+v", n, h.sender.Ops())
	}
	// An unmatched request's log line says which path it asked for, at
	// WARN under /twilio/ (a webhook URL Twilio was given is wrong).
	if rec := h.logs.find(t, "route", "unmatched", "path", "/twilio/voice/"); rec == nil || rec["level"] != "WARN" {
		t.Fatalf("unmatched webhook logged as %v, want a WARN with its path", rec)
	}
}

// TestIdempotencyTokenOtherRequest: a repeated I-Twilio-Idempotency-Token
// replays the first answer only for the same request; the same token on a
// callback with other (signed) parameters is another request and runs.
func TestIdempotencyTokenOtherRequest(t *testing.T) {
	h := newHarness(t)
	h.call("CA310", "WT310", true)
	q := "/twilio/conference/status?session=CA310"
	hold := conferenceForm("participant-hold", "CF310", "WT310", "CA310", "customer", 10)
	hold.Set("Hold", "true")
	unhold := conferenceForm("participant-unhold", "CF310", "WT310", "CA310", "customer", 11)
	token := map[string]string{IdempotencyTokenHeader: "tok-same"}
	customerHeld := func() bool {
		t.Helper()
		v, err := h.eng.Task(context.Background(), "CA310", false)
		if err != nil {
			t.Fatal(err)
		}
		return v.Roles["customer"] != nil && v.Roles["customer"].Hold
	}
	for i, c := range []struct {
		form     url.Values
		replayed bool
		held     bool
	}{
		{hold, false, true},
		{hold, true, true},     // a retry: the first answer, nothing runs
		{unhold, false, false}, // another callback with the same token: it runs
		{unhold, true, false},  // and its own retry is replayed
	} {
		w := h.do(req{path: q, form: c.form, headers: token})
		mustStatus(t, w, http.StatusNoContent)
		if got := w.Header().Get(ReplayedHeader) == "true"; got != c.replayed {
			t.Fatalf("request %d: replayed = %v, want %v", i, got, c.replayed)
		}
		if got := customerHeld(); got != c.held {
			t.Fatalf("request %d: customer held = %v, want %v", i, got, c.held)
		}
	}
}

// TestCommandBodyValues: JSON that decodes but cannot be taken as sent.
func TestCommandBodyValues(t *testing.T) {
	h := newHarness(t)
	h.call("CA320", "WT320", true)
	cases := []struct {
		name   string
		body   string
		status int
		code   string
		param  string
	}{
		{"number beyond float64", `{"text":1e999}`, 422, "invalid_params", "text"},
		{"negative number beyond float64", `{"text":"x","n":-1e400}`, 422, "invalid_params", "n"},
		{"invalid UTF-8", "{\"text\":\"caf\xe9\"}", 400, "invalid_json", ""},
		{"valid", `{"text":"café"}`, 200, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := h.do(req{method: "POST", path: "/v1/tasks/WT320/commands/note", body: c.body, ctype: "application/json"})
			mustStatus(t, w, c.status)
			if c.code == "" {
				return
			}
			e := decodeError(t, w)
			if e.Code != c.code || e.Param != c.param {
				t.Fatalf("code %q param %q, want %q %q (%s)", e.Code, e.Param, c.code, c.param, e.Message)
			}
		})
	}
}

// TestWebhookWithoutContentType: a body without Content-Type is refused
// with a reason that says so.
func TestWebhookWithoutContentType(t *testing.T) {
	h := newHarness(t)
	w := h.do(req{path: "/twilio/voice", form: incomingCall("CA330", supportNumber),
		headers: map[string]string{"Content-Type": ""}})
	mustStatus(t, w, http.StatusUnsupportedMediaType)
	if body := w.Body.String(); !strings.Contains(body, "got no Content-Type") {
		t.Fatalf("body %q does not say the Content-Type is missing", body)
	}
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// TestBadBodyNeedsSignatureFirst: every /twilio/* request without a valid
// signature is 403, whatever its body; only a signed one learns that its
// body is not a form (415) or a malformed one (400).
func TestBadBodyNeedsSignatureFirst(t *testing.T) {
	h := newHarness(t)
	forged := map[string]string{"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
	cases := []struct {
		name   string
		r      req
		status int
	}{
		{"malformed form, forged", req{path: "/twilio/voice", body: "CallSid=%zz", unsigned: true, headers: forged}, 403},
		{"semicolons, forged", req{path: "/twilio/voice/status", body: "CallSid=CA1;CallStatus=ringing", unsigned: true, headers: forged}, 403},
		{"JSON, forged", req{path: "/twilio/voice", body: `{"CallSid":"CA1"}`, ctype: "application/json", unsigned: true, headers: forged}, 403},
		{"no Content-Type, forged", req{path: "/twilio/voice", body: "CallSid=CA1", unsigned: true, headers: map[string]string{"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl", "Content-Type": ""}}, 403},
		{"malformed form, signed", req{path: "/twilio/voice", body: "CallSid=%zz"}, 400},
		{"text, signed", req{path: "/twilio/voice", form: url.Values{"hello": {""}}, ctype: "text/plain"}, 415},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mustStatus(t, h.do(c.r), c.status)
		})
	}
	if n := h.eng.Stats().Events.Load(); n != 0 {
		t.Fatalf("the engine saw %d events", n)
	}
}

// TestRunSurvivesSIGHUPDuringShutdown: a SIGHUP while in-flight requests
// finish (a config tool reloading during a rolling restart) must neither
// kill the process nor cut those requests off.
func TestRunSurvivesSIGHUPDuringShutdown(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const partial = "POST /v1/tasks/WT1/commands/hold HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{"
	ln := &watchListener{Listener: inner, want: len(partial), reading: make(chan struct{})}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	logs := &syncBuffer{}
	cfg := Config{Listener: ln, Flows: []string{"testdata/flows/support.yaml"}, Store: "memory:", PublicURL: testPublicURL,
		AuthToken: testAuthToken, Env: testEnv, Sender: &fakeSender{}, ReloadInterval: -1,
		Ready:  func(net.Addr) { close(ready) },
		Logger: slog.New(slog.NewJSONHandler(logs, nil))}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	<-ready

	// A request in flight: its handler waits for the rest of the body.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, partial); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ln.reading: // the server has read it all and waits for more
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not read the request")
	}
	cancel()
	eventually(t, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if !sendHUP(t) {
		t.Skip("no SIGHUP here")
	}
	if _, err := io.WriteString(conn, "}"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the in-flight request was cut off: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("in-flight request: %d, want 404 (unknown task)", resp.StatusCode)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if logs.find(t, "msg", "stopped") == nil {
		t.Fatal("no final log line")
	}
}

// watchListener closes reading when a connection, having delivered want
// bytes to the server, is read again: the server has taken the request
// and waits for more of it (its handler is running).
type watchListener struct {
	net.Listener
	want    int
	reading chan struct{}
	once    sync.Once
}

func (l *watchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &watchConn{Conn: c, l: l}, nil
}

type watchConn struct {
	net.Conn
	l   *watchListener
	got int // only the server's connection goroutine reads
}

func (c *watchConn) Read(p []byte) (int, error) {
	if c.got >= c.l.want {
		c.l.once.Do(func() { close(c.l.reading) })
	}
	n, err := c.Conn.Read(p)
	c.got += n
	return n, err
}

// TestLongSIDIsClipped: a /v1 path's {sid} of any length is answered 404
// and neither the answer nor the log line carries all of it.
func TestLongSIDIsClipped(t *testing.T) {
	h := newHarness(t)
	long := "WT" + strings.Repeat("é", 5000)
	for _, r := range []req{
		{method: "GET", path: "/v1/tasks/" + long},
		{method: "POST", path: "/v1/tasks/" + long + "/commands/hold"},
	} {
		w := h.do(r)
		mustStatus(t, w, http.StatusNotFound)
		if e := decodeError(t, w); e.Code != "unknown_task" || len(e.Message) > 200 {
			t.Fatalf("%s %s: code %s, message of %d bytes", r.method, r.path[:20], e.Code, len(e.Message))
		}
	}
	for _, rec := range h.logs.records(t) {
		if sid, _ := rec["task_sid"].(string); len(sid) > 64+len("…") {
			t.Fatalf("logged a task_sid of %d bytes", len(sid))
		} else if sid != "" && !utf8.ValidString(sid) {
			t.Fatalf("clipped task_sid is not UTF-8: %q", sid)
		}
	}
}

// TestJSONContentTypes: every JSON answer says so the same way.
func TestJSONContentTypes(t *testing.T) {
	h := newHarness(t)
	h.call("CA340", "WT340", false)
	for _, r := range []req{
		{method: "GET", path: "/healthz"},
		{method: "GET", path: "/readyz"},
		{method: "GET", path: "/v1/flows"},
		{method: "GET", path: "/v1/tasks"},
		{method: "GET", path: "/v1/tasks/WT340"},
		{method: "GET", path: "/v1/tasks/WT999"},
		{path: "/twilio/taskrouter/assignment", form: assignmentForm("WT341", "WR341", "CA341")},
	} {
		w := h.do(r)
		if ct := w.Header().Get("Content-Type"); ct != "application/json" && w.Body.Len() > 0 {
			t.Errorf("%s %s: Content-Type %q, want application/json", r.method, r.path, ct)
		}
	}
}

// TestReloadLogsNoChangeAsEmptyList: a reload that changed nothing logs
// "changed": [], not null, for whoever parses the log.
func TestReloadLogsNoChangeAsEmptyList(t *testing.T) {
	set := loadTestFlows(t)
	got := changedFlows(set, set)
	if got == nil || len(got) != 0 {
		t.Fatalf("changedFlows(same, same) = %#v, want an empty list", got)
	}
	b, _ := json.Marshal(map[string]any{"changed": got})
	if string(b) != `{"changed":[]}` {
		t.Fatalf("logged as %s", b)
	}
}

// hupOnStart sends this process a SIGHUP when Run logs its first line,
// while Run is still starting (before flows, store and reloader).
type hupOnStart struct {
	slog.Handler
	t    *testing.T
	sent *atomic.Bool
}

func (h hupOnStart) Handle(ctx context.Context, r slog.Record) error {
	if h.sent.CompareAndSwap(false, true) {
		sendHUP(h.t)
	}
	return h.Handler.Handle(ctx, r)
}

func (h hupOnStart) WithAttrs(as []slog.Attr) slog.Handler {
	return hupOnStart{h.Handler.WithAttrs(as), h.t, h.sent}
}

// TestRunSurvivesSIGHUPDuringStart: a SIGHUP while flowd starts (a store
// upgrade can take a while) does not kill it; the reload it asked for
// happens once flowd runs.
func TestRunSurvivesSIGHUPDuringStart(t *testing.T) {
	if !sendHUPSupported {
		t.Skip("no SIGHUP here")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	logs := &syncBuffer{}
	var sent atomic.Bool
	// No API token: Run's first lines warn about it, before anything starts.
	cfg := Config{Listener: ln, Flows: []string{"testdata/flows/support.yaml"}, Store: "memory:", PublicURL: testPublicURL,
		AuthToken: testAuthToken, Env: testEnv, Sender: &fakeSender{}, ReloadInterval: -1,
		Ready:  func(net.Addr) { close(ready) },
		Logger: slog.New(hupOnStart{slog.NewJSONHandler(logs, nil), t, &sent})}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	<-ready
	eventually(t, "the reload the start-up SIGHUP asked for", func() bool {
		return logs.find(t, "msg", "flows reloaded", "reason", "SIGHUP") != nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestRunDoesNotLogPublicURLPassword: a public URL with user info (Twilio
// supports basic auth in webhook URLs) is logged without its password.
func TestRunDoesNotLogPublicURLPassword(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncBuffer{}
	cfg := Config{Listener: ln, Flows: []string{"testdata/flows/support.yaml"}, Store: "memory:",
		PublicURL: "https://flowd:s3cr3t-pw@flowd.example.com", AuthToken: testAuthToken, Env: testEnv,
		Sender: &fakeSender{}, ReloadInterval: -1, Ready: func(net.Addr) { cancel() },
		Logger: slog.New(slog.NewJSONHandler(logs, nil))}
	if err := Run(ctx, cfg); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if strings.Contains(logs.String(), "s3cr3t-pw") {
		t.Fatalf("the log has the public URL's password:\n%s", logs.String())
	}
	if logs.find(t, "msg", "flowd serving", "public_url", "https://flowd:xxxxx@flowd.example.com") == nil {
		t.Fatalf("no start line with the redacted public URL:\n%s", logs.String())
	}
}

// TestSignatureWarningHidesURLPassword: the 403's log line names the URL
// checked, without the public URL's password.
func TestSignatureWarningHidesURLPassword(t *testing.T) {
	h := newHarness(t)
	srv, err := New(Options{Engine: h.eng, Store: h.st, PublicURL: "https://flowd:s3cr3t-pw@flowd.example.com",
		AuthToken: testAuthToken, Logger: slog.New(slog.NewJSONHandler(h.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	w := h.do(req{path: "/twilio/voice", form: incomingCall("CA350", supportNumber), signToken: "wrong"})
	mustStatus(t, w, http.StatusForbidden)
	if strings.Contains(h.logs.String(), "s3cr3t-pw") {
		t.Fatalf("the log has the public URL's password:\n%s", h.logs.String())
	}
	if rec := h.logs.find(t, "status", "403"); rec == nil || !strings.Contains(fmt.Sprint(rec["warning"]), "flowd:xxxxx@flowd.example.com") {
		t.Fatalf("403 logged as %v, want the URL checked, redacted", rec)
	}
}

// TestPublicURLRefused: public URLs no Twilio signature could match are
// refused when the server is built, not discovered as 403 on every webhook.
func TestPublicURLRefused(t *testing.T) {
	h := newHarness(t)
	for _, pu := range []string{"https://flowd.example.com/my flowd", "https://flowd.example.com/a\tb", "flowd.example.com", "https://flowd.example.com/?a=1"} {
		if _, err := New(Options{Engine: h.eng, Store: h.st, PublicURL: pu, AuthToken: testAuthToken}); err == nil {
			t.Errorf("New accepted public URL %q", pu)
		}
	}
	if _, err := New(Options{Engine: h.eng, Store: h.st, PublicURL: "https://flowd.example.com/my%20flowd", AuthToken: testAuthToken}); err != nil {
		t.Errorf("an encoded space: %v", err)
	}
}

// TestV1UnknownRoutesNeedTheToken: with FLOWD_API_TOKEN set, an unknown
// /v1 route or method is 401 without the token, 404 / 405 with it.
func TestV1UnknownRoutesNeedTheToken(t *testing.T) {
	h := newHarness(t, withAPIToken("s3cret"))
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	for _, c := range []struct {
		method, path string
		headers      map[string]string
		status       int
		code         string
	}{
		{"GET", "/v1/nope", nil, 401, "unauthorized"},
		{"DELETE", "/v1/tasks/WT1", nil, 401, "unauthorized"},
		{"GET", "/v1/flows/", nil, 401, "unauthorized"},
		{"GET", "/v1/nope", auth, 404, "not_found"},
		{"DELETE", "/v1/tasks/WT1", auth, 405, "method_not_allowed"},
	} {
		w := h.do(req{method: c.method, path: c.path, headers: c.headers})
		mustStatus(t, w, c.status)
		if e := decodeError(t, w); e.Code != c.code {
			t.Errorf("%s %s: code %q, want %q", c.method, c.path, e.Code, c.code)
		}
	}
}
