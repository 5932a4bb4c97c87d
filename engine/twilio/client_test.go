package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/twilio/twilio-go/rest/api/v2010"
	tr "github.com/twilio/twilio-go/rest/taskrouter/v1"
)

// SIDs in Twilio's shape (two letters, 32 hex digits), as the OpenAPI
// patterns demand.
var (
	testAccount     = "AC" + strings.Repeat("a", 32)
	testConference  = "CF" + strings.Repeat("b", 32)
	testCall        = "CA" + strings.Repeat("c", 32)
	testCall2       = "CA" + strings.Repeat("d", 32)
	testWorkspace   = "WS" + strings.Repeat("e", 32)
	testTask        = "WT" + strings.Repeat("f", 32)
	testReservation = "WR" + strings.Repeat("1", 32)
	testWorker      = "WK" + strings.Repeat("2", 32)
	testWorkflow    = "WW" + strings.Repeat("3", 32)
	testActivity    = "WA" + strings.Repeat("4", 32)
	testToken       = "secrettoken0123456789"
)

// recorded is one request the stand-in received.
type recorded struct {
	Method      string
	Path        string // escaped, as on the wire
	Query       string
	Form        url.Values
	Body        []byte
	ContentType string
	User, Pass  string
}

// standIn is an httptest server standing in for Twilio: it records requests
// and answers with the next canned response.
type standIn struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	requests []recorded
	status   int
	header   http.Header
	body     string
	delay    time.Duration
}

func newStandIn(t *testing.T) *standIn {
	s := &standIn{t: t, status: 200, body: "{}"}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *standIn) respond(status int, header http.Header, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.header, s.body = status, header, body
}

func (s *standIn) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	user, pass, _ := r.BasicAuth()
	s.mu.Lock()
	s.requests = append(s.requests, recorded{
		Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		Form: form, Body: body, ContentType: r.Header.Get("Content-Type"),
		User: user, Pass: pass,
	})
	status, header, resp, delay := s.status, s.header, s.body, s.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, resp)
}

func (s *standIn) last() recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		s.t.Fatal("no request reached the stand-in")
	}
	return s.requests[len(s.requests)-1]
}

