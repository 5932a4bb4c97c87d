package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowd/flowd/engine"
	"github.com/flowd/flowd/engine/store"
	"github.com/flowd/flowd/engine/twilio"
)

func decodeView(t testing.TB, body []byte) engine.TaskView {
	t.Helper()
	var v engine.TaskView
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("task view %s: %v", body, err)
	}
	return v
}

func TestCommands(t *testing.T) {
	h := newHarness(t)
	h.call("CA200", "WT200", true)

	w := h.api("POST", "/v1/tasks/WT200/commands/hold", "", nil)
	mustStatus(t, w, 200)
	if v := decodeView(t, w.Body.Bytes()); v.State != "on_hold" || v.Flow != "support" {
		t.Fatalf("after hold: %+v", v)
	}

	// Not allowed now: 409 with what is.
	w = h.api("POST", "/v1/tasks/WT200/commands/hold", "{}", nil)
	mustStatus(t, w, http.StatusConflict)
	e := decodeError(t, w)
	if e.Code != "not_allowed" || e.State != "on_hold" || !slices.Equal(e.Allowed, []string{"unhold"}) {
		t.Fatalf("409 body: %+v", e)
	}
	if !strings.Contains(w.Body.String(), `"allowed":["unhold"]`) {
		t.Fatalf("allowed list missing: %s", w.Body.String())
	}

	// The hold went out as a REST call on the customer's participant.
	if err := h.eng.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var held bool
	for _, op := range h.sender.Ops() {
		if op.Kind == twilio.OpUpdateParticipant && op.Participant == "CA200" && op.UpdateParticipant != nil &&
			op.UpdateParticipant.Hold != nil && *op.UpdateParticipant.Hold {
			held = true
		}
	}
	if !held {
		t.Fatalf("no hold sent; ops %+v", h.sender.Ops())
	}

	// Idempotency-Key: the same answer, one state change.
	key := map[string]string{IdempotencyKeyHeader: "desk-42"}
	w1 := h.api("POST", "/v1/tasks/WT200/commands/unhold", "", key)
	w2 := h.api("POST", "/v1/tasks/WT200/commands/unhold", "", key)
	mustStatus(t, w1, 200)
	mustStatus(t, w2, 200)
	if w1.Body.String() != w2.Body.String() || w2.Header().Get(ReplayedHeader) != "true" {
		t.Fatalf("retry with the same key answered differently:\n%s\n%s", w1.Body, w2.Body)
	}
	if v := decodeView(t, w2.Body.Bytes()); v.State != "talking" {
		t.Fatalf("state %s", v.State)
	}
	// The same key with other parameters is refused, not answered with
	// the first request's reply.
	noteKey := map[string]string{IdempotencyKeyHeader: "desk-43"}
	mustStatus(t, h.api("POST", "/v1/tasks/WT200/commands/note", `{"text": "first"}`, noteKey), 200)
	w = h.api("POST", "/v1/tasks/WT200/commands/note", `{"text": "second"}`, noteKey)
	mustStatus(t, w, http.StatusUnprocessableEntity)
	if e := decodeError(t, w); e.Code != "idempotency_key_reused" {
		t.Fatalf("reused key: %+v", e)
	}
	w = h.api("POST", "/v1/tasks/WT200/commands/note", `{"text":"first"}`, noteKey)
	mustStatus(t, w, 200)
	if w.Header().Get(ReplayedHeader) != "true" {
		t.Fatal("the same parameters (spaced otherwise) were not a replay")
	}
	if v := decodeView(t, w.Body.Bytes()); v.Vars["note"] != "first" {
		t.Fatalf("vars %v", v.Vars)
	}
	// The same key on another command is another request.
	mustStatus(t, h.api("POST", "/v1/tasks/WT200/commands/hold", "", key), 200)
	if h.state("WT200") != "on_hold" {
		t.Fatalf("state %s", h.state("WT200"))
	}
	mustStatus(t, h.api("POST", "/v1/tasks/WT200/commands/unhold", "", nil), 200)

	// Parameters.
	w = h.api("POST", "/v1/tasks/WT200/commands/note", `{}`, nil)
	mustStatus(t, w, http.StatusUnprocessableEntity)
	if e := decodeError(t, w); e.Code != "invalid_params" || e.Param != "text" {
		t.Fatalf("422 body: %+v", e)
	}
	w = h.api("POST", "/v1/tasks/WT200/commands/note", `{"text": 7}`, nil)
	mustStatus(t, w, http.StatusUnprocessableEntity)
	w = h.api("POST", "/v1/tasks/WT200/commands/note", `{"text": "VIP", "extra": 1}`, nil)
	mustStatus(t, w, http.StatusUnprocessableEntity)
	w = h.api("POST", "/v1/tasks/WT200/commands/note", `{"text": "VIP"}`, nil)
	mustStatus(t, w, 200)
	if v := decodeView(t, w.Body.Bytes()); v.Vars["note"] != "VIP" {
		t.Fatalf("vars %v", v.Vars)
	}

	// Unknown things.
	w = h.api("POST", "/v1/tasks/WT200/commands/teleport", "", nil)
	mustStatus(t, w, http.StatusNotFound)
	if e := decodeError(t, w); e.Code != "unknown_command" {
		t.Fatalf("%+v", e)
	}
	w = h.api("POST", "/v1/tasks/WT404/commands/hold", "", nil)
	mustStatus(t, w, http.StatusNotFound)
	if e := decodeError(t, w); e.Code != "unknown_task" {
		t.Fatalf("%+v", e)
	}

	// The CallSid addresses the same session.
	mustStatus(t, h.api("POST", "/v1/tasks/CA200/commands/hold", "", nil), 200)
}

