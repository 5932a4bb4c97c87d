package twimltest

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
}
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...) }

func TestEqual(t *testing.T) {
	a := `<?xml version="1.0" encoding="UTF-8"?><Response><Dial timeout="5" action="/a"><Conference beep="false">x</Conference></Dial><Hangup/></Response>`
	same := `<Response>
  <Dial action="/a" timeout="5">
    <Conference beep="false"> x </Conference>
  </Dial>
  <Hangup></Hangup>
</Response>`
	for name, tc := range map[string]struct {
		other string
		equal bool
	}{
		"attribute order and whitespace": {same, true},
		"attribute value":                {strings.Replace(same, `beep="false"`, `beep="true"`, 1), false},
		"extra attribute":                {strings.Replace(same, `<Hangup>`, `<Hangup x="1">`, 1), false},
		"text":                           {strings.Replace(same, " x ", "y", 1), false},
		"child order":                    {`<Response><Hangup/><Dial action="/a" timeout="5"><Conference beep="false">x</Conference></Dial></Response>`, false},
	} {
		r := &recorder{TB: t}
		Equal(r, a, tc.other)
		if r.failed == tc.equal {
			t.Errorf("%s: failed=%v, message %s", name, r.failed, r.msg)
		}
		if r.failed && !strings.Contains(r.msg, "-want +got") {
			t.Errorf("%s: message lacks a diff: %s", name, r.msg)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, doc := range []string{"", "<a>", "<a/><b/>", "text<a/>", "<a></b>"} {
		if _, err := ParseString(doc); err == nil {
			t.Errorf("ParseString(%q): no error", doc)
		}
	}
	r := &recorder{TB: t}
	Parse(r, "<a")
	if !r.failed {
		t.Error("Parse did not fail the test")
	}
}

func TestNode(t *testing.T) {
	n, err := ParseString(`<Response><Dial><Conference muted="true">room</Conference></Dial></Response>`)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := n.Find("Conference")
	if !ok || c.Text != "room" {
		t.Fatalf("Find = %+v, %v", c, ok)
	}
	if v, ok := c.Attr("muted"); !ok || v != "true" {
		t.Errorf("Attr = %q, %v", v, ok)
	}
	if _, ok := n.Find("Queue"); ok {
		t.Error("found a missing element")
	}
	want := "<Response>\n  <Dial>\n    <Conference muted=\"true\"> \"room\"\n"
	if n.String() != want {
		t.Errorf("String = %q", n.String())
	}
}

func TestDiff(t *testing.T) {
	if d := Diff("a\nb\nc\n", "a\nx\nc\n"); d != "  a\n- b\n+ x\n  c\n" {
		t.Errorf("diff = %q", d)
	}
	if d := Diff("a\n", "a\nb\n"); d != "  a\n+ b\n" {
		t.Errorf("diff = %q", d)
	}
}