func (s *standIn) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func (s *standIn) client(t *testing.T, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{AccountSid: testAccount, AuthToken: testToken, BaseURL: s.srv.URL}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type opCase struct {
	name       string
	op         Op
	method     string
	path       string
	form       url.Values
	status     int
	response   string
	wantSid    string
	skipSchema bool // the request is deliberately outside the spec
}

func opCases() []opCase {
	acct := "/2010-04-01/Accounts/" + testAccount
	ws := "/v1/Workspaces/" + testWorkspace
	return []opCase{
		{
			name: "create participant",
			op: Op{Kind: OpCreateParticipant, ConferenceSid: testConference, CreateParticipant: &api.CreateParticipantParams{
				From: ptr("+15550001111"), To: ptr("client:alice"), Label: ptr("agent"),
				EarlyMedia: ptr(true), EndConferenceOnExit: ptr(false), Beep: ptr("onEnter"),
				StatusCallback:      ptr("https://flowd.example.com/twilio/call-status"),
				StatusCallbackEvent: &[]string{"initiated", "answered", "completed"},
			}},
			method: "POST", path: acct + "/Conferences/" + testConference + "/Participants.json",
			form: url.Values{
				"From": {"+15550001111"}, "To": {"client:alice"}, "Label": {"agent"},
				"EarlyMedia": {"true"}, "EndConferenceOnExit": {"false"}, "Beep": {"onEnter"},
				"StatusCallback":      {"https://flowd.example.com/twilio/call-status"},
				"StatusCallbackEvent": {"initiated", "answered", "completed"},
			},
			status: 201, response: `{"call_sid":"` + testCall + `","label":"agent","conference_sid":"` + testConference + `"}`,
			wantSid: testCall,
		},
		{
			name: "create participant by friendly name",
			op: Op{Kind: OpCreateParticipant, ConferenceSid: "room 42/b", CreateParticipant: &api.CreateParticipantParams{
				From: ptr("+15550001111"), To: ptr("+15552223333"),
			}},
			method: "POST", path: acct + "/Conferences/room%2042%2Fb/Participants.json",
			form:   url.Values{"From": {"+15550001111"}, "To": {"+15552223333"}},
			status: 201, response: `{"call_sid":"` + testCall2 + `"}`, wantSid: testCall2,
		},
		{
			name: "hold participant",
			op: Op{Kind: OpUpdateParticipant, ConferenceSid: testConference, Participant: testCall, UpdateParticipant: &api.UpdateParticipantParams{
				Hold: ptr(true), HoldUrl: ptr("https://flowd.example.com/hold.xml"), HoldMethod: ptr("GET"),
			}},
			method: "POST", path: acct + "/Conferences/" + testConference + "/Participants/" + testCall + ".json",
			form:     url.Values{"Hold": {"true"}, "HoldUrl": {"https://flowd.example.com/hold.xml"}, "HoldMethod": {"GET"}},
			response: `{"call_sid":"` + testCall + `","hold":true}`, wantSid: testCall,
		},
		{
			name: "coach by label",
			op: Op{Kind: OpUpdateParticipant, ConferenceSid: testConference, Participant: "super visor", UpdateParticipant: &api.UpdateParticipantParams{
				Coaching: ptr(true), CallSidToCoach: ptr(testCall2), Muted: ptr(false),
			}},
			method: "POST", path: acct + "/Conferences/" + testConference + "/Participants/super%20visor.json",
			form:     url.Values{"Coaching": {"true"}, "CallSidToCoach": {testCall2}, "Muted": {"false"}},
			response: `{"call_sid":"` + testCall + `","label":"super visor"}`, wantSid: testCall,
		},
		{
			name:   "delete participant",
			op:     Op{Kind: OpDeleteParticipant, ConferenceSid: testConference, Participant: testCall2},
			method: "DELETE", path: acct + "/Conferences/" + testConference + "/Participants/" + testCall2 + ".json",
			form: url.Values{}, status: 204, response: "",
		},
		{
			name: "redirect call",
			op: Op{Kind: OpUpdateCall, CallSid: testCall, UpdateCall: &api.UpdateCallParams{
				Url: ptr("https://flowd.example.com/voice/next"), Method: ptr("POST"),
			}},
			method: "POST", path: acct + "/Calls/" + testCall + ".json",
			form:     url.Values{"Url": {"https://flowd.example.com/voice/next"}, "Method": {"POST"}},
			response: `{"sid":"` + testCall + `","status":"in-progress"}`, wantSid: testCall,
		},
		{
			name:   "hang up call",
			op:     Op{Kind: OpUpdateCall, CallSid: testCall, UpdateCall: &api.UpdateCallParams{Status: ptr("completed")}},
			method: "POST", path: acct + "/Calls/" + testCall + ".json",
			form:     url.Values{"Status": {"completed"}},
			response: `{"sid":"` + testCall + `","status":"completed"}`, wantSid: testCall,
		},
		{
			name: "announce to conference",
			op: Op{Kind: OpUpdateConference, ConferenceSid: testConference, UpdateConference: &api.UpdateConferenceParams{
				AnnounceUrl: ptr("https://flowd.example.com/announce.xml"),
			}},
			method: "POST", path: acct + "/Conferences/" + testConference + ".json",
			form:     url.Values{"AnnounceUrl": {"https://flowd.example.com/announce.xml"}},
			response: `{"sid":"` + testConference + `"}`, wantSid: testConference,
		},
		{
			name: "create task",
			op: Op{Kind: OpCreateTask, WorkspaceSid: testWorkspace, CreateTask: &tr.CreateTaskParams{
				WorkflowSid: ptr(testWorkflow), Attributes: ptr(`{"requested_agent":"bob","conference":"` + testConference + `"}`),
				Priority: ptr(10), TaskChannel: ptr("voice"), Timeout: ptr(600),
			}},
			method: "POST", path: ws + "/Tasks",
			form: url.Values{
				"WorkflowSid": {testWorkflow}, "Attributes": {`{"requested_agent":"bob","conference":"` + testConference + `"}`},
				"Priority": {"10"}, "TaskChannel": {"voice"}, "Timeout": {"600"},
			},
			status: 201, response: `{"sid":"` + testTask + `","assignment_status":"pending"}`, wantSid: testTask,
		},
		{
			name: "find task",
			op: Op{Kind: OpFindTask, WorkspaceSid: testWorkspace, FindTask: &tr.ListTaskParams{
				EvaluateTaskAttributes: ptr(`flowd_op == "CA1/3/0"`),
			}},
			method: "GET", path: ws + "/Tasks",
			form:     url.Values{"EvaluateTaskAttributes": {`flowd_op == "CA1/3/0"`}, "PageSize": {"1"}},
			response: `{"tasks":[{"sid":"` + testTask + `"}],"meta":{"page":0,"page_size":1,"key":"tasks"}}`, wantSid: testTask,
		},
		{
			name: "complete task",
			op: Op{Kind: OpUpdateTask, WorkspaceSid: testWorkspace, TaskSid: testTask, UpdateTask: &tr.UpdateTaskParams{
				AssignmentStatus: ptr("completed"), Reason: ptr("transferred"),
			}},
			method: "POST", path: ws + "/Tasks/" + testTask,
			form:     url.Values{"AssignmentStatus": {"completed"}, "Reason": {"transferred"}},
			response: `{"sid":"` + testTask + `","assignment_status":"completed"}`, wantSid: testTask,
		},
		{
			name: "conference instruction",
			op: Op{Kind: OpUpdateReservation, WorkspaceSid: testWorkspace, TaskSid: testTask, ReservationSid: testReservation,
				UpdateReservation: Instruction{
					Instruction: InstructionConference, From: "+15550001111", To: "client:bob",
					PostWorkActivitySid: testActivity, EndConferenceOnExit: ptr(false), EndConferenceOnCustomerExit: ptr(true),
					ConferenceStatusCallback:      "https://flowd.example.com/twilio/conference",
					ConferenceStatusCallbackEvent: EventList{"start", "end", "join", "leave"},
				}.ReservationParams()},
			method: "POST", path: ws + "/Tasks/" + testTask + "/Reservations/" + testReservation,
			form: url.Values{
				"Instruction": {"conference"}, "From": {"+15550001111"}, "To": {"client:bob"},
				"PostWorkActivitySid": {testActivity}, "EndConferenceOnExit": {"false"}, "EndConferenceOnCustomerExit": {"true"},
				"ConferenceStatusCallback":      {"https://flowd.example.com/twilio/conference"},
				"ConferenceStatusCallbackEvent": {"start", "end", "join", "leave"},
			},
			response: `{"sid":"` + testReservation + `","reservation_status":"accepted"}`, wantSid: testReservation,
		},
		{
			name: "reject reservation",
			op: Op{Kind: OpUpdateReservation, WorkspaceSid: testWorkspace, TaskSid: testTask, ReservationSid: testReservation,
				UpdateReservation: Instruction{Instruction: InstructionReject, ActivitySid: testActivity}.ReservationParams()},
			method: "POST", path: ws + "/Tasks/" + testTask + "/Reservations/" + testReservation,
			form:     url.Values{"ReservationStatus": {"rejected"}, "WorkerActivitySid": {testActivity}},
			response: `{"sid":"` + testReservation + `","reservation_status":"rejected"}`, wantSid: testReservation,
		},
		{
			name: "update worker",
			op: Op{Kind: OpUpdateWorker, WorkspaceSid: testWorkspace, WorkerSid: testWorker, UpdateWorker: &tr.UpdateWorkerParams{
				ActivitySid: ptr(testActivity), RejectPendingReservations: ptr(true),
			}},
			method: "POST", path: ws + "/Workers/" + testWorker,
			form:     url.Values{"ActivitySid": {testActivity}, "RejectPendingReservations": {"true"}},
			response: `{"sid":"` + testWorker + `","activity_sid":"` + testActivity + `"}`, wantSid: testWorker,
		},
	}
}

func TestClientDo(t *testing.T) {
	s := newStandIn(t)
	c := s.client(t, nil)
	spec := loadSpecs(t)
	for _, tc := range opCases() {
		t.Run(tc.name, func(t *testing.T) {
			status := tc.status
			if status == 0 {
				status = 200
			}
			s.respond(status, nil, tc.response)
			res, err := c.Do(context.Background(), tc.op)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			got := s.last()
			if got.Method != tc.method || got.Path != tc.path {
				t.Errorf("request = %s %s, want %s %s", got.Method, got.Path, tc.method, tc.path)
			}
			form := got.Form
			if got.Method == "GET" { // a list's parameters travel in the query
				form, _ = url.ParseQuery(got.Query)
			}
			if !reflect.DeepEqual(form, tc.form) {
				t.Errorf("form = %v\nwant   %v", form, tc.form)
			}
			if got.User != testAccount || got.Pass != testToken {
				t.Errorf("basic auth = %q:%q", got.User, got.Pass)
			}
			if tc.method == "POST" && got.ContentType != "application/x-www-form-urlencoded" {
				t.Errorf("content type = %q", got.ContentType)
			}
			if res.Status != status || res.Sid != tc.wantSid {
				t.Errorf("result = %+v, want status %d sid %q", res, status, tc.wantSid)
			}
			if tc.response != "" && !json.Valid(res.Body) {
				t.Errorf("result body is not JSON: %q", res.Body)
			}
			if spec != nil && !tc.skipSchema {
				spec.validate(t, got)
			}
		})
	}
}

func TestClientDoErrors(t *testing.T) {
	twilioErr := func(status, code int, msg string) string {
		b, _ := json.Marshal(map[string]any{"status": status, "code": code, "message": msg, "more_info": "https://www.twilio.com/docs/errors/x"})
		return string(b)
	}
	hold := Op{Kind: OpUpdateParticipant, ConferenceSid: testConference, Participant: testCall,
		UpdateParticipant: &api.UpdateParticipantParams{Hold: ptr(true)}}
	cases := []struct {
		name      string
		status    int
		header    http.Header
		body      string
		temporary bool
		code      int
		retry     time.Duration
		gone, dup bool
		pending   bool
	}{
		{name: "429 with Retry-After", status: 429, header: http.Header{"Retry-After": {"7"}},
			body: twilioErr(429, 20429, "Too Many Requests"), temporary: true, code: 20429, retry: 7 * time.Second},
		{name: "500 JSON", status: 500, body: twilioErr(500, 20500, "Internal Server Error"), temporary: true, code: 20500},
		{name: "502 HTML", status: 502, header: http.Header{"Content-Type": {"text/html"}}, body: "<html>bad gateway</html>", temporary: true},
		{name: "503 Retry-After date", status: 503, header: http.Header{"Retry-After": {time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)}},
			body: "", temporary: true, retry: 90 * time.Second},
		{name: "404 gone", status: 404, body: twilioErr(404, 20404, "The requested resource was not found"), code: 20404, gone: true},
		{name: "400 duplicate label", status: 400, body: twilioErr(400, 16026, "Participant label is in use by another participant"), code: 16026, dup: true},
		{name: "400 duplicate label, TwiML's code", status: 400, body: twilioErr(400, 16025, "Participant label is in use by another participant"), code: 16025, dup: true},
		{name: "400 call not in progress", status: 400, body: twilioErr(400, 21220, "Call is not in-progress"), code: 21220, gone: true},
		{name: "400 reservation not pending", status: 400, body: twilioErr(400, 40144, "Reservation is no longer pending"), code: 40144, pending: true},
		{name: "400 reservation not pending, call instruction", status: 400, body: twilioErr(400, 40114, "The Reservation must currently be Pending"), code: 40114, pending: true},
		{name: "400 reservation not pending, redirect instruction", status: 400, body: twilioErr(400, 40123, "The Reservation must currently be Pending"), code: 40123, pending: true},
		{name: "400 reservation not pending, dequeue instruction", status: 400, body: twilioErr(400, 40135, "The Reservation must currently be Pending"), code: 40135, pending: true},
		{name: "401", status: 401, body: twilioErr(401, 20003, "Authenticate"), code: 20003},
	}
	s := newStandIn(t)
	c := s.client(t, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.respond(tc.status, tc.header, tc.body)
			_, err := c.Do(context.Background(), hold)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Do = %v, want *Error", err)
			}
			if e.Op != OpUpdateParticipant || e.Status != tc.status || e.Code != tc.code || e.Temporary != tc.temporary {
				t.Errorf("error = %+v", e)
			}
			if d := e.RetryAfter - tc.retry; d < -2*time.Second || d > 2*time.Second {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tc.retry)
			}
			if IsGone(err) != tc.gone || IsDuplicateLabel(err) != tc.dup || IsReservationNotPending(err) != tc.pending {
				t.Errorf("IsGone=%v IsDuplicateLabel=%v IsReservationNotPending=%v", IsGone(err), IsDuplicateLabel(err), IsReservationNotPending(err))
			}
			if IsTemporary(err) != tc.temporary {
				t.Errorf("IsTemporary = %v", IsTemporary(err))
			}
			if tc.code != 0 && e.MoreInfo == "" {
				t.Errorf("MoreInfo lost")
			}
			if !strings.Contains(e.Error(), string(OpUpdateParticipant)) {
				t.Errorf("Error() = %q", e.Error())
			}
		})
	}
}

