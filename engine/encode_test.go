package engine

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/flowd/flowd/engine/flow"
)

// tricky strings: HTML characters, control characters, invalid UTF-8, the
// JavaScript line separators, non-ASCII text.
var trickyStrings = []string{
	"", "plain", `<b>&"quoted"\</b>`, "tab\tnew\nline\rcr\bbs\fff\x00\x1f\x7f",
	"bad \xff\xfe utf8", "ls\u2028ps\u2029", "héllo 日本 🎧", "+15551234567",
}

var trickyValues = []any{
	nil, true, false, 0.0, math.Copysign(0, -1), 1.0, 1.5, -3.25, 1e20, 1e21, 1e-6, 1e-7, 123456789.125,
	"x", int(42), int64(-7), []any{"a", 1.0, nil, map[string]any{"z": 1.0, "a": "b"}},
	map[string]any{}, []any{}, []string{"a", "<b>"}, map[string]string{"k": "v"},
	struct{ A int }{1}, // through encoding/json
}

// TestEncodersMatchEncodingJSON: the hand-written encoders write exactly
// what encoding/json writes, for values with every field set (so a field
// added to a struct but not to its encoder fails here) and for tricky
// content.
func TestEncodersMatchEncodingJSON(t *testing.T) {
	values := map[string]any{}
	for i, s := range trickyStrings {
		values[s] = trickyValues[i%len(trickyValues)]
	}
	for i, v := range trickyValues {
		values[string(rune('a'+i))] = v
	}

	full := &sessionData{}
	fill(reflect.ValueOf(full).Elem(), values)
	fullRec := &record{}
	fill(reflect.ValueOf(fullRec).Elem(), values)

	sessions := []*sessionData{
		{},
		newSessionData(),
		full,
		{CallSid: "CA1", Tasks: map[string]*taskFacts{"WT1": nil}, Roles: map[string]*participantFacts{"agent": nil}},
		{Vars: values, Call: map[string]any{"from": "+1555"}, Announcements: []announcement{{Text: "hi"}, {Text: "<b>", Voice: "alice"}}},
	}
	for _, s := range trickyStrings {
		sessions = append(sessions, &sessionData{CallSid: s, Left: map[string]string{s: s}, Whisper: map[string]string{"agent": s}})
	}
	for i, d := range sessions {
		want, wantErr := json.Marshal(d)
		got, gotErr := d.appendJSON(nil)
		if (wantErr != nil) != (gotErr != nil) || wantErr == nil && !bytes.Equal(got, want) {
			t.Errorf("sessionData #%d:\n got %s (%v)\nwant %s (%v)", i, got, gotErr, want, wantErr)
		}
	}

	records := []*record{{}, fullRec, {Event: "x", Fields: values, Guards: []guardRecord{{If: "a < b"}}}}
	for i, r := range records {
		want, wantErr := json.Marshal(r)
		got, gotErr := r.appendJSON(nil)
		if (wantErr != nil) != (gotErr != nil) || wantErr == nil && !bytes.Equal(got, want) {
			t.Errorf("record #%d:\n got %s (%v)\nwant %s (%v)", i, got, gotErr, want, wantErr)
		}
	}

	fullReply := &Reply{}
	fill(reflect.ValueOf(fullReply).Elem(), values)
	for i, r := range []*Reply{{}, {Kind: ReplyTwiML, Body: []byte("<Response/>"), Session: "CA1", State: "s"}, {Kind: ReplyEmpty, Body: []byte{}}, {Body: []byte{0, 1, 2, 0xff}}, fullReply} {
		want, _ := json.Marshal(r)
		if got := r.appendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("reply #%d:\n got %s\nwant %s", i, got, want)
		}
	}

	for _, bad := range []float64{math.NaN(), math.Inf(1)} {
		if _, err := (&sessionData{Vars: map[string]any{"n": bad}}).appendJSON(nil); err == nil {
			t.Errorf("vars holding %v: no error, encoding/json refuses it", bad)
		}
	}
}

// fill sets every field of a struct (recursively) to a non-zero value.
func fill(v reflect.Value, anyMap map[string]any) {
	if v.Type() == reflect.TypeOf(time.Time{}) {
		v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("s<&>" + v.Type().Name())
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint8:
		v.SetUint(0xfe)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), anyMap)
			}
		}
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), anyMap)
		v.Set(p)
	case reflect.Map:
		if v.Type() == reflect.TypeOf(map[string]any{}) {
			v.Set(reflect.ValueOf(anyMap))
			return
		}
		m := reflect.MakeMap(v.Type())
		for _, k := range []string{"b-key", "a-key"} {
			e := reflect.New(v.Type().Elem()).Elem()
			fill(e, anyMap)
			m.SetMapIndex(reflect.ValueOf(k), e)
		}
		v.Set(m)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		fill(s.Index(0), anyMap)
		v.Set(s)
	case reflect.Interface:
		v.Set(reflect.ValueOf("iface"))
	default:
		panic("fill: unhandled kind " + v.Kind().String())
	}
}

// FuzzSessionDataJSON: for arbitrary strings and numbers in the facts, the
// hand-written encoder agrees with encoding/json.
func FuzzSessionDataJSON(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s, s, 1.5, true)
	}
	f.Fuzz(func(t *testing.T, key, val string, num float64, flag bool) {
		d := &sessionData{
			CallSid: val,
			Call:    map[string]any{key: val, "n": num},
			Vars:    map[string]any{key: []any{num, flag, val, nil}},
			Roles:   map[string]*participantFacts{key: {Participant: flow.Participant{CallSid: val, Hold: flag}}},
			Tasks:   map[string]*taskFacts{val: {Attributes: map[string]any{key: map[string]any{val: num}}}},
			Left:    map[string]string{key: val},
		}
		want, wantErr := json.Marshal(d)
		got, gotErr := d.appendJSON(nil)
		if (wantErr != nil) != (gotErr != nil) || wantErr == nil && !bytes.Equal(got, want) {
			t.Fatalf("\n got %s (%v)\nwant %s (%v)", got, gotErr, want, wantErr)
		}
	})
}