func TestCommandBodies(t *testing.T) {
	h := newHarness(t)
	h.call("CA210", "WT210", true)
	cases := []struct {
		name   string
		body   string
		ctype  string
		status int
		code   string
	}{
		{"malformed", `{"text":`, "application/json", 400, "invalid_json"},
		{"array", `["VIP"]`, "application/json", 400, "invalid_json"},
		{"null", `null`, "application/json", 400, "invalid_json"},
		{"two objects", `{} {}`, "application/json", 400, "invalid_json"},
		{"not JSON", `text=VIP`, "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
		{"oversize", `{"text":"` + strings.Repeat("x", DefaultMaxAPIBody) + `"}`, "application/json", 413, "too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := h.do(req{method: "POST", path: "/v1/tasks/WT210/commands/note", body: c.body, ctype: c.ctype})
			mustStatus(t, w, c.status)
			if e := decodeError(t, w); e.Code != c.code {
				t.Fatalf("code %q, want %q", e.Code, c.code)
			}
		})
	}
	w := h.do(req{method: "POST", path: "/v1/tasks/WT210/commands/hold", headers: map[string]string{IdempotencyKeyHeader: strings.Repeat("k", 300)}})
	mustStatus(t, w, 400)
	if h.state("WT210") != "talking" {
		t.Fatalf("a refused command changed the state: %s", h.state("WT210"))
	}
}

func TestBearerToken(t *testing.T) {
	h := newHarness(t, withAPIToken("s3cret"))
	h.call("CA220", "WT220", false)
	for _, c := range []struct {
		name, auth string
		status     int
	}{
		{"missing", "", 401},
		{"wrong", "Bearer nope", 401},
		{"prefix of the right one", "Bearer s3cre", 401},
		{"other scheme", "Basic czNjcmV0", 401},
		{"right", "Bearer s3cret", 200},
		{"right, scheme in lower case", "bearer s3cret", 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			hdr := map[string]string{}
			if c.auth != "" {
				hdr["Authorization"] = c.auth
			}
			for _, p := range []string{"/v1/tasks/WT220", "/v1/tasks", "/v1/flows", "/v1/flows/support/graph"} {
				w := h.api("GET", p, "", hdr)
				mustStatus(t, w, c.status)
				if c.status == 401 {
					if e := decodeError(t, w); e.Code != "unauthorized" || w.Header().Get("WWW-Authenticate") == "" {
						t.Fatalf("%s: %+v", p, e)
					}
				}
			}
			w := h.api("POST", "/v1/tasks/WT220/commands/hold", "", hdr)
			if c.status == 401 {
				mustStatus(t, w, 401)
			} else {
				mustStatus(t, w, http.StatusConflict) // authenticated, but not now
			}
		})
	}
	// The token guards /v1 only.
	mustStatus(t, h.do(req{method: "GET", path: "/healthz"}), 200)
	mustStatus(t, h.do(req{method: "GET", path: "/metrics"}), 200)
}

