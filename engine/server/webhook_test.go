package server

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/flowd/flowd/engine"
	"github.com/flowd/flowd/engine/store"
)

// TestSignVector checks the test signer against Twilio's documented example
// (TWILIO.md, "Webhook security and delivery").
func TestSignVector(t *testing.T) {
	params := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675310"}, "Digits": {"1234"},
		"From": {"+14158675310"}, "To": {"+18005551212"}}
	if got := sign("12345", "https://example.com/myapp.php?foo=1&bar=2", params); got != "L/OH5YylLD5NRKLltdqwSvS0BnU=" {
		t.Fatalf("signature %q, want Twilio's L/OH5YylLD5NRKLltdqwSvS0BnU=", got)
	}
}

// twimlDoc is a parsed TwiML <Response>.
type twimlDoc struct {
	XMLName xml.Name
	Verbs   []twimlVerb `xml:",any"`
}

type twimlVerb struct {
	XMLName xml.Name
	Attrs   []xml.Attr  `xml:",any,attr"`
	Text    string      `xml:",chardata"`
	Nested  []twimlVerb `xml:",any"`
}

func (v twimlVerb) attr(name string) string {
	for _, a := range v.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// parseTwiML parses a TwiML answer (by structure, never by string: twilio-go
// writes attributes in map order).
func parseTwiML(t testing.TB, w interface {
	Header() http.Header
}, body string) twimlDoc {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.Contains(ct, "xml") {
		t.Fatalf("Content-Type %q, want XML", ct)
	}
	var d twimlDoc
	if err := xml.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("TwiML %q: %v", body, err)
	}
	if d.XMLName.Local != "Response" {
		t.Fatalf("root <%s>, want <Response>", d.XMLName.Local)
	}
	return d
}

func verbNames(d twimlDoc) []string {
	var out []string
	for _, v := range d.Verbs {
		out = append(out, v.XMLName.Local)
	}
	return out
}

func TestVoiceIncoming(t *testing.T) {
	h := newHarness(t)
	w := h.webhook("/twilio/voice", incomingCall("CA100", supportNumber))
	mustStatus(t, w, 200)
	d := parseTwiML(t, w, w.Body.String())
	if got := strings.Join(verbNames(d), ","); got != "Say,Enqueue" {
		t.Fatalf("verbs %s, want Say,Enqueue; %s", got, w.Body.String())
	}
	if h.state("CA100") != "greeting" {
		t.Fatalf("state %s", h.state("CA100"))
	}
	rec := h.logs.find(t, "msg", "http", "route", "/twilio/voice", "call_sid", "CA100")
	if rec == nil || rec["session"] != "CA100" || rec["state"] != "greeting" {
		t.Fatalf("access log with call SID, session and state missing: %v", rec)
	}
}

func TestVoiceNoFlow(t *testing.T) {
	h := newHarness(t)
	w := h.webhook("/twilio/voice", incomingCall("CA101", "+15559999999"))
	mustStatus(t, w, 200)
	d := parseTwiML(t, w, w.Body.String())
	if got := strings.Join(verbNames(d), ","); got != "Say,Hangup" {
		t.Fatalf("verbs %s, want Say,Hangup", got)
	}
	if !strings.Contains(d.Verbs[0].Text, "not in service") {
		t.Fatalf("say %q", d.Verbs[0].Text)
	}
	if rec := h.logs.find(t, "level", "WARN", "call_sid", "CA101"); rec == nil {
		t.Fatalf("no warning logged for a number no flow answers:\n%s", h.logs.String())
	}
	if _, err := h.eng.Task(context.Background(), "CA101", false); !errors.Is(err, engine.ErrUnknownSession) {
		t.Fatalf("a session was created: %v", err)
	}
}

