package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowd/flowd/engine"
	"github.com/flowd/flowd/engine/flow"
	"github.com/flowd/flowd/engine/store"
	"github.com/flowd/flowd/engine/twilio"
	"github.com/flowd/flowd/engine/twilio/twimltest"
)

// fakeTwilio records REST operations and answers them as told.
type fakeTwilio struct {
	mu     sync.Mutex
	ops    []twilio.Op
	answer func(op twilio.Op, n int) error // n: how many ops of this kind were sent before
	counts map[twilio.OpKind]int
}

func (f *fakeTwilio) Do(_ context.Context, op twilio.Op) (twilio.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.counts == nil {
		f.counts = map[twilio.OpKind]int{}
	}
	n := f.counts[op.Kind]
	f.counts[op.Kind]++
	f.ops = append(f.ops, op)
	if f.answer != nil {
		if err := f.answer(op, n); err != nil {
			return twilio.Result{}, err
		}
	}
	return twilio.Result{Status: 200, Sid: "CA" + strings.Repeat("9", 32)}, nil
}

func (f *fakeTwilio) sent() []twilio.Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]twilio.Op(nil), f.ops...)
}

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t     *testing.T
	e     *engine.Engine
	st    store.Store
	tw    *fakeTwilio
	clock *testClock
}

func loadFlows(t testing.TB, files ...string) *flow.Set {
	t.Helper()
	set, diags := flow.LoadSet(files, flow.LoadOptions{Env: map[string]string{}})
	if diags.HasErrors() {
		t.Fatalf("flows do not load:\n%v", diags)
	}
	return set
}

func newHarness(t *testing.T, st store.Store) *harness {
	t.Helper()
	return newHarnessWith(t, st, filepath.Join("testdata", "flows", "basic.yaml"))
}

// newHarnessWith is newHarness on another flow file.
func newHarnessWith(t *testing.T, st store.Store, flowFile string) *harness {
	t.Helper()
	if st == nil {
		st = store.NewMemory()
	}
	h := &harness{t: t, st: st, tw: &fakeTwilio{}, clock: &testClock{now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}}
	e, err := engine.New(engine.Config{Store: st, Twilio: h.tw, PublicURL: "https://flowd.example.com/", Clock: h.clock, Owner: "test"},
		loadFlows(t, flowFile))
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	return h
}

func (h *harness) handle(ev engine.Event) engine.Reply {
	h.t.Helper()
	r, err := h.e.Handle(context.Background(), ev)
	if err != nil {
		h.t.Fatalf("%s: %v", ev.Name, err)
	}
	return r
}

func (h *harness) state(key string) engine.TaskView {
	h.t.Helper()
	v, err := h.e.Task(context.Background(), key, false)
	if err != nil {
		h.t.Fatalf("task %s: %v", key, err)
	}
	return v
}

