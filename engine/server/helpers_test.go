package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/flowd/flowd/engine"
	"github.com/flowd/flowd/engine/flow"
	"github.com/flowd/flowd/engine/store"
	"github.com/flowd/flowd/engine/twilio"
	"github.com/flowd/flowd/engine/twiliosim"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

const (
	testPublicURL = "https://flowd.example.com"
	testAuthToken = "12345"
	supportNumber = "+15550001000"
	ivrNumber     = "+15550002000"
)

// testEnv is what the fixture flows read as env.NAME.
var testEnv = map[string]string{"WORKSPACE_SID": "WS00000000000000000000000000000000"}

// sign computes X-Twilio-Signature as Twilio does. twilio-go exports only a
// validator, so the tests use the Twilio stand-in's signer (checked against
// Twilio's documented vector in TestSignVector and in twiliosim).
func sign(token, fullURL string, params url.Values) string {
	return twiliosim.Signature(token, fullURL, params)
}

// fakeSender records the REST calls the engine sends.
type fakeSender struct {
	mu  sync.Mutex
	ops []twilio.Op
	n   atomic.Int64
}

func (f *fakeSender) Do(_ context.Context, op twilio.Op) (twilio.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, op)
	f.n.Add(1)
	sid := op.CallSid
	if sid == "" {
		sid = op.Participant
	}
	return twilio.Result{Status: 200, Sid: sid}, nil
}

func (f *fakeSender) Ops() []twilio.Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]twilio.Op(nil), f.ops...)
}

// syncBuffer is a log sink tests read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lines returns the JSON log records.
func (s *syncBuffer) records(t testing.TB) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// find returns the first log record with all the given key/values.
func (s *syncBuffer) find(t testing.TB, kv ...string) map[string]any {
	for _, r := range s.records(t) {
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			if fmt.Sprint(r[kv[i]]) != kv[i+1] {
				ok = false
				break
			}
		}
		if ok {
			return r
		}
	}
	return nil
}

func loadTestFlows(t testing.TB, paths ...string) *flow.Set {
	t.Helper()
	if len(paths) == 0 {
		paths = []string{"testdata/flows"}
	}
	set, diags := flow.LoadSet(paths, flow.LoadOptions{Env: testEnv})
	if diags.HasErrors() {
		t.Fatalf("fixture flows:\n%s", formatDiagnostics(diags))
	}
	return set
}

type harness struct {
	t      *testing.T
	srv    *Server
	eng    *engine.Engine
	st     store.Store
	sender *fakeSender
	logs   *syncBuffer
	public string
	token  string
	seq    atomic.Int64
}

type harnessOption func(*Options, *engine.Config)

func withAPIToken(tok string) harnessOption {
	return func(o *Options, _ *engine.Config) { o.APIToken = tok }
}

func withAuthToken(tok string) harnessOption {
	return func(o *Options, _ *engine.Config) { o.AuthToken = tok }
}

// withStore serves st to both the engine and the server.
func withStore(st store.Store) harnessOption {
	return func(o *Options, c *engine.Config) { o.Store, c.Store = st, st }
}

func withEngineStore(st store.Store) harnessOption {
	return func(_ *Options, c *engine.Config) { c.Store = st }
}

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st := store.NewMemory()
	sender := &fakeSender{}
	ecfg := engine.Config{Store: st, Twilio: sender, PublicURL: testPublicURL, Logger: log}
	o := Options{Store: st, PublicURL: testPublicURL, AuthToken: testAuthToken, Logger: log}
	for _, opt := range opts {
		opt(&o, &ecfg)
	}
	eng, err := engine.New(ecfg, loadTestFlows(t))
	if err != nil {
		t.Fatal(err)
	}
	o.Engine = eng
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &harness{t: t, srv: srv, eng: eng, st: st, sender: sender, logs: logs, public: testPublicURL, token: o.AuthToken}
}

// req is one request to the server under test.
type req struct {
	method  string
	path    string // with query
	form    url.Values
	body    string // raw body instead of form
	ctype   string
	headers map[string]string
	// signing: by default signed with the harness token over the harness
	// public URL; signURL / signToken change that, unsigned drops it.
	unsigned  bool
	signURL   string
	signToken string
	host      string
}

