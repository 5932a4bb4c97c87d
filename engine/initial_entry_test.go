package engine_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowd/flowd/engine"
	"github.com/flowd/flowd/engine/store"
)

// TestInitialEntryReadsTheCall: the initial state's entry actions run
// before the first event's handlers; a set or a task attribute there that
// reads the call got nothing (the variable kept its old value, the error
// only in the history) while a say beside it worked.
func TestInitialEntryReadsTheCall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "entry.yaml")
	src := `flow: entry
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
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Config{Store: store.NewMemory(), PublicURL: "https://flowd.example.com/", Owner: "test"}, loadFlows(t, path))
	if err != nil {
		t.Fatal(err)
	}
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