func (h *harness) flush() {
	h.t.Helper()
	if err := h.e.Flush(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

const (
	customerCall = "CA00000000000000000000000000000001"
	agentCall    = "CA00000000000000000000000000000002"
	taskSid      = "WT00000000000000000000000000000001"
	resSid       = "WR00000000000000000000000000000001"
	confSid      = "CF00000000000000000000000000000001"
)

func incoming() engine.Event {
	return engine.Event{Source: engine.SourceVoice, Name: "call.incoming", CallSid: customerCall, To: "+15550001000",
		Fields: map[string]any{"from": "+447700900123", "to": "+15550001000"},
		Call:   map[string]any{"from": "+447700900123", "to": "+15550001000", "from_country": "GB"}}
}

func assignment() engine.Event {
	return engine.Event{Source: engine.SourceAssignment, Name: "reservation.created", TaskSid: taskSid, ReservationSid: resSid,
		WorkerSid: "WK00000000000000000000000000000001", TaskAttributes: map[string]any{"call_sid": customerCall, "skill": "support"},
		WorkerAttributes: map[string]any{"contact_uri": "client:alice"}}
}

func join(callSid, label string, seq int64) engine.Event {
	return engine.Event{Source: engine.SourceConference, Name: "participant.join", CallSid: callSid, ConferenceSid: confSid,
		ConferenceName: taskSid, SequenceNumber: seq, Fields: map[string]any{"label": label, "hold": false, "muted": false, "coaching": false}}
}

// connect runs a call up to "talking".
func (h *harness) connect() {
	h.handle(incoming())
	h.handle(assignment())
	h.handle(join(agentCall, "", 1))
	h.handle(join(customerCall, "", 2))
	if s := h.state(taskSid).State; s != "talking" {
		h.t.Fatalf("after joins: state %s, want talking", s)
	}
}

func TestIncomingCallAnswersWithSayAndEnqueue(t *testing.T) {
	h := newHarness(t, nil)
	r := h.handle(incoming())
	if r.Kind != engine.ReplyTwiML {
		t.Fatalf("reply kind %s", r.Kind)
	}
	doc := twimltest.Parse(t, string(r.Body))
	say, ok := doc.Find("Say")
	if !ok || say.Text != "Thanks for calling, +447700900123." {
		t.Fatalf("Say: %v", doc)
	}
	enq, ok := doc.Find("Enqueue")
	if !ok {
		t.Fatalf("no Enqueue in %v", doc)
	}
	if wf, _ := enq.Attr("workflowSid"); wf != "WW00000000000000000000000000000000" {
		t.Errorf("workflowSid %q", wf)
	}
	task, ok := enq.Find("Task")
	if !ok {
		t.Fatalf("no Task in %v", enq)
	}
	var attrs map[string]any
	if err := json.Unmarshal([]byte(task.Text), &attrs); err != nil {
		t.Fatal(err)
	}
	if attrs["skill"] != "support" || attrs["flowd_session"] != customerCall {
		t.Errorf("task attributes %v", attrs)
	}
	if s := h.state(customerCall).State; s != "greeting" {
		t.Errorf("state %s", s)
	}
	// The initial state's entry answered the call: not an unhandled event
	// (an alert on flowd_unhandled_events_total would fire on every call).
	if n := h.e.Stats().Unhandled.Load(); n != 0 {
		t.Errorf("%d unhandled events counted for the call that started the session", n)
	}
}

func TestNumberWithoutFlow(t *testing.T) {
	h := newHarness(t, nil)
	ev := incoming()
	ev.To = "+15559999999"
	if _, err := h.e.Handle(context.Background(), ev); !errors.Is(err, engine.ErrNoFlow) {
		t.Fatalf("err %v, want ErrNoFlow", err)
	}
}

func TestAssignmentAnswersWithConferenceInstruction(t *testing.T) {
	h := newHarness(t, nil)
	h.handle(incoming())
	r := h.handle(assignment())
	if r.Kind != engine.ReplyInstruction {
		t.Fatalf("reply kind %s body %s", r.Kind, r.Body)
	}
	var in map[string]any
	if err := json.Unmarshal(r.Body, &in); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"instruction":                     "conference",
		"timeout":                         float64(20),
		"post_work_activity_sid":          "WA00000000000000000000000000000000",
		"end_conference_on_customer_exit": true,
		"end_conference_on_exit":          false,
		"conference_status_callback":      "https://flowd.example.com/twilio/conference/status?session=" + customerCall,
	}
	for k, v := range want {
		if in[k] != v {
			t.Errorf("%s = %v, want %v", k, in[k], v)
		}
	}
	// The task adopted the session: its SID finds it.
	if v := h.state(taskSid); v.State != "connecting" || v.Session != customerCall || v.TaskSid != taskSid {
		t.Errorf("view %+v", v)
	}
}

func TestGuardsPickTheFirstMatchAndOthersAreUnhandled(t *testing.T) {
	h := newHarness(t, nil)
	h.handle(incoming())
	h.handle(assignment())
	// The customer joining first does not satisfy connecting's guard.
	h.handle(join(customerCall, "", 1))
	if s := h.state(taskSid).State; s != "connecting" {
		t.Fatalf("state %s", s)
	}
	h.handle(join(agentCall, "", 2))
	v := h.state(taskSid)
	if v.State != "talking" {
		t.Fatalf("state %s", v.State)
	}
	if v.Roles["agent"] == nil || v.Roles["agent"].CallSid != agentCall || v.Roles["customer"].CallSid != customerCall {
		t.Errorf("roles %+v", v.Roles)
	}
	// An event nobody handles is recorded, not an error.
	h.handle(engine.Event{Source: engine.SourceWorkspace, Name: "task.updated", TaskSid: taskSid})
	full, _ := h.e.Task(context.Background(), taskSid, true)
	if !hasHistory(full, "unhandled", "task.updated") {
		t.Errorf("no unhandled entry in history")
	}
}

func hasHistory(v engine.TaskView, kind, contains string) bool {
	for _, e := range v.History {
		if e.Kind == kind && strings.Contains(string(e.Data), contains) {
			return true
		}
	}
	return false
}

func TestHoldCommandSendsParticipantUpdateAndUnholdIsRefusedInTalking(t *testing.T) {
	h := newHarness(t, nil)
	h.connect()

	_, err := h.e.Handle(context.Background(), engine.CommandEvent(taskSid, "unhold", nil, ""))
	var ce *engine.CommandError
	if !errors.As(err, &ce) {
		t.Fatalf("unhold while talking: err %v, want CommandError", err)
	}
	if strings.Join(ce.Allowed, ",") != "hold,note,transfer" {
		t.Errorf("allowed %v", ce.Allowed)
	}

	r := h.handle(engine.CommandEvent(taskSid, "hold", nil, ""))
	if r.Kind != engine.ReplyState || r.State != "on_hold" {
		t.Fatalf("reply %+v", r)
	}
	h.flush()
	ops := h.tw.sent()
	if len(ops) != 1 {
		t.Fatalf("ops %v", ops)
	}
	op := ops[0]
	if op.Kind != twilio.OpUpdateParticipant || op.ConferenceSid != confSid || op.Participant != customerCall ||
		op.UpdateParticipant == nil || !*op.UpdateParticipant.Hold || *op.UpdateParticipant.HoldUrl != "https://example.com/hold.mp3" ||
		*op.UpdateParticipant.HoldMethod != "GET" {
		t.Errorf("op %s", op)
	}
	h.handle(engine.CommandEvent(taskSid, "unhold", nil, ""))
	h.flush()
	ops = h.tw.sent()
	if len(ops) != 2 || *ops[1].UpdateParticipant.Hold {
		t.Errorf("unhold op %v", ops)
	}
}

func TestInternalTransitionKeepsStateAndSkipsEntry(t *testing.T) {
	h := newHarness(t, nil)
	h.connect()
	h.handle(engine.CommandEvent(taskSid, "note", map[string]any{"text": "VIP"}, ""))
	v := h.state(taskSid)
	if v.State != "talking" || v.Vars["note"] != "VIP" {
		t.Fatalf("state %s vars %v", v.State, v.Vars)
	}
	if v.Vars["entered"] != 1.0 {
		t.Errorf("entry ran again on an internal transition: entered=%v", v.Vars["entered"])
	}
}

func TestCommandParams(t *testing.T) {
	h := newHarness(t, nil)
	h.connect()
	for _, tc := range []struct {
		name   string
		cmd    string
		params map[string]any
		param  string
	}{
		{"missing", "note", map[string]any{}, "text"},
		{"wrong type", "note", map[string]any{"text": 3.0}, "text"},
		{"unknown", "note", map[string]any{"text": "x", "extra": 1.0}, "extra"},
		{"pattern", "transfer", map[string]any{"to": "12345"}, "to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.e.Handle(context.Background(), engine.CommandEvent(taskSid, tc.cmd, tc.params, ""))
			var pe *engine.ParamError
			if !errors.As(err, &pe) || pe.Param != tc.param {
				t.Fatalf("err %v, want ParamError on %s", err, tc.param)
			}
		})
	}
	_, err := h.e.Handle(context.Background(), engine.CommandEvent(taskSid, "dance", nil, ""))
	var ue *engine.UnknownCommandError
	if !errors.As(err, &ue) {
		t.Errorf("unknown command: %v", err)
	}
	if _, err := h.e.Handle(context.Background(), engine.CommandEvent("WTnope", "hold", nil, "")); !errors.Is(err, engine.ErrUnknownSession) {
		t.Errorf("unknown task: %v", err)
	}
	if v := h.state(taskSid); v.State != "talking" || v.Version != 4 {
		t.Errorf("a refused command changed the session: %+v", v)
	}
}