func (h *harness) do(r req) *httptest.ResponseRecorder {
	h.t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	body := r.body
	if r.form != nil {
		body = r.form.Encode()
	}
	hr := httptest.NewRequest(r.method, r.path, strings.NewReader(body))
	if r.host != "" {
		hr.Host = r.host
	}
	ctype := r.ctype
	if ctype == "" && r.method == http.MethodPost && strings.HasPrefix(r.path, "/twilio/") {
		ctype = "application/x-www-form-urlencoded"
	}
	if ctype != "" {
		hr.Header.Set("Content-Type", ctype)
	}
	if strings.HasPrefix(r.path, "/twilio/") && !r.unsigned {
		base := h.public
		if r.signURL != "" {
			base = r.signURL
		}
		tok := h.token
		if r.signToken != "" {
			tok = r.signToken
		}
		params := r.form
		if r.method == http.MethodGet {
			params = nil
		}
		hr.Header.Set("X-Twilio-Signature", sign(tok, base+r.path, params))
	}
	for k, v := range r.headers {
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.srv.ServeHTTP(w, hr)
	return w
}

// token returns a fresh idempotency token, as Twilio sends on each delivery.
func (h *harness) nextToken() string {
	return fmt.Sprintf("tok-%d", h.seq.Add(1))
}

// webhook posts a signed Twilio form with a fresh idempotency token.
func (h *harness) webhook(path string, form url.Values) *httptest.ResponseRecorder {
	h.t.Helper()
	return h.do(req{path: path, form: form, headers: map[string]string{IdempotencyTokenHeader: h.nextToken()}})
}

func (h *harness) api(method, path, body string, headers map[string]string) *httptest.ResponseRecorder {
	h.t.Helper()
	r := req{method: method, path: path, body: body, headers: headers}
	if body != "" {
		r.ctype = "application/json"
	}
	return h.do(r)
}

func incomingCall(callSid, to string) url.Values {
	return url.Values{"CallSid": {callSid}, "AccountSid": {"AC00000000000000000000000000000000"},
		"From": {"+447700900123"}, "To": {to}, "CallStatus": {"ringing"}, "Direction": {"inbound"},
		"FromCountry": {"GB"}}
}

func assignmentForm(taskSid, reservationSid, session string) url.Values {
	attrs, _ := json.Marshal(map[string]any{"flowd_session": session, "call_sid": session, "skill": "support"})
	return url.Values{"AccountSid": {"AC00000000000000000000000000000000"}, "WorkspaceSid": {testEnv["WORKSPACE_SID"]},
		"WorkflowSid": {"WW00000000000000000000000000000000"}, "TaskQueueSid": {"WQ00000000000000000000000000000000"},
		"WorkerSid": {"WK00000000000000000000000000000001"}, "TaskSid": {taskSid}, "ReservationSid": {reservationSid},
		"TaskAttributes": {string(attrs)}, "WorkerAttributes": {`{"name":"alice","contact_uri":"client:alice"}`},
		"TaskAge": {"3"}, "TaskPriority": {"0"}}
}

func conferenceForm(event, conf, taskSid, callSid, label string, seq int) url.Values {
	f := url.Values{"AccountSid": {"AC00000000000000000000000000000000"}, "ConferenceSid": {conf},
		"FriendlyName": {taskSid}, "StatusCallbackEvent": {event}, "SequenceNumber": {fmt.Sprint(seq)},
		"Timestamp": {"Mon, 16 Aug 2010 03:45:01 +0000"}}
	if callSid != "" {
		f.Set("CallSid", callSid)
		f.Set("Muted", "false")
		f.Set("Hold", "false")
		f.Set("Coaching", "false")
		f.Set("EndConferenceOnExit", "false")
		f.Set("StartConferenceOnEnter", "true")
	}
	if label != "" {
		f.Set("ParticipantLabel", label)
	}
	return f
}

// call drives a session through the support flow: incoming call (greeting),
// assignment (connecting), and when talk is set, customer and agent joining
// the conference (talking).
func (h *harness) call(callSid, taskSid string, talk bool) {
	h.t.Helper()
	mustStatus(h.t, h.webhook("/twilio/voice", incomingCall(callSid, supportNumber)), 200)
	mustStatus(h.t, h.webhook("/twilio/taskrouter/assignment", assignmentForm(taskSid, "WR"+callSid[2:], callSid)), 200)
	if !talk {
		return
	}
	conf := "CF" + callSid[2:]
	q := "/twilio/conference/status?session=" + callSid
	mustStatus(h.t, h.webhook(q, conferenceForm("conference-start", conf, taskSid, "", "", 1)), 204)
	mustStatus(h.t, h.webhook(q, conferenceForm("participant-join", conf, taskSid, callSid, "customer", 2)), 204)
	mustStatus(h.t, h.webhook(q, conferenceForm("participant-join", conf, taskSid, "CA"+"agent"+callSid[2:], "agent", 3)), 204)
	if st := h.state(callSid); st != "talking" {
		h.t.Fatalf("after the agent joined, state = %q, want talking", st)
	}
}

func (h *harness) state(key string) string {
	h.t.Helper()
	v, err := h.eng.Task(context.Background(), key, false)
	if err != nil {
		h.t.Fatalf("Task(%s): %v", key, err)
	}
	return v.State
}

func (h *harness) history(key string) []engine.HistoryView {
	h.t.Helper()
	v, err := h.eng.Task(context.Background(), key, true)
	if err != nil {
		h.t.Fatalf("Task(%s): %v", key, err)
	}
	return v.History
}

func countKind(hs []engine.HistoryView, kind string) int {
	n := 0
	for _, h := range hs {
		if h.Kind == kind {
			n++
		}
	}
	return n
}

func mustStatus(t testing.TB, w *httptest.ResponseRecorder, want int) {
	t.Helper()
	if w.Code != want {
		t.Fatalf("status %d, want %d; body: %s", w.Code, want, w.Body.String())
	}
}

func decodeError(t testing.TB, w *httptest.ResponseRecorder) APIError {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error Content-Type %q, want JSON; body %s", ct, w.Body.String())
	}
	var e ErrorResponse
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	return e.Error
}
