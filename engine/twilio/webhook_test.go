package twilio

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseVoice(t *testing.T) {
	form := url.Values{
		"CallSid": {testCall}, "AccountSid": {testAccount}, "From": {"+15550001111"}, "To": {"+15552223333"},
		"CallStatus": {"in-progress"}, "Direction": {"inbound"}, "Digits": {"1"}, "SpeechResult": {"sales"},
		"DialCallStatus": {"no-answer"}, "DialCallSid": {testCall2}, "QueueResult": {"hangup"},
	}
	r, err := ParseVoice(form)
	if err != nil {
		t.Fatal(err)
	}
	if r.CallSid != testCall || r.Digits != "1" || r.SpeechResult != "sales" || r.Direction != "inbound" || r.Form.Get("To") != "+15552223333" ||
		r.DialCallStatus != "no-answer" || r.DialCallSid != testCall2 || r.QueueResult != "hangup" {
		t.Errorf("parsed %+v", r)
	}
	form.Del("CallSid")
	_, err = ParseVoice(form)
	var fe *FormError
	if !errors.As(err, &fe) || fe.Field != "CallSid" {
		t.Errorf("without CallSid: %v", err)
	}
}

func TestParseCallStatus(t *testing.T) {
	r, err := ParseCallStatus(url.Values{
		"CallSid": {testCall}, "CallStatus": {"completed"}, "CallDuration": {"42"}, "SequenceNumber": {"3"},
		"Timestamp": {"Mon, 16 Aug 2010 03:45:01 +0000"}, "ParentCallSid": {testCall2},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.CallDuration != 42 || r.SequenceNumber != 3 || r.ParentCallSid != testCall2 ||
		!r.Timestamp.Equal(time.Date(2010, 8, 16, 3, 45, 1, 0, time.UTC)) {
		t.Errorf("parsed %+v", r)
	}
	for name, form := range map[string]url.Values{
		"no status":    {"CallSid": {testCall}},
		"bad duration": {"CallSid": {testCall}, "CallStatus": {"completed"}, "CallDuration": {"4x"}},
		"bad sequence": {"CallSid": {testCall}, "CallStatus": {"completed"}, "SequenceNumber": {"-"}},
	} {
		if _, err := ParseCallStatus(form); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// An unreadable timestamp is tolerated.
	if r, err := ParseCallStatus(url.Values{"CallSid": {testCall}, "CallStatus": {"ringing"}, "Timestamp": {"yesterday"}}); err != nil || !r.Timestamp.IsZero() {
		t.Errorf("bad timestamp: %+v, %v", r, err)
	}
}

func assignmentForm() url.Values {
	return url.Values{
		"AccountSid": {testAccount}, "WorkspaceSid": {testWorkspace}, "WorkflowSid": {testWorkflow},
		"TaskQueueSid": {"WQ" + testTask[2:]}, "WorkerSid": {testWorker}, "TaskSid": {testTask}, "ReservationSid": {testReservation},
		"TaskAttributes":   {`{"call_sid":"` + testCall + `","from":"+15550001111","conference":{"sid":"` + testConference + `"}}`},
		"WorkerAttributes": {`{"contact_uri":"client:bob","skills":["en","fr"]}`},
		"TaskAge":          {"12"}, "TaskPriority": {"5"}, "Timestamp": {"1565040617"},
	}
}

func TestParseAssignment(t *testing.T) {
	a, err := ParseAssignment(assignmentForm())
	if err != nil {
		t.Fatal(err)
	}
	if a.TaskSid != testTask || a.ReservationSid != testReservation || a.WorkerSid != testWorker || a.TaskAge != 12 || a.TaskPriority != 5 {
		t.Errorf("parsed %+v", a)
	}
	if a.TaskAttributes["call_sid"] != testCall || a.WorkerAttributes["contact_uri"] != "client:bob" {
		t.Errorf("attributes %v / %v", a.TaskAttributes, a.WorkerAttributes)
	}
	if conf, _ := a.TaskAttributes["conference"].(map[string]any); conf["sid"] != testConference {
		t.Errorf("nested attribute %v", a.TaskAttributes["conference"])
	}
	if !a.Timestamp.Equal(time.Unix(1565040617, 0)) {
		t.Errorf("timestamp %v", a.Timestamp)
	}
	for field, value := range map[string]string{
		"TaskSid": "", "ReservationSid": "", "TaskAttributes": "[1,2]", "WorkerAttributes": "{bad", "TaskAge": "old",
	} {
		form := assignmentForm()
		form.Set(field, value)
		_, err := ParseAssignment(form)
		var fe *FormError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s=%q: %v", field, value, err)
		}
	}
	form := assignmentForm()
	form.Del("WorkerAttributes")
	if a, err := ParseAssignment(form); err != nil || a.WorkerAttributes == nil {
		t.Errorf("absent attributes: %v, %v", a.WorkerAttributes, err)
	}
}

func TestParseWorkspaceEvent(t *testing.T) {
	e, err := ParseWorkspaceEvent(url.Values{
		"EventType": {"task.canceled"}, "ResourceType": {"Task"}, "ResourceSid": {testTask}, "WorkspaceSid": {testWorkspace},
		"TaskSid": {testTask}, "TaskCanceledReason": {"hangup"}, "TaskAssignmentStatus": {"canceled"},
		"TaskAttributes": {`{"call_sid":"` + testCall + `"}`}, "Timestamp": {"1565040617"}, "TimestampMs": {"1565040617123"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.EventType != "task.canceled" || e.TaskCanceledReason != "hangup" || e.TaskAttributes["call_sid"] != testCall || e.WorkerAttributes == nil {
		t.Errorf("parsed %+v", e)
	}
	if !e.Timestamp.Equal(time.UnixMilli(1565040617123)) {
		t.Errorf("timestamp %v", e.Timestamp)
	}
	if _, err := ParseWorkspaceEvent(url.Values{"ResourceType": {"Task"}}); err == nil {
		t.Error("no EventType accepted")
	}
	if _, err := ParseWorkspaceEvent(url.Values{"EventType": {"worker.activity.update"}, "WorkerAttributes": {`"x"`}}); err == nil {
		t.Error("string worker attributes accepted")
	}
}

func TestParseConferenceEvent(t *testing.T) {
	e, err := ParseConferenceEvent(url.Values{
		"ConferenceSid": {testConference}, "FriendlyName": {testTask}, "StatusCallbackEvent": {"participant-leave"},
		"CallSid": {testCall}, "ParticipantLabel": {"customer"}, "ReasonParticipantLeft": {"participant_hung_up"},
		"ParticipantCallStatus": {"completed"}, "Muted": {"false"}, "Hold": {"true"}, "Coaching": {"false"},
		"EndConferenceOnExit": {"true"}, "SequenceNumber": {"7"}, "Timestamp": {"Tue, 07 May 2024 10:11:12 +0000"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.StatusCallbackEvent != "participant-leave" || !e.Hold || e.Muted || !e.EndConferenceOnExit || e.SequenceNumber != 7 ||
		e.ParticipantLabel != "customer" || e.ReasonParticipantLeft != "participant_hung_up" {
		t.Errorf("parsed %+v", e)
	}
	if !e.Timestamp.Equal(time.Date(2024, 5, 7, 10, 11, 12, 0, time.UTC)) {
		t.Errorf("timestamp %v", e.Timestamp)
	}
	for name, form := range map[string]url.Values{
		"no sequence": {"ConferenceSid": {testConference}, "StatusCallbackEvent": {"conference-end"}},
		"no event":    {"ConferenceSid": {testConference}, "SequenceNumber": {"1"}},
		"no sid":      {"StatusCallbackEvent": {"conference-end"}, "SequenceNumber": {"1"}},
		"bad bool":    {"ConferenceSid": {testConference}, "StatusCallbackEvent": {"participant-hold"}, "SequenceNumber": {"1"}, "Hold": {"maybe"}},
	} {
		if _, err := ParseConferenceEvent(form); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	want := time.Date(2010, 8, 16, 3, 45, 1, 0, time.UTC)
	for in, ok := range map[string]bool{
		"Mon, 16 Aug 2010 03:45:01 +0000": true,
		"Mon, 16 Aug 2010 03:45:01 GMT":   true,
		"2010-08-16T03:45:01Z":            true,
		"2010-08-16T05:45:01+02:00":       true,
		"1281930301":                      true,
		"1281930301000":                   true,
		"":                                false,
		"16/08/2010":                      false,
		"99999999999999999999999":         false,
	} {
		got := ParseTimestamp(in)
		if ok && !got.Equal(want) {
			t.Errorf("ParseTimestamp(%q) = %v", in, got)
		}
		if !ok && !got.IsZero() {
			t.Errorf("ParseTimestamp(%q) = %v, want zero", in, got)
		}
	}
}

// Fuzz targets: parsing any form must not panic, and a form that parses has
// its required fields and non-nil attribute maps.

func fuzzForm(body string) url.Values {
	form, _ := url.ParseQuery(body) // keeps what it could parse, as net/http does
	return form
}

func FuzzParseVoice(f *testing.F) {
	for _, s := range fuzzSeeds["FuzzParseVoice"] {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r, err := ParseVoice(fuzzForm(body))
		if err == nil && r.CallSid == "" {
			t.Fatal("parsed without CallSid")
		}
	})
}

func FuzzParseCallStatus(f *testing.F) {
	for _, s := range fuzzSeeds["FuzzParseCallStatus"] {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r, err := ParseCallStatus(fuzzForm(body))
		if err == nil && (r.CallSid == "" || r.CallStatus == "") {
			t.Fatal("parsed without CallSid or CallStatus")
		}
	})
}

func FuzzParseAssignment(f *testing.F) {
	for _, s := range fuzzSeeds["FuzzParseAssignment"] {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		a, err := ParseAssignment(fuzzForm(body))
		if a.TaskAttributes == nil || a.WorkerAttributes == nil {
			t.Fatal("nil attributes")
		}
		if err == nil && (a.TaskSid == "" || a.ReservationSid == "") {
			t.Fatal("parsed without TaskSid or ReservationSid")
		}
	})
}

func FuzzParseWorkspaceEvent(f *testing.F) {
	for _, s := range fuzzSeeds["FuzzParseWorkspaceEvent"] {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		e, err := ParseWorkspaceEvent(fuzzForm(body))
		if e.TaskAttributes == nil || e.WorkerAttributes == nil {
			t.Fatal("nil attributes")
		}
		if err == nil && e.EventType == "" {
			t.Fatal("parsed without EventType")
		}
	})
}

func FuzzParseConferenceEvent(f *testing.F) {
	for _, s := range fuzzSeeds["FuzzParseConferenceEvent"] {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		e, err := ParseConferenceEvent(fuzzForm(body))
		if err == nil && (e.ConferenceSid == "" || e.StatusCallbackEvent == "" || e.Form.Get("SequenceNumber") == "") {
			t.Fatal("parsed without a required field")
		}
	})
}

// fuzzSeeds are realistic forms, encoded with url.Values. With -update they
// are also written to testdata/fuzz in Go's corpus format.
var fuzzSeeds = map[string][]string{
	"FuzzParseVoice": {
		url.Values{"CallSid": {testCall}, "AccountSid": {testAccount}, "From": {"+15550001111"}, "To": {"+15552223333"},
			"CallStatus": {"ringing"}, "Direction": {"inbound"}, "ApiVersion": {"2010-04-01"}}.Encode(),
		url.Values{"CallSid": {testCall}, "Digits": {"1"}, "SpeechResult": {"talk to sales"}, "Confidence": {"0.9"}}.Encode(),
		"CallSid=&Digits=%",
	},
	"FuzzParseCallStatus": {
		url.Values{"CallSid": {testCall}, "CallStatus": {"completed"}, "CallDuration": {"42"}, "SequenceNumber": {"3"},
			"Timestamp": {"Mon, 16 Aug 2010 03:45:01 +0000"}, "ParentCallSid": {testCall2}}.Encode(),
		"CallSid=CA1&CallStatus=busy&CallDuration=-&SequenceNumber=99999999999999999999",
	},
	"FuzzParseAssignment": {
		assignmentForm().Encode(),
		"TaskSid=WT1&ReservationSid=WR1&TaskAttributes=null&WorkerAttributes=%7B%7D",
		"TaskSid=WT1&ReservationSid=WR1&TaskAttributes=%7B%22a%22%3A%5B1%2C%7B%7D%5D%7D&TaskAge=1e3",
	},
	"FuzzParseWorkspaceEvent": {
		url.Values{"EventType": {"reservation.accepted"}, "ResourceType": {"Reservation"}, "ResourceSid": {testReservation},
			"TaskSid": {testTask}, "WorkerSid": {testWorker}, "TaskAttributes": {`{"x":1}`}, "Timestamp": {"1565040617"}}.Encode(),
		url.Values{"EventType": {"task.canceled"}, "TaskCanceledReason": {"Task TTL Exceeded"}, "TimestampMs": {"1565040617123"}}.Encode(),
	},
	"FuzzParseConferenceEvent": {
		url.Values{"ConferenceSid": {testConference}, "FriendlyName": {testTask}, "StatusCallbackEvent": {"participant-join"},
			"CallSid": {testCall}, "Muted": {"false"}, "Hold": {"false"}, "Coaching": {"false"}, "EndConferenceOnExit": {"true"},
			"SequenceNumber": {"1"}, "Timestamp": {"Tue, 07 May 2024 10:11:12 +0000"}}.Encode(),
		url.Values{"ConferenceSid": {testConference}, "StatusCallbackEvent": {"conference-end"}, "SequenceNumber": {"9"},
			"CallSidEndingConference": {testCall}, "ReasonConferenceEnded": {"last-participant-left"}}.Encode(),
	},
}

func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz")
	}
	for target, seeds := range fuzzSeeds {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			content := fmt.Sprintf("go test fuzz v1\nstring(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