func TestIdempotencyKeyReplaysTheReply(t *testing.T) {
	h := newHarness(t, nil)
	ev := incoming()
	ev.IdempotencyKey = "tok-1"
	first := h.handle(ev)
	second := h.handle(ev)
	if string(first.Body) != string(second.Body) || !second.Duplicate {
		t.Fatalf("replay differs: %s vs %s", first.Body, second.Body)
	}
	h.connect2()
	cmd := engine.CommandEvent(taskSid, "hold", nil, "cmd-1")
	h.handle(cmd)
	h.handle(cmd)
	h.flush()
	if n := len(h.tw.sent()); n != 1 {
		t.Errorf("a replayed command sent %d REST calls, want 1", n)
	}
	if n := h.e.Stats().CommandsRejected.Load(); n != 0 {
		t.Errorf("a replayed command counted %d rejections, want 0", n)
	}
}

// connect2 continues from an incoming call already handled.
func (h *harness) connect2() {
	h.handle(assignment())
	h.handle(join(agentCall, "", 1))
	h.handle(join(customerCall, "", 2))
}

func TestConferenceCallbacksOrderedPerParticipant(t *testing.T) {
	h := newHarness(t, nil)
	h.connect()
	hold := func(name string, seq int64, held bool) engine.Event {
		ev := join(customerCall, "", seq)
		ev.Name = name
		ev.Fields["hold"] = held
		return ev
	}
	// unhold (seq 4) arrives before hold (seq 3): the hold is stale.
	h.handle(hold("participant.unhold", 4, false))
	h.handle(hold("participant.hold", 3, true))
	v := h.state(taskSid)
	if v.Roles["customer"].Hold {
		t.Errorf("a stale hold callback put the customer on hold")
	}
	full, _ := h.e.Task(context.Background(), taskSid, true)
	if !hasHistory(full, "stale", "participant.hold") {
		t.Errorf("stale event not recorded")
	}
}

func TestFlowLevelHandlerAppliesInEveryState(t *testing.T) {
	h := newHarness(t, nil)
	h.handle(incoming())
	h.handle(engine.Event{Source: engine.SourceCallStatus, Name: "call.status", CallSid: customerCall,
		Fields: map[string]any{"status": "completed"}})
	if v := h.state(customerCall); v.State != "done" || !v.Final {
		t.Fatalf("caller hung up in queue: %+v", v)
	}
}