func TestGather(t *testing.T) {
	h := newHarness(t)
	w := h.webhook("/twilio/voice", incomingCall("CA110", ivrNumber))
	mustStatus(t, w, 200)
	d := parseTwiML(t, w, w.Body.String())
	if len(d.Verbs) == 0 || d.Verbs[0].XMLName.Local != "Gather" {
		t.Fatalf("want a Gather first: %s", w.Body.String())
	}
	action := d.Verbs[0].attr("action")
	u, err := url.Parse(action)
	if err != nil || u.Path != engine.PathGather || !strings.HasPrefix(action, testPublicURL) {
		t.Fatalf("gather action %q: want %s%s?session=…", action, testPublicURL, engine.PathGather)
	}
	// Post the result where the TwiML said, signed over that exact URL.
	form := url.Values{"CallSid": {"CA110"}, "To": {ivrNumber}, "From": {"+447700900123"}, "Digits": {"1"}}
	w = h.webhook(strings.TrimPrefix(action, testPublicURL), form)
	mustStatus(t, w, 200)
	d = parseTwiML(t, w, w.Body.String())
	if got := strings.Join(verbNames(d), ","); !strings.Contains(got, "Enqueue") {
		t.Fatalf("after pressing 1, verbs %s, want an Enqueue", got)
	}
	if h.state("CA110") != "queued" {
		t.Fatalf("state %s, want queued", h.state("CA110"))
	}
}

