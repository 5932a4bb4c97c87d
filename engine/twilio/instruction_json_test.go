package twilio

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// tricky strings: HTML characters, quotes and backslashes, control
// characters, invalid UTF-8 (also split across a comma), the JavaScript line
// separators, non-ASCII text, commas (EventList joins with them).
var instructionStrings = []string{
	`<b>&"q"\`, "\u2028", "ls\u2028ps\u2029", "bad \xff utf8", "\xe6\x97", "\xa5",
	"tab\tnew\nline\rcr\bbs\fff\x00\x01\x1f\x7f", "héllo 日本 🎧", "a,b", "+15551234567",
	"https://f.example/cb?a=1&b=<2>",
}

// fillInstruction sets every exported field of in to a non-zero value,
// strings taken in turn from instructionStrings and every *bool to flag. It
// fails on a field type it does not know, so a new kind of field is noticed.
func fillInstruction(t testing.TB, in *Instruction, flag bool) {
	v := reflect.ValueOf(in).Elem()
	n := 0
	next := func() string { n++; return instructionStrings[n%len(instructionStrings)] }
	for k := range v.NumField() {
		f, sf := v.Field(k), v.Type().Field(k)
		if !sf.IsExported() {
			continue
		}
		switch {
		case f.Kind() == reflect.String:
			f.SetString(next())
		case f.Kind() == reflect.Int:
			f.SetInt(int64(k*37 - 100)) // negative for the first fields
		case f.Type() == reflect.TypeFor[*bool]():
			f.Set(reflect.ValueOf(&flag))
		case f.Type() == reflect.TypeFor[EventList]():
			f.Set(reflect.ValueOf(EventList{next(), next()}))
		default:
			t.Fatalf("fillInstruction: field %s has type %s; teach the test (and appendJSON) about it", sf.Name, sf.Type)
		}
		if f.IsZero() {
			t.Fatalf("fillInstruction: field %s left zero", sf.Name)
		}
	}
}

func checkInstructionJSON(t testing.TB, name string, in *Instruction) {
	t.Helper()
	want, err := json.Marshal(in)
	if err != nil {
		t.Fatalf("%s: json.Marshal: %v", name, err)
	}
	if got := in.appendJSON(nil); !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", name, got, want)
	}
	// appending after existing bytes leaves them alone
	if got := in.appendJSON([]byte("x")); !bytes.Equal(got, append([]byte("x"), want...)) {
		t.Errorf("%s: appending to a non-empty buffer:\n got %s", name, got)
	}
}

// TestInstructionAppendJSONMatchesMarshal: the hand-written encoder writes
// exactly what encoding/json writes, with every field set (so a field added
// to Instruction but not to appendJSON fails here) and for tricky content.
func TestInstructionAppendJSONMatchesMarshal(t *testing.T) {
	for _, flag := range []bool{true, false} {
		var full Instruction
		fillInstruction(t, &full, flag)
		checkInstructionJSON(t, "every field set", &full)
		// each string in each position
		for shift := range instructionStrings {
			var in Instruction
			fillInstruction(t, &in, flag)
			v := reflect.ValueOf(&in).Elem()
			for k := range v.NumField() {
				if f := v.Field(k); f.Kind() == reflect.String {
					f.SetString(instructionStrings[(k+shift)%len(instructionStrings)])
				}
			}
			checkInstructionJSON(t, "shifted strings", &in)
		}
	}

	checkInstructionJSON(t, "zero value", &Instruction{})

	// each *bool on its own, false (written, not omitted) and true
	v := reflect.ValueOf(Instruction{})
	for k := range v.NumField() {
		if v.Field(k).Type() != reflect.TypeFor[*bool]() {
			continue
		}
		for _, flag := range []bool{false, true} {
			in := Instruction{Instruction: InstructionCall}
			reflect.ValueOf(&in).Elem().Field(k).Set(reflect.ValueOf(&flag))
			checkInstructionJSON(t, v.Type().Field(k).Name, &in)
		}
	}

	for _, l := range []EventList{nil, {}, {""}, {"", ""}, {"start"}, {"a,b", "<c>"}, {"\xe6\x97", "\xa5"}, {"\xe6", "", "\xff"}} {
		checkInstructionJSON(t, "event list", &Instruction{Instruction: InstructionConference,
			StatusCallbackEvents: l, ConferenceStatusCallbackEvent: l, StatusCallbackEvent: l})
	}

	conf := conferenceInstruction()
	checkInstructionJSON(t, "conference", &conf)
	got, err := conf.JSON()
	want, _ := json.Marshal(conf)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("conference JSON() = %s, %v; want %s", got, err, want)
	}
}

// conferenceInstruction is what the engine answers a conference
// reservation with (engine/actions.go conferenceInstruction).
func conferenceInstruction() Instruction {
	return Instruction{Instruction: InstructionConference,
		ConferenceStatusCallback:      "https://flowd.example.com/twilio/conference-status?session=CA0123456789abcdef0123456789abcdef",
		ConferenceStatusCallbackEvent: EventList{"start", "end", "join", "leave", "mute", "hold"},
		EndConferenceOnCustomerExit:   ptr(true), EndConferenceOnExit: ptr(false),
		Timeout: 20, MaxParticipants: 10, Beep: "onEnter", EarlyMedia: ptr(true),
		From: "+15550001111", To: "client:alice", WaitURL: "https://flowd.example.com/hold-music.xml",
		PostWorkActivitySid: "WA0123456789abcdef0123456789abcdef", Record: "true",
	}
}

// FuzzInstructionJSON: for arbitrary strings, numbers and flags the
// hand-written encoder agrees with encoding/json.
func FuzzInstructionJSON(f *testing.F) {
	for i, s := range instructionStrings {
		f.Add(s, instructionStrings[(i+1)%len(instructionStrings)], "", i-3, i%2 == 0, i%3 == 0)
	}
	f.Fuzz(func(t *testing.T, a, b, c string, n int, set, flag bool) {
		// Escaping is per rune, so length adds nothing; long strings would
		// only make the fuzzer's minimization (quadratic in length, per
		// argument) eat a short -fuzztime.
		if len(a) > 32 || len(b) > 32 || len(c) > 32 {
			t.Skip()
		}
		var p *bool
		if set {
			p = &flag
		}
		in := Instruction{Instruction: a, ActivitySid: b, To: c, From: a + b, Record: c,
			Timeout: n, MaxParticipants: -n, URL: b, Accept: p, Muted: p, EarlyMedia: p,
			Beep: a, WaitURL: c, StatusCallbackEvents: EventList{a, b}, ConferenceStatusCallbackEvent: EventList{c},
			StatusCallbackEvent: EventList{a, b, c}, Region: b, SupervisorMode: a}
		checkInstructionJSON(t, "fuzz", &in)
	})
}

// BenchmarkInstructionJSON reports encoding/json against appendJSON for a
// typical conference instruction (the numbers are for reading, not checked).
func BenchmarkInstructionJSON(b *testing.B) {
	in := conferenceInstruction()
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("JSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := in.JSON(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("appendJSON/reused-buffer", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 512)
		for b.Loop() {
			buf = in.appendJSON(buf[:0])
		}
	})
}