func TestRetriesTemporaryErrorsThenSends(t *testing.T) {
	h := newHarness(t, nil)
	h.connect()
	h.tw.answer = func(op twilio.Op, n int) error {
		if n < 2 {
			return &twilio.Error{Op: op.Kind, Status: 429, Code: 20429, Message: "Too Many Requests", RetryAfter: 3 * time.Second, Temporary: true}
		}
		return nil
	}
	h.handle(engine.CommandEvent(taskSid, "hold", nil, ""))
	h.flush()
	if n := len(h.tw.sent()); n != 1 {
		t.Fatalf("sent %d before Retry-After passed", n)
	}
	h.clock.Advance(2 * time.Second)
	h.flush()
	if n := len(h.tw.sent()); n != 1 {
		t.Fatalf("retried before Retry-After: %d", n)
	}
	h.clock.Advance(time.Second)
	h.flush()
	h.clock.Advance(3 * time.Second)
	h.flush()
	ops := h.tw.sent()
	if len(ops) != 3 {
		t.Fatalf("sent %d times, want 3 (two 429s, then success)", len(ops))
	}
	outbox, _ := h.st.Outbox(context.Background(), customerCall)
	if len(outbox) != 1 || outbox[0].Status != store.OutboxSent {
		t.Errorf("outbox %+v", outbox)
	}
}

// transferRefusedForGood has Twilio refuse every participant create
// permanently (an invalid number), then asks for a transfer.
func (h *harness) transferRefusedForGood() {
	h.tw.answer = func(op twilio.Op, n int) error {
		if op.Kind == twilio.OpCreateParticipant {
			return &twilio.Error{Op: op.Kind, Status: 400, Code: 21217, Message: "Phone number is not a valid phone number"}
		}
		return nil
	}
	h.handle(engine.CommandEvent(taskSid, "transfer", map[string]any{"to": "+15557654321"}, ""))
}

func TestPermanentFailureRunsTheFlowsRecoveryPath(t *testing.T) {
	h := newHarness(t, nil)
	h.connect()
	h.transferRefusedForGood()
	if s := h.state(taskSid).State; s != "transferring" {
		t.Fatalf("state %s", s)
	}
	h.flush() // hold, remove, dial (fails), then action.failed -> unhold
	h.flush()
	v := h.state(taskSid)
	if v.State != "talking" {
		t.Fatalf("after a failed dial the caller should be back in talking, state %s", v.State)
	}
	ops := h.tw.sent()
	last := ops[len(ops)-1]
	if last.Kind != twilio.OpUpdateParticipant || last.Participant != customerCall || *last.UpdateParticipant.Hold {
		t.Errorf("last op %s, want the customer unheld", last)
	}
}

// An action.failed event that can never be stored (not a blip) stops being
// retried after 10 minutes: its item is marked failed, so it no longer
// holds the call's other requests back.
func TestActionFailedGivesUpOnAnErrorThatStays(t *testing.T) {
	st := &blipStore{Store: store.NewMemory(), blips: 1 << 30}
	h := newHarness(t, st)
	h.connect()
	h.transferRefusedForGood()
	for range 25 { // 25 minutes of retries, 30 s apart at most
		h.flush()
		h.clock.Advance(time.Minute)
	}
	h.flush()
	outbox, _ := h.st.Outbox(context.Background(), customerCall)
	for _, it := range outbox {
		if it.Status == store.OutboxPending {
			t.Errorf("outbox item %d (%s) still pending after 25 minutes", it.ID, it.Kind)
		}
	}
}