func TestSignatureRequired(t *testing.T) {
	h := newHarness(t)
	form := incomingCall("CA120", supportNumber)
	cases := []struct {
		name string
		r    req
	}{
		{"missing", req{path: "/twilio/voice", form: form, unsigned: true}},
		{"forged (wrong token)", req{path: "/twilio/voice", form: form, signToken: "54321"}},
		{"wrong public URL", req{path: "/twilio/voice", form: form, signURL: "http://localhost:8080"}},
		{"signed for the Host header, not the public URL", req{path: "/twilio/voice", form: form, signURL: "http://internal:8080", host: "internal:8080"}},
		{"different query", req{path: "/twilio/voice?session=CA999", form: form, signURL: testPublicURL + "/other"}},
		{"garbage", req{path: "/twilio/voice", form: form, unsigned: true, headers: map[string]string{"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := h.do(c.r)
			mustStatus(t, w, http.StatusForbidden)
		})
	}
	if _, err := h.eng.Task(context.Background(), "CA120", false); !errors.Is(err, engine.ErrUnknownSession) {
		t.Fatalf("a refused webhook changed something: %v", err)
	}
	if n := h.eng.Stats().Events.Load(); n != 0 {
		t.Fatalf("the engine saw %d events", n)
	}
	// Behind a proxy the public URL decides, whatever Host says.
	w := h.do(req{path: "/twilio/voice", form: form, host: "10.0.0.7:8080"})
	mustStatus(t, w, 200)
}

func TestSignedGETAndPortVariants(t *testing.T) {
	h := newHarness(t)
	h.call("CA130", "WT130", false)
	// Twilio fetches TwiML documents with GET: the signature covers the URL.
	w := h.do(req{method: http.MethodGet, path: "/twilio/twiml/join?role=agent&session=CA130"})
	mustStatus(t, w, 200)
	d := parseTwiML(t, w, w.Body.String())
	if got := strings.Join(verbNames(d), ","); got != "Dial" {
		t.Fatalf("join document verbs %s, want Dial: %s", got, w.Body.String())
	}
	if len(d.Verbs[0].Nested) != 1 || d.Verbs[0].Nested[0].XMLName.Local != "Conference" || d.Verbs[0].Nested[0].Text != "WT130" {
		t.Fatalf("join document: want <Dial><Conference>WT130</Conference></Dial>: %s", w.Body.String())
	}
	// Twilio sometimes signs https URLs with :443; both are accepted.
	w = h.do(req{method: http.MethodGet, path: "/twilio/twiml/join?role=agent&session=CA130", signURL: "https://flowd.example.com:443"})
	mustStatus(t, w, 200)
	// POST fetch of the same document.
	w = h.do(req{path: "/twilio/twiml/join?role=agent&session=CA130", form: url.Values{"CallSid": {"CA131"}}})
	mustStatus(t, w, 200)
	// The query is part of what is signed.
	w = h.do(req{method: http.MethodGet, path: "/twilio/twiml/join?role=customer&session=CA130",
		headers: map[string]string{"X-Twilio-Signature": sign(testAuthToken, testPublicURL+"/twilio/twiml/join?role=agent&session=CA130", nil)}, unsigned: true})
	mustStatus(t, w, http.StatusForbidden)
	// Unknown document kind.
	w = h.do(req{method: http.MethodGet, path: "/twilio/twiml/nope?session=CA130"})
	mustStatus(t, w, http.StatusNotFound)
	// An announcement the call never had: 400 with the reason, not a 500.
	for _, q := range []string{"", "&n=", "&n=7", "&n=-1"} {
		w = h.do(req{method: http.MethodGet, path: "/twilio/twiml/announce?session=CA130" + q})
		mustStatus(t, w, http.StatusBadRequest)
		if !strings.Contains(w.Body.String(), "announcement") {
			t.Errorf("announce%s: %q does not say why", q, w.Body.String())
		}
	}
	// A join for a call that has no conference (still in the menu): 400.
	mustStatus(t, h.do(req{path: "/twilio/voice", form: incomingCall("CA132", supportNumber)}), 200)
	w = h.do(req{method: http.MethodGet, path: "/twilio/twiml/join?session=CA132"})
	mustStatus(t, w, http.StatusBadRequest)
	if !strings.Contains(w.Body.String(), "no conference") {
		t.Errorf("join without a conference: %q does not say why", w.Body.String())
	}
	// A document for a call flowd does not know: 200, hang up, warn.
	w = h.do(req{method: http.MethodGet, path: "/twilio/twiml/join?session=CA999"})
	mustStatus(t, w, 200)
	if got := strings.Join(verbNames(parseTwiML(t, w, w.Body.String())), ","); got != "Hangup" {
		t.Fatalf("unknown session document: %s", w.Body.String())
	}
}

func TestNoAuthToken(t *testing.T) {
	h := newHarness(t, withAuthToken(""))
	w := h.do(req{path: "/twilio/voice", form: incomingCall("CA140", supportNumber), signToken: "anything"})
	mustStatus(t, w, http.StatusServiceUnavailable)
	if !strings.Contains(w.Body.String(), "TWILIO_AUTH_TOKEN") {
		t.Fatalf("503 without a clear reason: %q", w.Body.String())
	}
	w = h.do(req{method: http.MethodGet, path: "/readyz"})
	mustStatus(t, w, http.StatusServiceUnavailable)
	if !strings.Contains(w.Body.String(), "auth token") {
		t.Fatalf("readyz: %s", w.Body.String())
	}
}

func TestDuplicateWebhook(t *testing.T) {
	h := newHarness(t)
	form := incomingCall("CA150", supportNumber)
	hdr := map[string]string{IdempotencyTokenHeader: "RE-once"}
	w1 := h.do(req{path: "/twilio/voice", form: form, headers: hdr})
	w2 := h.do(req{path: "/twilio/voice", form: form, headers: hdr})
	mustStatus(t, w1, 200)
	mustStatus(t, w2, 200)
	if w1.Body.String() != w2.Body.String() {
		t.Fatalf("a retry got a different answer:\n%s\n%s", w1.Body, w2.Body)
	}
	if w2.Header().Get(ReplayedHeader) != "true" || w1.Header().Get(ReplayedHeader) != "" {
		t.Fatalf("replay header: first %q, retry %q", w1.Header().Get(ReplayedHeader), w2.Header().Get(ReplayedHeader))
	}
	if n := len(h.history("CA150")); n != 1 { // one history entry per event handled
		t.Fatalf("the call was handled %d times", n)
	}

	// The assignment: one transition however often TaskRouter retries.
	af := assignmentForm("WT150", "WR150", "CA150")
	hdr = map[string]string{IdempotencyTokenHeader: "RE-assign"}
	before := h.eng.Stats().Transitions.Load()
	a1 := h.do(req{path: "/twilio/taskrouter/assignment", form: af, headers: hdr})
	a2 := h.do(req{path: "/twilio/taskrouter/assignment", form: af, headers: hdr})
	a3 := h.do(req{path: "/twilio/taskrouter/assignment", form: af, headers: hdr})
	mustStatus(t, a1, 200)
	if a1.Body.String() != a2.Body.String() || a2.Body.String() != a3.Body.String() {
		t.Fatalf("retries answered differently:\n%s\n%s\n%s", a1.Body, a2.Body, a3.Body)
	}
	if d := h.eng.Stats().Transitions.Load() - before; d != 1 {
		t.Fatalf("%d transitions, want 1", d)
	}
	if n := h.eng.Stats().Duplicates.Load(); n != 3 {
		t.Fatalf("duplicates counted %d, want 3", n)
	}
	if h.state("WT150") != "connecting" {
		t.Fatalf("state %s", h.state("WT150"))
	}
}

// The token header is not signed, and Twilio repeats a token only on a
// retry of the same request: the same token on another call, or on another
// route, is a new request, never a replay of the first one's answer.
func TestIdempotencyTokenIsScoped(t *testing.T) {
	h := newHarness(t)
	hdr := map[string]string{IdempotencyTokenHeader: "RE-shared"}
	a := h.do(req{path: "/twilio/voice", form: incomingCall("CA160", supportNumber), headers: hdr})
	b := h.do(req{path: "/twilio/voice", form: incomingCall("CA161", supportNumber), headers: hdr})
	mustStatus(t, a, 200)
	mustStatus(t, b, 200)
	if b.Header().Get(ReplayedHeader) != "" {
		t.Fatal("a second call with the first call's token got the first call's answer")
	}
	if n := len(h.history("CA161")); n != 1 {
		t.Fatalf("the second call has %d history entries, want 1 (it was not handled)", n)
	}
	st := h.do(req{path: "/twilio/voice/status", form: url.Values{"CallSid": {"CA160"}, "CallStatus": {"completed"}, "AccountSid": {"AC1"}}, headers: hdr})
	mustStatus(t, st, 204)
	if st.Header().Get(ReplayedHeader) != "" {
		t.Fatal("the call's status callback, with its voice webhook's token, was taken for a retry")
	}
	if n := len(h.history("CA160")); n != 2 {
		t.Fatalf("CA160 has %d history entries, want 2 (incoming, status)", n)
	}
}

func TestOversizeBodies(t *testing.T) {
	h := newHarness(t)
	big := incomingCall("CA160", supportNumber)
	big.Set("Padding", strings.Repeat("x", DefaultMaxTwilioBody))
	w := h.do(req{path: "/twilio/voice", form: big})
	mustStatus(t, w, http.StatusRequestEntityTooLarge)
	// Without Content-Length (chunked), the limit still holds.
	hr, _ := http.NewRequest(http.MethodPost, "/twilio/voice", strings.NewReader(big.Encode()))
	hr.ContentLength = -1
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hr.Header.Set("X-Twilio-Signature", sign(testAuthToken, testPublicURL+"/twilio/voice", big))
	rw := httptest.NewRecorder()
	h.srv.ServeHTTP(rw, hr)
	mustStatus(t, rw, http.StatusRequestEntityTooLarge)
	if _, err := h.eng.Task(context.Background(), "CA160", false); !errors.Is(err, engine.ErrUnknownSession) {
		t.Fatalf("an oversize webhook changed something: %v", err)
	}
}

func TestMalformedWebhooks(t *testing.T) {
	h := newHarness(t)
	h.call("CA170", "WT170", false)
	bad := assignmentForm("WT170", "WR171", "CA170")
	bad.Set("TaskAttributes", `{"skill":`)
	cases := []struct {
		name   string
		r      req
		status int
		reason string
	}{
		{"bad escape", req{path: "/twilio/voice", body: "CallSid=%zz"}, 400, "malformed form"}, // signed over what parsed (nothing)
		{"missing CallSid", req{path: "/twilio/voice", form: url.Values{"To": {supportNumber}}}, 400, "CallSid"},
		{"task attributes not JSON", req{path: "/twilio/taskrouter/assignment", form: bad}, 400, "TaskAttributes"},
		{"sequence number not a number", req{path: "/twilio/conference/status?session=CA170", form: func() url.Values {
			f := conferenceForm("participant-join", "CF170", "WT170", "CA170", "customer", 1)
			f.Set("SequenceNumber", "soon")
			return f
		}()}, 400, "SequenceNumber"},
		{"missing EventType", req{path: "/twilio/taskrouter/events", form: url.Values{"TaskSid": {"WT170"}}}, 400, "EventType"},
		{"missing CallStatus", req{path: "/twilio/voice/status", form: url.Values{"CallSid": {"CA170"}}}, 400, "CallStatus"},
		{"JSON body", req{path: "/twilio/voice?bodySHA256=" + sha256Hex(`{"CallSid":"CA1"}`), body: `{"CallSid":"CA1"}`, ctype: "application/json"}, 415, "x-www-form-urlencoded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := h.do(c.r)
			mustStatus(t, w, c.status)
			if !strings.Contains(w.Body.String(), c.reason) {
				t.Fatalf("reason %q does not mention %q", w.Body.String(), c.reason)
			}
		})
	}
	if h.state("CA170") != "connecting" {
		t.Fatalf("state moved: %s", h.state("CA170"))
	}
}