func TestClientDoNetworkErrors(t *testing.T) {
	hold := Op{Kind: OpUpdateParticipant, ConferenceSid: testConference, Participant: testCall,
		UpdateParticipant: &api.UpdateParticipantParams{Hold: ptr(true)}}

	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c, err := NewClient(Config{AccountSid: testAccount, AuthToken: testToken, BaseURL: "http://" + addr})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Do(context.Background(), hold)
		var e *Error
		if !errors.As(err, &e) || !e.Temporary || e.Status != 0 {
			t.Fatalf("Do = %#v", err)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		s := newStandIn(t)
		s.mu.Lock()
		s.delay = 2 * time.Second
		s.mu.Unlock()
		c := s.client(t, func(cfg *Config) { cfg.HTTPClient = &http.Client{Timeout: 100 * time.Millisecond} })
		start := time.Now()
		_, err := c.Do(context.Background(), hold)
		if !IsTemporary(err) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Do = %v", err)
		}
		if time.Since(start) > time.Second {
			t.Errorf("timeout not applied: took %v", time.Since(start))
		}
	})

	t.Run("context canceled", func(t *testing.T) {
		s := newStandIn(t)
		s.mu.Lock()
		s.delay = 2 * time.Second
		s.mu.Unlock()
		c := s.client(t, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.Do(ctx, hold)
		if !IsTemporary(err) {
			t.Fatalf("Do = %v", err)
		}
		ctx2, cancel2 := context.WithCancel(context.Background())
		cancel2()
		n := s.count()
		if _, err := c.Do(ctx2, hold); !IsTemporary(err) || s.count() != n {
			t.Fatalf("Do with canceled context = %v (requests %d -> %d)", err, n, s.count())
		}
	})

	t.Run("invalid op sends nothing", func(t *testing.T) {
		s := newStandIn(t)
		c := s.client(t, nil)
		_, err := c.Do(context.Background(), Op{Kind: OpUpdateParticipant, ConferenceSid: testConference})
		if err == nil || IsTemporary(err) || s.count() != 0 {
			t.Fatalf("Do = %v, requests %d", err, s.count())
		}
	})
}