// An action that cannot run, whose action.failed cannot be stored (an
// error that stays), gives up in the end like a refused REST call: it
// must not hold the call's lane, and every request behind it, for ever.
func TestUnrunnableActionGivesUpOnAnErrorThatStays(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "flows", "basic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The transfer dials a participant's address that is not in the call.
	flowSrc := strings.Replace(string(src), `to: "${{ params.to }}"`, `to: "${{ participants.supervisor?.address }}"`, 1)
	if flowSrc == string(src) {
		t.Fatal("basic.yaml's transfer changed: update the test")
	}
	file := filepath.Join(t.TempDir(), "basic.yaml")
	if err := os.WriteFile(file, []byte(flowSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	st := &blipStore{Store: store.NewMemory(), blips: 1 << 30}
	h := newHarnessWith(t, st, file)
	h.connect()
	h.handle(engine.CommandEvent(taskSid, "transfer", map[string]any{"to": "+15557654321"}, ""))
	for range 25 {
		h.flush()
		h.clock.Advance(time.Minute)
	}
	h.flush()
	outbox, _ := h.st.Outbox(context.Background(), customerCall)
	found := false
	for _, it := range outbox {
		found = found || it.Kind == "action.failure"
		if it.Status == store.OutboxPending {
			t.Errorf("outbox item %d (%s) still pending after 25 minutes (%d attempts)", it.ID, it.Kind, it.Attempts)
		}
	}
	if !found {
		t.Fatalf("no action.failure item: %+v", outbox)
	}
}

// slowTwilio holds each request until released, and gives up when its
// context ends, as an HTTP client does.
type slowTwilio struct {
	inFlight chan struct{} // receives once per request that started
	release  chan struct{}
}

func (s *slowTwilio) Do(ctx context.Context, op twilio.Op) (twilio.Result, error) {
	s.inFlight <- struct{}{}
	select {
	case <-s.release:
		return twilio.Result{Status: 200}, nil
	case <-ctx.Done():
		return twilio.Result{}, ctx.Err()
	}
}

// Stopping the dispatcher (a graceful shutdown) lets a request in flight
// finish and settles its item, rather than aborting it and leaving the item
// leased to a process about to exit.
func TestStoppingTheDispatcherFinishesInFlightSends(t *testing.T) {
	h := newHarness(t, nil)
	h.connect()
	h.flush()
	tw := &slowTwilio{inFlight: make(chan struct{}, 1), release: make(chan struct{})}
	e, err := engine.New(engine.Config{Store: h.st, Twilio: tw, PublicURL: "https://flowd.example.com/", Clock: h.clock, Owner: "replica-2"},
		loadFlows(t, filepath.Join("testdata", "flows", "basic.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	h.handle(engine.CommandEvent(taskSid, "hold", nil, ""))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	<-tw.inFlight
	stop() // SIGTERM: the dispatcher is told to stop mid-request
	close(tw.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	outbox, _ := h.st.Outbox(context.Background(), customerCall)
	last := outbox[len(outbox)-1]
	if last.Status != store.OutboxSent {
		t.Errorf("the hold in flight at shutdown: status %s, lease %s until %s, want sent", last.Status, last.LeaseOwner, last.LeaseUntil)
	}
}

// blipStore fails the next commit of an action.failed event once, as a
// database that is briefly unreachable would.
type blipStore struct {
	store.Store
	blips int
}

func (s *blipStore) Commit(ctx context.Context, c store.Commit) (int64, error) {
	if s.blips > 0 && strings.HasPrefix(c.IdempotencyKey, "flowd-outbox-failed-") {
		s.blips--
		return 0, errors.New("connection reset by peer")
	}
	return s.Store.Commit(ctx, c)
}

// A REST call Twilio refuses for good whose action.failed event cannot be
// stored at once still reaches the flow: the caller is not left on hold,
// and the refused request is not sent again.
func TestActionFailedSurvivesAStoreBlip(t *testing.T) {
	st := &blipStore{Store: store.NewMemory(), blips: 1}
	h := newHarness(t, st)
	h.connect()
	h.transferRefusedForGood()
	h.flush() // hold, remove, dial (refused); action.failed fails to commit
	h.flush()
	if s := h.state(taskSid).State; s != "transferring" {
		t.Fatalf("state %s after the blip, want still transferring", s)
	}
	h.clock.Advance(time.Minute) // the retry of the undelivered event comes due
	h.flush()
	h.flush()
	if s := h.state(taskSid).State; s != "talking" {
		t.Fatalf("state %s, want talking: the caller back with the agent", s)
	}
	creates := 0
	for _, op := range h.tw.sent() {
		if op.Kind == twilio.OpCreateParticipant {
			creates++
		}
	}
	if creates != 1 {
		t.Errorf("the refused dial was sent %d times, want once", creates)
	}
	ops := h.tw.sent()
	if last := ops[len(ops)-1]; last.Kind != twilio.OpUpdateParticipant || last.Participant != customerCall || *last.UpdateParticipant.Hold {
		t.Errorf("last op %s, want the customer unheld", last)
	}
	outbox, _ := h.st.Outbox(context.Background(), customerCall)
	for _, it := range outbox {
		if it.Status == store.OutboxPending {
			t.Errorf("outbox item %d still pending: %+v", it.ID, it)
		}
	}
}

func TestCrashAfterCommitSendsEachCallOnceOnRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flowd.db")
	st, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, st)
	h.connect()
	h.handle(engine.CommandEvent(taskSid, "transfer", map[string]any{"to": "+15557654321"}, ""))
	// The process dies here: committed, nothing sent.
	if n := len(h.tw.sent()); n != 0 {
		t.Fatalf("sent before dispatch: %d", n)
	}
	st.Close()

	st2, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	h2 := newHarness(t, st2)
	h2.flush()
	h2.flush()
	ops := h2.tw.sent()
	kinds := make([]string, len(ops))
	for i, op := range ops {
		kinds[i] = string(op.Kind)
	}
	if got := strings.Join(kinds, " "); got != "participant.update participant.delete participant.create" {
		t.Fatalf("after restart sent %q", got)
	}
	h2.flush()
	if n := len(h2.tw.sent()); n != 3 {
		t.Errorf("sent %d, want each of the 3 exactly once", n)
	}
}

// taskRouter is a Sender that keeps the tasks it created and finds them by
// flowd_op, as TaskRouter's EvaluateTaskAttributes does.
type taskRouter struct {
	mu             sync.Mutex
	byOp           map[string]string // flowd_op -> task SID
	creates, finds int
}

func (r *taskRouter) Do(_ context.Context, op twilio.Op) (twilio.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch op.Kind {
	case twilio.OpCreateTask:
		r.creates++
		var attrs struct {
			Op string `json:"flowd_op"`
		}
		json.Unmarshal([]byte(*op.CreateTask.Attributes), &attrs)
		sid := fmt.Sprintf("WT%032d", 100+r.creates)
		r.byOp[attrs.Op] = sid
		return twilio.Result{Status: 201, Sid: sid}, nil
	case twilio.OpFindTask:
		r.finds++
		var id string
		fmt.Sscanf(*op.FindTask.EvaluateTaskAttributes, "flowd_op == %q", &id)
		return twilio.Result{Status: 200, Sid: r.byOp[id]}, nil
	}
	return twilio.Result{Status: 200}, nil
}

// A CreateTask whose sender died after Twilio created the task, before the
// outbox recorded it, is not sent again: the next sender finds the task by
// the flowd_op attribute first. A CreateTask sent once asks nothing first.
func TestCreateTaskResentAfterACrashIsFoundNotRepeated(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "flows", "basic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(src), "  hold: { description: Hold the caller. }\n",
		"  hold: { description: Hold the caller. }\n  requeue: { description: Put the call back in the queue. }\n", 1)
	edited = strings.Replace(edited, "      note: { do: [{ set: { note: \"${{ params.text }}\" } }] }\n",
		"      note: { do: [{ set: { note: \"${{ params.text }}\" } }] }\n      requeue: { do: [{ create_task: { queue: support, role: agent } }] }\n", 1)
	if !strings.Contains(edited, "create_task") || !strings.Contains(edited, "requeue: { description") {
		t.Fatal("basic.yaml no longer has the lines this test edits")
	}
	path := filepath.Join(t.TempDir(), "basic.yaml")
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	tw := &taskRouter{byOp: map[string]string{}}
	h := &harness{t: t, st: st, clock: &testClock{now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}}
	h.e, err = engine.New(engine.Config{Store: st, Twilio: tw, PublicURL: "https://flowd.example.com/", Clock: h.clock, Owner: "test"},
		loadFlows(t, path))
	if err != nil {
		t.Fatal(err)
	}
	h.connect()
	h.flush()

	h.handle(engine.CommandEvent(taskSid, "requeue", nil, ""))
	h.flush()
	if tw.creates != 1 || tw.finds != 0 {
		t.Fatalf("a plain CreateTask: %d creates, %d finds; want 1, 0", tw.creates, tw.finds)
	}

	// Again, and this time the sender dies between Twilio's answer and
	// MarkSent.
	h.handle(engine.CommandEvent(taskSid, "requeue", nil, ""))
	items, err := st.ClaimOutbox(context.Background(), "dead", h.clock.Now(), 30*time.Second, 10)
	if err != nil || len(items) != 1 || items[0].Kind != string(twilio.OpCreateTask) {
		t.Fatalf("claimed %+v, %v; want the CreateTask", items, err)
	}
	var payload struct {
		Op twilio.Op `json:"op"`
	}
	if err := json.Unmarshal(items[0].Payload, &payload); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Do(context.Background(), payload.Op); err != nil {
		t.Fatal(err)
	}

	h.clock.Advance(31 * time.Second) // the dead sender's lease runs out
	h.flush()
	if tw.creates != 2 || tw.finds != 1 {
		t.Errorf("after the crash: %d creates, %d finds; want 2 (one per requeue), 1", tw.creates, tw.finds)
	}
	out, err := st.Outbox(context.Background(), customerCall)
	if err != nil {
		t.Fatal(err)
	}
	last := out[len(out)-1]
	if last.Status != store.OutboxSent || !strings.Contains(string(last.Result), `"outcome":"exists"`) ||
		!strings.Contains(string(last.Result), fmt.Sprintf("WT%032d", 102)) {
		t.Errorf("the resent item: %s %s", last.Status, last.Result)
	}
}

func TestConcurrentEventsForOneSessionLoseNothing(t *testing.T) {
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "flowd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// Two engines (replicas: each with its own per-session locks) on one
	// database; a SQLite file serves one process, so they share its store.
	a := newHarness(t, st)
	b := newHarness(t, st)
	a.connect()
	const n = 20
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := a
			if i%2 == 1 {
				h = b
			}
			if _, err := h.e.Handle(context.Background(), engine.CommandEvent(taskSid, "note", map[string]any{"text": "x"}, "")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if v := a.state(taskSid); v.Version != 4+n {
		t.Errorf("version %d, want %d: an update was lost", v.Version, 4+n)
	}
}

// A call keeps the flow revision it started on when flows are reloaded; a
// new call gets the new revision.
// editedBasicFlow writes basic.yaml with the assignment's conference
// timeout changed from 20 to 45 and returns its path.
func editedBasicFlow(t *testing.T) string {
	t.Helper()
	return editBasicFlow(t, "conference: { timeout: 20 }", "conference: { timeout: 45 }")
}

// editBasicFlow writes a copy of basic.yaml with each old text (pairs of
// old, new) replaced once, and returns its path.
func editBasicFlow(t *testing.T, oldNew ...string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "flows", "basic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	edited := string(src)
	for i := 0; i+1 < len(oldNew); i += 2 {
		if !strings.Contains(edited, oldNew[i]) {
			t.Fatalf("basic.yaml no longer has %q, which this test edits", oldNew[i])
		}
		edited = strings.Replace(edited, oldNew[i], oldNew[i+1], 1)
	}
	path := filepath.Join(t.TempDir(), "basic.yaml")
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// restartEdited is a new engine on st, as after a restart with basic.yaml
// edited (the assignment's conference timeout 45 instead of 20).
func restartEdited(t *testing.T, st store.Store, clock engine.Clock) *engine.Engine {
	t.Helper()
	e, err := engine.New(engine.Config{Store: st, Twilio: &fakeTwilio{}, PublicURL: "https://flowd.example.com/", Clock: clock, Owner: "test"},
		loadFlows(t, editedBasicFlow(t)))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// historyWarnings returns the warnings recorded in a task's history.
func historyWarnings(t *testing.T, e *engine.Engine, key string) []string {
	t.Helper()
	v, err := e.Task(context.Background(), key, true)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range v.History {
		var rec struct{ Warnings []string }
		if err := json.Unmarshal(h.Data, &rec); err == nil {
			out = append(out, rec.Warnings...)
		}
	}
	return out
}

// A call in progress keeps its flow revision across a restart whose flow
// files were edited meanwhile: the revision's source is in the store.
func TestRestartWithEditedFlowsKeepsRunningCallsOnTheirRevision(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flowd.db")
	st, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, st)
	h.handle(incoming())
	old := h.state(customerCall).Revision
	st.Close() // the process stops; the flow file is edited

	st2, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	e := restartEdited(t, st2, h.clock)
	r, err := e.Handle(context.Background(), assignment())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(r.Body), `"timeout":20`) {
		t.Errorf("the running call switched to the edited flow: %s", r.Body)
	}
	v, err := e.Task(context.Background(), customerCall, false)
	if err != nil {
		t.Fatal(err)
	}
	if v.Revision != old {
		t.Errorf("revision %.12s, want %.12s", v.Revision, old)
	}
	if w := historyWarnings(t, e, customerCall); len(w) != 0 {
		t.Errorf("warnings %q", w)
	}

	ev := incoming()
	ev.CallSid = "CA00000000000000000000000000000099"
	if _, err := e.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.Task(context.Background(), ev.CallSid, false); v.Revision == old {
		t.Error("a new call started on the old revision")
	}
}

// flakyRevisionStore fails FlowRevision while down is set.
type flakyRevisionStore struct {
	store.Store
	down bool
}

func (s *flakyRevisionStore) FlowRevision(ctx context.Context, rev string) (store.FlowRevision, error) {
	if s.down {
		return store.FlowRevision{}, errors.New("connection refused")
	}
	return s.Store.FlowRevision(ctx, rev)
}

// A store that cannot be asked for a call's revision fails the event (Twilio
// redelivers it) instead of moving the call to the current flow for good.
func TestUnreadableRevisionFailsTheEventAndKeepsTheRevision(t *testing.T) {
	st := &flakyRevisionStore{Store: store.NewMemory()}
	h := newHarness(t, st)
	h.handle(incoming())
	old := h.state(customerCall).Revision

	e := restartEdited(t, st, h.clock)
	st.down = true
	if _, err := e.Handle(context.Background(), assignment()); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Handle with the store down: %v, want its error", err)
	}
	st.down = false
	r, err := e.Handle(context.Background(), assignment())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(r.Body), `"timeout":20`) {
		t.Errorf("want the call's own revision, got %s", r.Body)
	}
	if v, _ := e.Task(context.Background(), customerCall, false); v.Revision != old {
		t.Errorf("revision %.12s, want %.12s", v.Revision, old)
	}
}

// revisionlessStore is a store that kept no flow revisions, as before
// flowd stored them.
type revisionlessStore struct{ store.Store }

func (revisionlessStore) SaveFlowRevision(context.Context, store.FlowRevision) error { return nil }
func (revisionlessStore) FlowRevision(context.Context, string) (store.FlowRevision, error) {
	return store.FlowRevision{}, store.ErrNotFound
}

// A session whose revision nobody stored runs the current flow of its name,
// and its history says so.
func TestSessionOnAnUnstoredRevisionRunsTheCurrentFlow(t *testing.T) {
	st := revisionlessStore{store.NewMemory()}
	h := newHarness(t, st)
	h.handle(incoming())
	old := h.state(customerCall).Revision

	e := restartEdited(t, st, h.clock)
	r, err := e.Handle(context.Background(), assignment())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(r.Body), `"timeout":45`) {
		t.Errorf("want the current flow's instruction, got %s", r.Body)
	}
	v, _ := e.Task(context.Background(), customerCall, false)
	if v.Revision == old {
		t.Error("the session still names the revision it no longer runs")
	}
	w := historyWarnings(t, e, customerCall)
	if len(w) != 1 || !strings.Contains(w[0], "no longer loaded") {
		t.Errorf("warnings %q, want one saying the revision is no longer loaded", w)
	}
}

func TestReloadKeepsRunningCallsOnTheirRevision(t *testing.T) {
	h := newHarness(t, nil)
	h.handle(incoming())
	old := h.state(customerCall).Revision

	src, err := os.ReadFile(filepath.Join("testdata", "flows", "basic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(src), "conference: { timeout: 20 }", "conference: { timeout: 45 }", 1)
	path := filepath.Join(t.TempDir(), "basic.yaml")
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	h.e.SetFlows(loadFlows(t, path))

	r := h.handle(assignment())
	if !strings.Contains(string(r.Body), `"timeout":20`) {
		t.Errorf("the running call switched revision: %s", r.Body)
	}
	if v := h.state(customerCall); v.Revision != old {
		t.Errorf("revision %s, want %s", v.Revision, old)
	}

	ev := incoming()
	ev.CallSid = "CA00000000000000000000000000000099"
	h.handle(ev)
	if v := h.state(ev.CallSid); v.Revision == old {
		t.Errorf("a new call started on the old revision")
	}
}

// Completing a task TaskRouter already completed (a resend after a crash,
// or the task ended on its own) is not a failure the flow must handle.
func TestRefusedTaskCompletionIsMoot(t *testing.T) {
	h := newHarness(t, nil)
	h.connect()
	h.tw.answer = func(op twilio.Op, n int) error {
		if op.Kind == twilio.OpUpdateTask {
			return &twilio.Error{Op: op.Kind, Status: 400, Code: 20001, Message: "Cannot complete a task in status completed"}
		}
		return nil
	}
	h.handle(engine.Event{Source: engine.SourceConference, Name: "participant.leave", CallSid: customerCall, ConferenceSid: confSid,
		SequenceNumber: 9, Fields: map[string]any{"reason": "participant_hung_up"}})
	h.flush()
	if n := h.e.Stats().RESTFailures.Load(); n != 0 {
		t.Errorf("%d failures, want the refusal counted as moot", n)
	}
	full, _ := h.e.Task(context.Background(), taskSid, true)
	if !hasHistory(full, "rest", `"outcome":"moot"`) || hasHistory(full, "event", "action.failed") {
		t.Errorf("history: %+v", full.History)
	}
	if full.State != "done" {
		t.Errorf("state %s", full.State)
	}
}

// TestDialedLegsGetTheirOwnLabelsAndSettings: the call instruction records
// with CallRecord's value, its leg's status callback names the leg's label,
// a muted dial joins without a beep, and each dial gets a label of its own
// (a repeated label is Twilio's 16026, which the dispatcher counts as done).
func TestDialedLegsGetTheirOwnLabelsAndSettings(t *testing.T) {
	path := editBasicFlow(t,
		"conference: { timeout: 20 }", "call: { role: agent, record: true }",
		`dial: { role: agent, to: "${{ params.to }}" }`, `dial: { role: agent, to: "${{ params.to }}", muted: true }`)
	h := newHarness(t, nil)
	h.e.SetFlows(loadFlows(t, path))
	h.handle(incoming())
	r := h.handle(assignment())
	var in map[string]any
	if err := json.Unmarshal(r.Body, &in); err != nil {
		t.Fatalf("%v: %s", err, r.Body)
	}
	if in["instruction"] != "call" || in["record"] != "record-from-answer" {
		t.Errorf("instruction %s: want call with record=record-from-answer", r.Body)
	}
	cb, _ := in["status_callback_url"].(string)
	u, err := url.Parse(cb)
	if err != nil || u.Query().Get("role") != "agent" || !strings.HasPrefix(u.Query().Get("label"), "agent-") {
		t.Errorf("status_callback_url %q: want role=agent and the leg's label", cb)
	}
	firstLabel := u.Query().Get("label")
	h.handle(join(agentCall, firstLabel, 1))
	if s := h.state(taskSid).State; s != "talking" {
		t.Fatalf("state %s", s)
	}
	h.handle(engine.CommandEvent(taskSid, "transfer", map[string]any{"to": "+15557654321"}, ""))
	h.flush()
	var dial *twilio.Op
	for _, op := range h.tw.sent() {
		if op.Kind == twilio.OpCreateParticipant {
			dial = &op
		}
	}
	if dial == nil {
		t.Fatal("no participant created")
	}
	p := dial.CreateParticipant
	if p.Beep == nil || *p.Beep != "false" || p.Muted == nil || !*p.Muted {
		t.Errorf("muted dial: Beep %v Muted %v, want Beep=false, Muted=true", p.Beep, p.Muted)
	}
	if p.Label == nil || !strings.HasPrefix(*p.Label, "agent-") || *p.Label == firstLabel {
		t.Errorf("dial label %v: want a new agent-N label, not %q", p.Label, firstLabel)
	}
}
