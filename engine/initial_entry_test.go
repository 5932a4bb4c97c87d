package engine_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowd/flowd/engine"
	"github.com/flowd/flowd/engine/store"
)

// TestInitialEntryReadsTheCall: the initial state's entry actions run
// before the first event's handlers; a set or a task attribute there that
// reads the call got nothing (the variable kept its old value, the error
// only in the history) while a say beside it worked.
func TestInitialEntryReadsTheCall(t *testing.T) {
	e := engineWithFlow(t, nil, `flow: entry
numbers: ["+15550001000"]
vars: { caller: nobody }
initial: menu
states:
  menu:
    entry:
      - set: { caller: "${{ call.from }}" }
      - say: "Caller ${{ vars.caller }}"
      - enqueue: { workflow: WW00000000000000000000000000000001, attributes: { from: "${{ call.from }}" } }
    on:
      call.status: { to: done }
  done: { final: true }
`)
	r, err := e.Handle(context.Background(), incoming())
	if err != nil {
		t.Fatal(err)
	}
	var twiml struct {
		Say     string `xml:"Say"`
		Enqueue struct {
			Task string `xml:"Task"`
		} `xml:"Enqueue"`
	}
	if err := xml.Unmarshal(r.Body, &twiml); err != nil {
		t.Fatalf("TwiML %s: %v", r.Body, err)
	}
	if twiml.Say != "Caller +447700900123" {
		t.Errorf("the caller heard %q, want the number the entry's set stored", twiml.Say)
	}
	var attrs map[string]any
	if err := json.Unmarshal([]byte(twiml.Enqueue.Task), &attrs); err != nil || attrs["from"] != "+447700900123" {
		t.Errorf("task attributes %s (%v): want from = the caller's number", twiml.Enqueue.Task, err)
	}
}

// TestTaskFields: task.status, queue_sid, workflow_sid, priority and age
// hold what TaskRouter's callbacks said (the docs listed them; flows read
// nil), and age counts on with the clock.
func TestTaskFields(t *testing.T) {
	clock := &testClock{now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	e := engineWithFlow(t, clock, `flow: task
numbers: ["+15550001000"]
vars: { seen: "" }
initial: queued
states:
  queued:
    entry:
      - enqueue: { workflow: WW00000000000000000000000000000001 }
    on:
      reservation.created:
        do:
          - set: { seen: "${{ task.status }} ${{ task.queue_sid }} ${{ task.workflow_sid }} ${{ task.priority }} ${{ task.age }}" }
          - call: { role: agent }
        to: done
  done: { final: true }
`)
	ctx := context.Background()
	if _, err := e.Handle(ctx, incoming()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Second)
	ev := assignment()
	ev.Timestamp = clock.Now().Add(-2 * time.Second) // TaskRouter said so 2 s ago
	ev.Task = engine.TaskReport{QueueSid: "WQ00000000000000000000000000000001", WorkflowSid: "WW00000000000000000000000000000001",
		Priority: 5, Age: 30, HasNumbers: true}
	if _, err := e.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	v, err := e.Task(ctx, taskSid, false)
	if err != nil {
		t.Fatal(err)
	}
	want := "reserved WQ00000000000000000000000000000001 WW00000000000000000000000000000001 5 32"
	if got := v.Vars["seen"]; got != want {
		t.Errorf("task fields read %q, want %q", got, want)
	}
}

// TestCallInstructionWithoutEnqueue: a worker reached through a task
// create_task made, for a call never enqueued, joins a conference named
// after that task (the join TwiML named none: "an application error has
// occurred").
func TestCallInstructionWithoutEnqueue(t *testing.T) {
	e := engineWithFlow(t, nil, `flow: cb
numbers: ["+15550001000"]
taskrouter: { workspace: WS00000000000000000000000000000001, workflow: WW00000000000000000000000000000001 }
initial: menu
states:
  menu:
    entry:
      - create_task: { queue: callbacks, role: agent }
      - say: An agent will join you.
      - pause: 60
    on:
      reservation.created:
        do: [{ call: { role: agent } }]
        to: ringing
      call.status: { to: done }
  ringing:
    on:
      call.status: { to: done }
  done: { final: true }
`)
	ctx := context.Background()
	if _, err := e.Handle(ctx, incoming()); err != nil {
		t.Fatal(err)
	}
	ev := assignment()
	ev.TaskAttributes = map[string]any{"flowd_session": customerCall, "flowd_role": "agent"}
	r, err := e.Handle(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	var in struct{ URL string }
	if err := json.Unmarshal(r.Body, &in); err != nil || in.URL == "" {
		t.Fatalf("instruction %s: %v", r.Body, err)
	}
	u, err := url.Parse(in.URL)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := e.Document(ctx, "join", u.Query())
	if err != nil {
		t.Fatalf("join TwiML: %v", err)
	}
	var twiml struct {
		Conference string `xml:"Dial>Conference"`
	}
	if err := xml.Unmarshal([]byte(doc), &twiml); err != nil || twiml.Conference != taskSid {
		t.Fatalf("join TwiML %s (%v): want the worker in conference %s", doc, err, taskSid)
	}
}

// engineWithFlow is an engine on a memory store serving the one flow src
// (clock nil: the system clock).
func engineWithFlow(t *testing.T, clock engine.Clock, src string) *engine.Engine {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flow.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := engine.Config{Store: store.NewMemory(), PublicURL: "https://flowd.example.com/", Owner: "test"}
	if clock != nil {
		cfg.Clock = clock
	}
	e, err := engine.New(cfg, loadFlows(t, path))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestCommandRefusalSaysWhy: a refused command quotes the condition that
// did not hold, and says when the call is over (a desktop developer read
// "its conditions do not hold now" and had to guess).
func TestCommandRefusalSaysWhy(t *testing.T) {
	e := engineWithFlow(t, nil, `flow: why
numbers: ["+15550001000"]
commands:
  barge: {}
  hangup: {}
initial: talking
states:
  talking:
    entry: [{ say: Hello. }]
    on:
      barge:
        if: participants.supervisor != nil
        do: []
      hangup: { do: [hangup], to: done }
      call.status: { to: done }
  done: { final: true }
`)
	ctx := context.Background()
	if _, err := e.Handle(ctx, incoming()); err != nil {
		t.Fatal(err)
	}
	var ce *engine.CommandError
	_, err := e.Handle(ctx, engine.CommandEvent(customerCall, "barge", nil, ""))
	if !errors.As(err, &ce) || !strings.Contains(ce.Error(), "its condition does not hold now: participants.supervisor != nil") {
		t.Fatalf("barge with no supervisor: %v", err)
	}
	if _, err := e.Handle(ctx, engine.CommandEvent(customerCall, "hangup", nil, "")); err != nil {
		t.Fatal(err)
	}
	_, err = e.Handle(ctx, engine.CommandEvent(customerCall, "barge", nil, ""))
	if !errors.As(err, &ce) || !strings.Contains(ce.Error(), "the call is over") {
		t.Fatalf("barge after the call: %v", err)
	}
}