func TestUnknownSessions(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name   string
		path   string
		form   url.Values
		status int
	}{
		{"assignment", "/twilio/taskrouter/assignment", assignmentForm("WT999", "WR999", "CA999"), 200},
		{"call status", "/twilio/voice/status?session=CA999&role=agent", url.Values{"CallSid": {"CA999"}, "CallStatus": {"completed"}}, 200},
		{"conference", "/twilio/conference/status?session=CA999", conferenceForm("participant-join", "CF999", "WT999", "CA999", "customer", 1), 200},
		{"workspace event", "/twilio/taskrouter/events", url.Values{"EventType": {"task.canceled"}, "TaskSid": {"WT999"}}, 200},
		{"gather", "/twilio/voice/gather?session=CA999", url.Values{"CallSid": {"CA999"}, "Digits": {"1"}}, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := h.webhook(c.path, c.form)
			mustStatus(t, w, c.status)
		})
	}
	var warned int
	for _, r := range h.logs.records(t) {
		if r["level"] == "WARN" && strings.Contains(fmt.Sprint(r["warning"]), "unknown") {
			warned++
		}
	}
	if warned < len(cases) {
		t.Fatalf("%d warnings for %d unknown callbacks:\n%s", warned, len(cases), h.logs.String())
	}
	if rec := h.logs.find(t, "level", "WARN", "task_sid", "WT999", "route", "/twilio/taskrouter/assignment"); rec == nil {
		t.Fatalf("assignment warning without the Task SID:\n%s", h.logs.String())
	}
}