func TestClientBaseURLPrefixAndAPIKey(t *testing.T) {
	s := newStandIn(t)
	c := s.client(t, func(cfg *Config) {
		cfg.BaseURL = s.srv.URL + "/egress/twilio/"
		cfg.AuthToken = ""
		cfg.APIKey, cfg.APISecret = "SK"+strings.Repeat("9", 32), "keysecret"
		cfg.Edge, cfg.Region = "dublin", "ie1" // ignored with BaseURL
	})
	s.respond(200, nil, `{"call_sid":"`+testCall+`"}`)
	_, err := c.Do(context.Background(), Op{Kind: OpUpdateParticipant, ConferenceSid: testConference, Participant: "a b",
		UpdateParticipant: &api.UpdateParticipantParams{Muted: ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	got := s.last()
	want := "/egress/twilio/2010-04-01/Accounts/" + testAccount + "/Conferences/" + testConference + "/Participants/a%20b.json"
	if got.Path != want {
		t.Errorf("path = %s, want %s", got.Path, want)
	}
	if got.User != "SK"+strings.Repeat("9", 32) || got.Pass != "keysecret" {
		t.Errorf("basic auth = %q:%q", got.User, got.Pass)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestClientEdgeRegion(t *testing.T) {
	var mu sync.Mutex
	var hosts []string
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		hosts = append(hosts, r.URL.Host)
		mu.Unlock()
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{"sid":"x"}`)), Request: r}, nil
	})
	for _, tc := range []struct {
		edge, region string
		want         []string
	}{
		{"", "", []string{"api.twilio.com", "taskrouter.twilio.com"}},
		{"dublin", "ie1", []string{"api.dublin.ie1.twilio.com", "taskrouter.dublin.ie1.twilio.com"}},
		{"sydney", "", []string{"api.sydney.us1.twilio.com", "taskrouter.sydney.us1.twilio.com"}},
	} {
		hosts = nil
		c, err := NewClient(Config{AccountSid: testAccount, AuthToken: testToken, Edge: tc.edge, Region: tc.region,
			HTTPClient: &http.Client{Transport: rt, Timeout: time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Do(context.Background(), Op{Kind: OpUpdateCall, CallSid: testCall, UpdateCall: &api.UpdateCallParams{Status: ptr("completed")}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Do(context.Background(), Op{Kind: OpUpdateTask, WorkspaceSid: testWorkspace, TaskSid: testTask, UpdateTask: &tr.UpdateTaskParams{Priority: ptr(1)}}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(hosts, tc.want) {
			t.Errorf("edge %q region %q: hosts %v, want %v", tc.edge, tc.region, hosts, tc.want)
		}
	}
}

func TestNewClientErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no account":         {AuthToken: "t"},
		"bad account":        {AccountSid: "XX123", AuthToken: "t"},
		"no credentials":     {AccountSid: testAccount},
		"key without secret": {AccountSid: testAccount, APIKey: "SK1"},
		"token with symbols": {AccountSid: testAccount, AuthToken: "a-b"},
		"bad base URL":       {AccountSid: testAccount, AuthToken: "t", BaseURL: "127.0.0.1:99"},
		"base URL query":     {AccountSid: testAccount, AuthToken: "t", BaseURL: "http://x/?a=1"},
	} {
		if _, err := NewClient(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Mon, 01 Jan 2024 00:01:00 GMT": time.Minute,
		"Sun, 31 Dec 2023 00:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

// Each call captures its own response: concurrent calls must not see each
// other's status or Retry-After.
func TestClientDoConcurrent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sid := strings.TrimSuffix(r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:], ".json")
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(sid, "0") {
			w.Header().Set("Retry-After", sid[len(sid)-2:len(sid)-1])
			w.WriteHeader(429)
			_, _ = io.WriteString(w, `{"status":429,"code":20429,"message":"slow down"}`)
			return
		}
		_, _ = io.WriteString(w, `{"sid":"`+sid+`"}`)
	}))
	defer srv.Close()
	c, err := NewClient(Config{AccountSid: testAccount, AuthToken: testToken, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sid := fmt.Sprintf("CA%030d%02d", 0, i)
			res, err := c.Do(context.Background(), Op{Kind: OpUpdateCall, CallSid: sid, UpdateCall: &api.UpdateCallParams{Status: ptr("completed")}})
			if i%10 == 0 {
				var e *Error
				if !errors.As(err, &e) || e.Status != 429 || e.RetryAfter != time.Duration(i/10)*time.Second {
					t.Errorf("%s: %v", sid, err)
				}
				return
			}
			if err != nil || res.Sid != sid || res.Status != 200 {
				t.Errorf("%s: %+v, %v", sid, res, err)
			}
		}()
	}
	wg.Wait()
}