// TestTaskList: GET /v1/tasks lists the live calls a page at a time, by
// flow and state, and refuses what it cannot honour.
func TestTaskList(t *testing.T) {
	h := newHarness(t)
	h.call("CA301", "WT301", true)
	mustStatus(t, h.webhook("/twilio/voice", incomingCall("CA302", supportNumber)), 200) // still greeted
	h.call("CA303", "WT303", true)
	mustStatus(t, h.webhook("/twilio/conference/status?session=CA303", conferenceForm("participant-leave", "CF303", "WT303", "CA303", "customer", 4)), 204)
	if st := h.state("CA303"); st != "done" {
		t.Fatalf("CA303 state %q, want done", st)
	}

	list := func(query string) engine.TaskPage {
		t.Helper()
		w := h.api("GET", "/v1/tasks"+query, "", nil)
		mustStatus(t, w, 200)
		if strings.Contains(w.Body.String(), `"history"`) {
			t.Errorf("GET /v1/tasks%s lists history: %s", query, w.Body.String())
		}
		var p engine.TaskPage
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatalf("GET /v1/tasks%s: %s: %v", query, w.Body.String(), err)
		}
		return p
	}
	sessions := func(p engine.TaskPage) string {
		var ids []string
		for _, v := range p.Tasks {
			ids = append(ids, v.Session+":"+v.State)
		}
		return strings.Join(ids, ",") + " next=" + p.Next
	}

	all := list("")
	if got, want := sessions(all), "CA301:talking,CA302:greeting next="; got != want {
		t.Fatalf("all live calls: %s, want %s", got, want)
	}
	talking := all.Tasks[0]
	if talking.TaskSid != "WT301" || talking.Flow != "support" || talking.Roles["agent"] == nil ||
		len(talking.Commands) == 0 || talking.CreatedAt.IsZero() || talking.UpdatedAt.Before(talking.CreatedAt) {
		t.Errorf("listed call %+v: want its task, flow, roles, commands and times", talking)
	}
	for _, c := range []struct{ query, want string }{
		{"?state=talking", "CA301:talking next="},
		{"?flow=support&state=greeting", "CA302:greeting next="},
		{"?flow=ivr", " next="},
		{"?flow=ivr&state=menu", " next="},
		{"?limit=1", "CA301:talking next=CA301"},
		{"?limit=1&after=CA301", "CA302:greeting next="},
	} {
		if got := sessions(list(c.query)); got != c.want {
			t.Errorf("GET /v1/tasks%s: %s, want %s", c.query, got, c.want)
		}
	}

	for _, c := range []struct{ query, inMessage string }{
		{"?limit=0", "limit"},
		{"?limit=1001", "limit"},
		{"?limit=ten", "limit"},
		{"?stat=talking", `"stat"`},
		{"?state=talkin", "did you mean talking?"},
		{"?flow=suport", `no flow "suport" is loaded (did you mean support?)`},
		{"?flow=support&state=queud", "flow support has no state"},
	} {
		w := h.api("GET", "/v1/tasks"+c.query, "", nil)
		mustStatus(t, w, http.StatusUnprocessableEntity)
		if e := decodeError(t, w); e.Code != "invalid_params" || !strings.Contains(e.Message, c.inMessage) {
			t.Errorf("GET /v1/tasks%s: %+v, want invalid_params naming %s", c.query, e, c.inMessage)
		}
	}
}