func TestAssignmentAndCallbacks(t *testing.T) {
	h := newHarness(t)
	mustStatus(t, h.webhook("/twilio/voice", incomingCall("CA180", supportNumber)), 200)
	w := h.webhook("/twilio/taskrouter/assignment", assignmentForm("WT180", "WR180", "CA180"))
	mustStatus(t, w, 200)
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("instruction Content-Type %q", ct)
	}
	var in map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &in); err != nil || in["instruction"] != "conference" {
		t.Fatalf("instruction %s (%v)", w.Body.String(), err)
	}
	if cb, _ := in["conference_status_callback"].(string); !strings.HasPrefix(cb, testPublicURL+engine.PathConferenceStatus) {
		t.Fatalf("conference callback %q is not on the public URL", cb)
	}

	// Workspace events: task and reservation events reach the flow, others
	// are answered without it.
	mustStatus(t, h.webhook("/twilio/taskrouter/events", url.Values{"EventType": {"reservation.accepted"}, "TaskSid": {"WT180"}, "ReservationSid": {"WR180"}}), 204)
	mustStatus(t, h.webhook("/twilio/taskrouter/events", url.Values{"EventType": {"worker.activity.update"}, "WorkerSid": {"WK1"}}), 204)

	q := "/twilio/conference/status?session=CA180"
	mustStatus(t, h.webhook(q, conferenceForm("conference-start", "CF180", "WT180", "", "", 1)), 204)
	mustStatus(t, h.webhook(q, conferenceForm("participant-join", "CF180", "WT180", "CA180", "customer", 2)), 204)
	mustStatus(t, h.webhook(q, conferenceForm("participant-speech-start", "CF180", "WT180", "CA180", "customer", 3)), 204)
	mustStatus(t, h.webhook(q, conferenceForm("participant-join", "CF180", "WT180", "CA181", "agent", 4)), 204)
	if h.state("CA180") != "talking" {
		t.Fatalf("state %s, want talking", h.state("CA180"))
	}
	mustStatus(t, h.webhook("/twilio/voice/status?session=CA180&role=agent", url.Values{"CallSid": {"CA181"}, "CallStatus": {"in-progress"}}), 204)
	mustStatus(t, h.webhook(q, conferenceForm("participant-leave", "CF180", "WT180", "CA180", "customer", 5)), 204)
	if h.state("CA180") != "done" {
		t.Fatalf("state %s, want done", h.state("CA180"))
	}
}

