package twilio

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowd/flowd/engine/twilio/twimltest"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func TestRenderTwiMLGolden(t *testing.T) {
	cases := []struct {
		name  string
		verbs []Verb
	}{
		{"say_play_pause", []Verb{
			Say{Text: "Welcome to <Acme> & friends", Voice: "Polly.Joanna", Language: "en-US"},
			Pause{Length: 2},
			Play{URL: "https://cdn.example.com/hold.mp3", Loop: LoopForever},
			Say{Text: "Twice", Loop: 2},
		}},
		{"gather", []Verb{
			Gather{
				Action: "/voice/gather?step=menu", Method: "POST", Input: "dtmf speech",
				NumDigits: 1, Timeout: 7, FinishOnKey: "#", ActionOnEmptyResult: true,
				Prompt: []Verb{Say{Text: "Press 1 for sales"}, Pause{Length: 1}, &Play{URL: "https://cdn.example.com/beep.wav"}},
			},
			Redirect{URL: "/voice/next", Method: "POST"},
		}},
		{"enqueue_task", []Verb{
			Enqueue{
				WorkflowSid:    "WW0123456789abcdef0123456789abcdef",
				WaitURL:        "/voice/wait",
				Action:         "/voice/dequeued",
				TaskAttributes: `{"type":"support","from":"+15551230000","note":"a \"quoted\" <tag>"}`,
				Priority:       5,
				Timeout:        3600,
			},
		}},
		{"dial_conference", []Verb{
			Say{Text: "Connecting you"},
			Dial{
				CallerID: "+15550001111", Action: "/voice/dial-done", Timeout: 20, AnswerOnBridge: true,
				Conference: &Conference{
					Name: "WT0123456789abcdef0123456789abcdef", Muted: true, Beep: "onEnter",
					Coach: "CA0123456789abcdef0123456789abcdef", ParticipantLabel: "supervisor",
					WaitURL: "/voice/hold", WaitMethod: "GET",
					StatusCallback: "/twilio/conference", StatusCallbackEvent: "start end join leave mute hold",
					StartConferenceOnEnter: ptr(true), EndConferenceOnExit: ptr(false),
				},
			},
			Hangup{},
		}},
		{"dial_targets", []Verb{
			Dial{Number: "+15552223333"},
			Dial{Client: "alice"},
			Dial{Sip: "sip:agent@example.com"},
			Dial{Queue: "support"},
		}},
		{"reject", []Verb{Reject{Reason: "busy"}}},
		{"empty", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RenderTwiML(tc.verbs...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(got, `<?xml version="1.0" encoding="UTF-8"?>`) {
				t.Errorf("missing XML declaration: %s", got)
			}
			path := filepath.Join("testdata", "twiml", tc.name+".xml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			twimltest.Equal(t, got, string(want))
		})
	}
}

func TestRenderTwiMLContent(t *testing.T) {
	doc, err := RenderTwiML(
		Say{Text: `a < b & "c"`},
		Enqueue{WorkflowSid: "WW1", TaskAttributes: `{"k":"v & <w>"}`},
		Play{URL: "https://x/y.mp3", Loop: LoopForever},
	)
	if err != nil {
		t.Fatal(err)
	}
	root := twimltest.Parse(t, doc)
	if root.Name != "Response" || len(root.Children) != 3 {
		t.Fatalf("root = %s", root)
	}
	if got := root.Children[0].Text; got != `a < b & "c"` {
		t.Errorf("say text = %q", got)
	}
	task, ok := root.Find("Task")
	if !ok || task.Text != `{"k":"v & <w>"}` {
		t.Errorf("task = %+v", task)
	}
	if v, _ := root.Children[2].Attr("loop"); v != "0" {
		t.Errorf("LoopForever rendered loop=%q, want 0", v)
	}
}

func TestRenderTwiMLErrors(t *testing.T) {
	cases := map[string][]Verb{
		"empty say":             {Say{}},
		"empty play":            {Play{}},
		"negative pause":        {Pause{Length: -1}},
		"gather with dial":      {Gather{Prompt: []Verb{Dial{Number: "+1"}}}},
		"gather with gather":    {Gather{Prompt: []Verb{Gather{}}}},
		"enqueue without queue": {Enqueue{}},
		"enqueue bad attrs":     {Enqueue{WorkflowSid: "WW1", TaskAttributes: "[1]"}},
		"enqueue attrs no wf":   {Enqueue{Name: "q", TaskAttributes: "{}"}},
		"dial nothing":          {Dial{}},
		"dial two":              {Dial{Number: "+1", Client: "a"}},
		"conference no name":    {Dial{Conference: &Conference{}}},
		"conference bad beep":   {Dial{Conference: &Conference{Name: "x", Beep: "loud"}}},
		"redirect no url":       {Redirect{}},
		"reject bad reason":     {Reject{Reason: "nope"}},
		"nil verb":              {nil},
	}
	for name, verbs := range cases {
		if _, err := RenderTwiML(verbs...); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