// TestClosedTaskCannotCommand: a command through a task that is over, while
// another task of the call is open, is refused with 409 task_closed naming
// the open task; nothing changes.
func TestClosedTaskCannotCommand(t *testing.T) {
	h := newHarness(t)
	h.call("CA310", "WT310", true)
	mustStatus(t, h.webhook("/twilio/taskrouter/events", url.Values{"EventType": {"task.completed"}, "TaskSid": {"WT310"}, "TaskAssignmentStatus": {"completed"}}), 204)
	// Without another open task, the old task still addresses the call.
	w := h.api("POST", "/v1/tasks/WT310/commands/hold", "", nil)
	mustStatus(t, w, 200)
	mustStatus(t, h.api("POST", "/v1/tasks/WT310/commands/unhold", "", nil), 200)

	mustStatus(t, h.webhook("/twilio/taskrouter/assignment", assignmentForm("WT311", "WR311", "CA310")), 200)
	if v := decodeView(t, h.api("GET", "/v1/tasks/CA310", "", nil).Body.Bytes()); v.TaskSid != "WT310" || strings.Join(v.OpenTasks, ",") != "WT311" {
		t.Errorf("view: task_sid %s, open_tasks %v; want the first task, and the open one", v.TaskSid, v.OpenTasks)
	}
	before := h.state("CA310")
	w = h.api("POST", "/v1/tasks/WT310/commands/hold", "", nil)
	mustStatus(t, w, http.StatusConflict)
	var body struct {
		Error struct {
			Code      string   `json:"code"`
			Message   string   `json:"message"`
			OpenTasks []string `json:"open_tasks"`
			CallSid   string   `json:"call_sid"`
		} `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	e := body.Error
	if e.Code != "task_closed" || len(e.OpenTasks) != 1 || e.OpenTasks[0] != "WT311" || e.CallSid != "CA310" ||
		!strings.Contains(e.Message, "task WT310 is completed and the call is now on task WT311") {
		t.Errorf("409 body %s: want task_closed naming WT311 and CA310", w.Body.String())
	}
	if after := h.state("CA310"); after != before {
		t.Errorf("state %s after the refusal, want %s", after, before)
	}
	// The CallSid addresses the call whatever its tasks.
	mustStatus(t, h.api("POST", "/v1/tasks/CA310/commands/hold", "", nil), 200)
}

// TestTaskHistoryPages: a console polling a call asks for the history
// entries after the last one it has.
func TestTaskHistoryPages(t *testing.T) {
	h := newHarness(t)
	h.call("CA320", "WT320", true)
	all := decodeView(t, h.api("GET", "/v1/tasks/WT320", "", nil).Body.Bytes()).History
	if len(all) < 4 {
		t.Fatalf("history of %d entries, want a few", len(all))
	}
	seqs := func(hs []engine.HistoryView) []int64 {
		var out []int64
		for _, e := range hs {
			out = append(out, e.Seq)
		}
		return out
	}
	w := h.api("GET", fmt.Sprintf("/v1/tasks/WT320?history_after=%d&history_limit=2", all[0].Seq), "", nil)
	mustStatus(t, w, 200)
	if got, want := seqs(decodeView(t, w.Body.Bytes()).History), seqs(all[1:3]); !slices.Equal(got, want) {
		t.Errorf("history after %d, 2 entries: seqs %v, want %v", all[0].Seq, got, want)
	}
	last := all[len(all)-1].Seq
	w = h.api("GET", fmt.Sprintf("/v1/tasks/WT320?history_after=%d", last), "", nil)
	mustStatus(t, w, 200)
	if got := decodeView(t, w.Body.Bytes()).History; len(got) != 0 || !strings.Contains(w.Body.String(), `"history":[]`) {
		t.Errorf("history after the last entry: %v in %s, want \"history\":[]", seqs(got), w.Body.String())
	}
	for _, q := range []string{"history_after=-1", "history_limit=x", "history_limit=5000", "history_afer=3"} {
		w := h.api("GET", "/v1/tasks/WT320?"+q, "", nil)
		mustStatus(t, w, http.StatusUnprocessableEntity)
		if e := decodeError(t, w); e.Code != "invalid_params" {
			t.Errorf("%s: %+v", q, e)
		}
	}
}

func TestTaskView(t *testing.T) {
	h := newHarness(t)
	h.call("CA230", "WT230", true)
	w := h.api("GET", "/v1/tasks/WT230", "", nil)
	mustStatus(t, w, 200)
	var raw map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"flow", "revision", "state", "roles", "participants", "history"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("task view has no %q: %s", k, w.Body.String())
		}
	}
	v := decodeView(t, w.Body.Bytes())
	if v.Flow != "support" || v.State != "talking" || v.Revision == "" || v.Roles["customer"] == nil || v.Roles["agent"] == nil {
		t.Fatalf("task view %+v", v)
	}
	var roles []string
	for _, p := range v.Participants {
		if !p.Joined || p.CallSid == "" {
			t.Errorf("participant %+v: want a joined leg with its call", p)
		}
		roles = append(roles, p.Role)
	}
	if strings.Join(roles, ",") != "agent,customer" {
		t.Errorf("participants %v, want agent and customer", roles)
	}
	if countKind(v.History, "transition") < 2 || len(v.History) < 5 {
		t.Fatalf("history too short: %d entries", len(v.History))
	}
	if got, ok := raw["commands"].([]any); !ok || len(got) == 0 {
		t.Errorf("a talking call's commands = %v, want the allowed ones", raw["commands"])
	}

	// A finished call still lists its commands: none ([] rather than
	// absent, so that a desktop may read it unconditionally).
	q := "/twilio/conference/status?session=CA230"
	mustStatus(t, h.webhook(q, conferenceForm("participant-leave", "CF230", "WT230", "CA230", "customer", 4)), 204)
	w = h.api("GET", "/v1/tasks/WT230", "", nil)
	mustStatus(t, w, 200)
	raw = nil
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if got, ok := raw["commands"].([]any); raw["state"] != "done" || !ok || len(got) != 0 {
		t.Errorf("finished call: state %v, commands %#v; want done and []", raw["state"], raw["commands"])
	}

	w = h.api("GET", "/v1/tasks/WT404", "", nil)
	mustStatus(t, w, 404)
	if e := decodeError(t, w); e.Code != "unknown_task" {
		t.Fatalf("%+v", e)
	}
	w = h.api("GET", "/v1/nothing", "", nil)
	mustStatus(t, w, 404)
	if e := decodeError(t, w); e.Code != "not_found" {
		t.Fatalf("%+v", e)
	}
}

func TestFlowsAndGraph(t *testing.T) {
	h := newHarness(t)
	w := h.api("GET", "/v1/flows", "", nil)
	mustStatus(t, w, 200)
	var flows []FlowSummary
	if err := json.Unmarshal(w.Body.Bytes(), &flows); err != nil {
		t.Fatal(err)
	}
	if len(flows) != 2 || flows[0].Name != "ivr" || flows[1].Name != "support" {
		t.Fatalf("flows %+v", flows)
	}
	s := flows[1]
	if !slices.Equal(s.Numbers, []string{supportNumber}) || len(s.Revision) < 12 || s.Initial != "greeting" ||
		!slices.Contains(s.States, "on_hold") || !slices.Contains(s.Commands, "hold") {
		t.Fatalf("support summary %+v", s)
	}
	var raw []map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &raw)
	for _, k := range []string{"name", "numbers", "revision", "states"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("flow summary has no %q", k)
		}
	}

	w = h.api("GET", "/v1/flows/support/graph", "", nil)
	mustStatus(t, w, 200)
	if !strings.Contains(w.Body.String(), "on_hold") || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/") {
		t.Fatalf("graph %q (%s)", w.Body.String(), w.Header().Get("Content-Type"))
	}
	w = h.api("GET", "/v1/flows/nope/graph", "", nil)
	mustStatus(t, w, 404)
	if e := decodeError(t, w); e.Code != "unknown_flow" {
		t.Fatalf("%+v", e)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	h := newHarness(t)
	mustStatus(t, h.do(req{method: "GET", path: "/healthz"}), 200)
	w := h.do(req{method: "GET", path: "/readyz"})
	mustStatus(t, w, 200)
	if !strings.Contains(w.Body.String(), `"flows":2`) {
		t.Fatalf("readyz %s", w.Body.String())
	}

	h.call("CA240", "WT240", true)
	mustStatus(t, h.api("POST", "/v1/tasks/WT240/commands/hold", "", nil), 200)
	mustStatus(t, h.do(req{path: "/twilio/voice", form: incomingCall("CA241", supportNumber), unsigned: true}), 403)
	// Made-up methods share one series: a client cannot grow the metrics.
	for _, m := range []string{"BREW", "M1", "M2"} {
		h.do(req{method: m, path: "/healthz"})
	}

	w = h.do(req{method: "GET", path: "/metrics"})
	mustStatus(t, w, 200)
	body := w.Body.String()
	for _, want := range []string{
		`flowd_http_requests_total{code="200",method="POST",route="/twilio/voice"} 1`,
		`flowd_http_requests_total{code="204",method="POST",route="/twilio/conference/status"} 3`,
		`flowd_http_request_duration_seconds_bucket{code="200",route="/twilio/taskrouter/assignment",le="`,
		`flowd_webhook_signature_failures_total 1`,
		`flowd_http_requests_total{code="405",method="other",route="unmatched"} 3`,
		`flowd_events_total 6`,
		`flowd_transitions_total 3`,
		`flowd_outbox_pending 1`,
		`flowd_live_sessions 1`,
		`flowd_flows_loaded 2`,
		"flowd_unhandled_events_total", "flowd_stale_events_total", "flowd_duplicate_events_total",
		"flowd_rest_sent_total", "flowd_rest_retries_total", "flowd_rest_failures_total",
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}

	h.srv.Drain()
	w = h.do(req{method: "GET", path: "/readyz"})
	mustStatus(t, w, 503)
	if !strings.Contains(w.Body.String(), "shutting down") {
		t.Fatalf("readyz while draining: %s", w.Body.String())
	}
}

// TestMetricsFromTheStart: every metric docs/serve.md lists is on the first
// scrape, and a counter with a fixed label set has each of its series at
// 0 (a rate or an alert on flowd_flow_reloads_total{result="invalid"} must
// not wait for the first bad edit). Series labelled by route, method and
// code appear with their first request.
func TestMetricsFromTheStart(t *testing.T) {
	doc, err := os.ReadFile("../../docs/serve.md")
	if err != nil {
		t.Fatal(err)
	}
	_, list, ok := strings.Cut(string(doc), "**Metrics**")
	if !ok {
		t.Fatal("docs/serve.md has no **Metrics** paragraph")
	}
	list, _, _ = strings.Cut(list, "\n- **")
	h := newHarness(t)
	w := h.do(req{method: "GET", path: "/metrics"})
	mustStatus(t, w, 200)
	body := w.Body.String()
	fixed := map[string][]string{"flowd_flow_reloads_total": {`{result="ok"} 0`, `{result="invalid"} 0`}}
	names := regexp.MustCompile("`(flowd_[a-z_]+)(\\{[a-z,]+\\})?`").FindAllStringSubmatch(list, -1)
	if len(names) < 20 {
		t.Fatalf("found %d metrics in docs/serve.md, want the whole list", len(names))
	}
	perRoute := map[string]bool{}
	for _, m := range names {
		if strings.Contains(m[2], "route") {
			perRoute[m[1]] = true
		}
	}
	for _, m := range names {
		name, labels := m[1], m[2]
		switch {
		case perRoute[name]:
			continue
		case labels != "":
			series, ok := fixed[name]
			if !ok {
				t.Errorf("%s%s: a label set this test does not know; list its values here", name, labels)
			}
			for _, s := range series {
				if !strings.Contains(body, "\n"+name+s+"\n") {
					t.Errorf("no %s%s on the first scrape", name, s)
				}
			}
		case !strings.Contains(body, "\n"+name+" "):
			t.Errorf("no %s on the first scrape", name)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}

// TestCommandLogFields: the request log puts the {sid} a /v1 request names
// under the field of its kind (a CallSid is not a task_sid) and adds the
// call's other SIDs once they are known.
func TestCommandLogFields(t *testing.T) {
	h := newHarness(t)
	h.call("CA260", "WT260", true)
	for _, tc := range []struct {
		method, path string
		want         map[string]string
	}{
		{"POST", "/v1/tasks/CA260/commands/hold", map[string]string{"call_sid": "CA260", "task_sid": "WT260", "conference_sid": "CF260"}},
		{"POST", "/v1/tasks/CF260/commands/unhold", map[string]string{"conference_sid": "CF260", "task_sid": "WT260", "call_sid": "CA260"}},
		{"POST", "/v1/tasks/WT260/commands/hold", map[string]string{"task_sid": "WT260", "call_sid": "CA260"}},
		{"GET", "/v1/tasks/CA260", map[string]string{"call_sid": "CA260", "task_sid": "WT260"}},
		{"POST", "/v1/tasks/CA999/commands/hold", map[string]string{"call_sid": "CA999", "task_sid": "<nil>"}},
	} {
		h.logs.mu.Lock()
		h.logs.b.Reset()
		h.logs.mu.Unlock()
		h.api(tc.method, tc.path, "", nil)
		rec := h.logs.find(t, "msg", "http", "method", tc.method)
		if rec == nil {
			t.Fatalf("%s %s: no request log line:\n%s", tc.method, tc.path, h.logs)
		}
		for k, v := range tc.want {
			if got := fmt.Sprint(rec[k]); got != v {
				t.Errorf("%s %s: %s = %s, want %s (%v)", tc.method, tc.path, k, got, v, rec)
			}
		}
	}
}

// TestReadyzLogLevels: a failing readiness probe that flowd announced
// itself (a drain, no auth token) is logged like any probe, at DEBUG, not
// as an ERROR every few seconds; a store that does not answer still is.
func TestReadyzLogLevels(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []harnessOption
		prepare func(h *harness)
		problem string
		level   string
	}{
		{"draining", nil, func(h *harness) { h.srv.Drain() }, "shutting down", "DEBUG"},
		{"no auth token", []harnessOption{withAuthToken("")}, nil, "no Twilio auth token", "DEBUG"},
		{"store closed", nil, func(h *harness) { h.st.Close() }, "store unreachable", "ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.opts...)
			if tc.prepare != nil {
				tc.prepare(h)
			}
			w := h.do(req{method: "GET", path: "/readyz"})
			mustStatus(t, w, 503)
			if !strings.Contains(w.Body.String(), tc.problem) {
				t.Fatalf("readyz: %s, want %q", w.Body.String(), tc.problem)
			}
			rec := h.logs.find(t, "msg", "http", "route", "/readyz")
			if rec == nil || rec["level"] != tc.level {
				t.Fatalf("readyz 503 logged as %v, want level %s", rec, tc.level)
			}
		})
	}
}

// healthStore is a store whose write health the test sets.
type healthStore struct {
	store.Store
	mu sync.Mutex
	h  store.WriteHealth
}

func (s *healthStore) WriteHealth() store.WriteHealth {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.h
}

// TestReadyzWriteHealth: /readyz fails while the store's last write failed
// (a read-only file, a full disk: Ping still answers) and nothing was
// written since, and is ready again once a write goes through or the
// failure is old; a version conflict is no failure (the store's own test).
func TestReadyzWriteHealth(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st := &healthStore{Store: store.NewMemory()}
	h := newHarness(t, withStore(st))
	h.srv.now = func() time.Time { return now }
	for _, tc := range []struct {
		name string
		h    store.WriteHealth
		want int
	}{
		{"never failed", store.WriteHealth{LastOK: now.Add(-time.Second)}, 200},
		{"failed just now", store.WriteHealth{LastOK: now.Add(-time.Minute), LastFailed: now.Add(-time.Second),
			LastError: "attempt to write a readonly database (8)"}, 503},
		{"failed, nothing written yet", store.WriteHealth{LastFailed: now.Add(-29 * time.Second), LastError: "disk full"}, 503},
		{"failed, then written", store.WriteHealth{LastOK: now.Add(-time.Second), LastFailed: now.Add(-2 * time.Second), LastError: "x"}, 200},
		{"failed long ago, nothing since", store.WriteHealth{LastOK: now.Add(-time.Hour), LastFailed: now.Add(-31 * time.Second), LastError: "x"}, 200},
	} {
		st.mu.Lock()
		st.h = tc.h
		st.mu.Unlock()
		w := h.do(req{method: "GET", path: "/readyz"})
		if w.Code != tc.want {
			t.Errorf("%s: readyz %d %s, want %d", tc.name, w.Code, w.Body.String(), tc.want)
			continue
		}
		if tc.want == 503 && !strings.Contains(w.Body.String(), "store cannot write: "+tc.h.LastError) {
			t.Errorf("%s: readyz %s does not say why", tc.name, w.Body.String())
		}
	}
	if rec := h.logs.find(t, "msg", "http", "route", "/readyz", "status", "503"); rec == nil || rec["level"] != "ERROR" ||
		!strings.Contains(fmt.Sprint(rec["error"]), "store cannot write") {
		t.Errorf("a store that cannot write is not logged as an error: %v", rec)
	}
}