func TestAssignmentAnsweredLater(t *testing.T) {
	h := newHarness(t)
	mustStatus(t, h.webhook("/twilio/voice", incomingCall("CA190", ivrNumber)), 200)
	mustStatus(t, h.webhook("/twilio/voice/gather?session=CA190", url.Values{"CallSid": {"CA190"}, "Digits": {"1"}}), 200)
	w := h.webhook("/twilio/taskrouter/assignment", assignmentForm("WT190", "WR190", "CA190"))
	mustStatus(t, w, 200)
	if w.Body.Len() != 0 {
		t.Fatalf("want an empty 200 (answer later), got %q", w.Body.String())
	}
	if h.state("CA190") != "offered" {
		t.Fatalf("state %s", h.state("CA190"))
	}
}

// TestRoutesMatchEngine: every callback path the engine hands Twilio is
// served (a signed empty POST is a 400 for a missing field, never a 404).
func TestRoutesMatchEngine(t *testing.T) {
	h := newHarness(t)
	for _, p := range []string{engine.PathVoice, engine.PathGather, engine.PathCallStatus, engine.PathAssignment,
		engine.PathWorkspaceEvents, engine.PathConferenceStatus, engine.PathTwiMLJoin, engine.PathTwiMLAnnounce} {
		w := h.do(req{path: p, form: url.Values{}})
		if w.Code == http.StatusNotFound || w.Code == http.StatusMethodNotAllowed {
			t.Errorf("%s: %d", p, w.Code)
		}
	}
}

// panicStore makes the engine panic while resolving one Task SID.
type panicStore struct{ store.Store }

func (p panicStore) Resolve(ctx context.Context, alias string) (string, error) {
	if alias == "WTpanic" {
		panic("store exploded")
	}
	return p.Store.Resolve(ctx, alias)
}

func TestPanicRecovered(t *testing.T) {
	h := newHarness(t, withEngineStore(panicStore{store.NewMemory()}))
	w := h.webhook("/twilio/taskrouter/assignment", assignmentForm("WTpanic", "WR1", "WTpanic"))
	mustStatus(t, w, http.StatusInternalServerError)
	rec := h.logs.find(t, "msg", "panic serving request")
	if rec == nil || rec["task_sid"] != "WTpanic" || !strings.Contains(rec["stack"].(string), "panicStore") {
		t.Fatalf("panic not logged with the Task SID: %v", rec)
	}
	// The server still serves.
	mustStatus(t, h.do(req{method: http.MethodGet, path: "/healthz"}), 200)
}

// TestSignatureFormCheckAgrees: the check over the parsed form (the webhook
// hot path) accepts exactly what the full twilio.Validator check accepts.
func TestSignatureFormCheckAgrees(t *testing.T) {
	h := newHarness(t)
	form := assignmentForm("WT1", "WR1", "CA1")
	form.Add("Repeated", "a")
	form.Add("Repeated", "b")
	body := []byte(form.Encode())
	uri := "/twilio/taskrouter/assignment?x=1"
	first := url.Values{}
	for k, v := range form {
		first.Set(k, v[0])
	}
	for _, c := range []struct {
		name, sig string
		ok        bool
	}{
		{"some parameters unsigned", sign(testAuthToken, testPublicURL+uri, url.Values{"Repeated": {"a"}}), false},
		{"twilio-go's first values", sign(testAuthToken, testPublicURL+uri, first), true},
		{"with :443", sign(testAuthToken, "https://flowd.example.com:443"+uri, first), true},
		{"another URL", sign(testAuthToken, "https://evil.example.com"+uri, first), false},
		{"not base64", "%%%", false},
		{"empty", "", false},
	} {
		formErr := h.srv.validator.CheckForm(uri, form, c.sig)
		fullErr := h.srv.validator.Check("POST", uri, body, "application/x-www-form-urlencoded", c.sig)
		if (formErr == nil) != c.ok || (fullErr == nil) != c.ok {
			t.Errorf("%s: form check %v, full check %v, want ok=%v", c.name, formErr, fullErr, c.ok)
		}
	}
}
