package scenario

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// historyRecord is the part of a history entry's data (the engine's record
// of one event, or of one REST call) a failing scenario's timeline shows.
type historyRecord struct {
	Event     string         `json:"event"`
	Fields    map[string]any `json:"fields"`
	Params    map[string]any `json:"params"`
	Stale     string         `json:"stale"`
	Guards    []historyGuard `json:"guards"`
	From      string         `json:"from"`
	To        string         `json:"to"`
	Internal  bool           `json:"internal"`
	Line      int            `json:"line"`
	Unhandled bool           `json:"unhandled"`
	Actions   []struct {
		Action string `json:"action"`
		Line   int    `json:"line"`
		Error  string `json:"error"`
	} `json:"actions"`
	Warnings []string `json:"warnings"`

	// A REST call (kind rest).
	Op      string `json:"op"`
	Action  string `json:"action"`
	Status  int    `json:"status"`
	Code    int    `json:"code"`
	Error   string `json:"error"`
	Outcome string `json:"outcome"`
}

type historyGuard struct {
	If     string `json:"if"`
	Line   int    `json:"line"`
	Result bool   `json:"result"`
	Error  string `json:"error"`
}

// historyLine renders one history entry for a person fixing a flow or a
// scenario: the event and the fields that tell calls apart (role, status,
// digits … not SIDs), the states it moved between, the flow line that
// fired and its actions, or that nothing handled it; for a REST call, the
// request and how it ended. An entry it does not know is shown as its
// JSON, shortened.
func historyLine(kind string, data []byte) string {
	var r historyRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return truncate(string(data), 160)
	}
	if kind == "rest" && r.Op != "" {
		s := truncate(r.Op, 140)
		if r.Action != "" {
			s = r.Action + ": " + s
		}
		var res []string
		if r.Status != 0 {
			res = append(res, fmt.Sprint(r.Status))
		}
		if r.Outcome != "" {
			res = append(res, r.Outcome)
		}
		if r.Code != 0 {
			res = append(res, fmt.Sprintf("Twilio error %d", r.Code))
		}
		if len(res) > 0 {
			s += " → " + strings.Join(res, " ")
		}
		if r.Error != "" {
			s += ": " + truncate(r.Error, 160)
		}
		return s
	}
	if r.Event == "" {
		return truncate(string(data), 160)
	}
	var b strings.Builder
	b.WriteString(r.Event)
	if f := shownFields(r.Fields, r.Params); f != "" {
		fmt.Fprintf(&b, " (%s)", f)
	}
	switch {
	case r.Stale != "":
		fmt.Fprintf(&b, " in %s, ignored: %s", r.From, r.Stale)
	case r.Unhandled:
		fmt.Fprintf(&b, " in %s", r.From)
		var lines []string
		for _, g := range r.Guards {
			if g.Error == "" {
				lines = append(lines, fmt.Sprint(g.Line))
			}
		}
		if len(lines) > 0 {
			fmt.Fprintf(&b, " (no if: held, line %s)", strings.Join(lines, ", "))
		}
	case r.To != "" && !r.Internal:
		fmt.Fprintf(&b, ": %s → %s", r.From, r.To)
	case r.From != "":
		fmt.Fprintf(&b, " in %s", r.From)
	}
	if r.Line > 0 && !r.Unhandled {
		fmt.Fprintf(&b, ", line %d", r.Line)
	}
	var acts []string
	for _, a := range r.Actions {
		s := a.Action
		if a.Error != "" {
			s += fmt.Sprintf(" (line %d) failed: %s", a.Line, a.Error)
		}
		acts = append(acts, s)
	}
	if len(acts) > 0 {
		b.WriteString(": " + strings.Join(acts, ", "))
	}
	for _, g := range r.Guards {
		if g.Error != "" {
			fmt.Fprintf(&b, "; if: at line %d failed: %s", g.Line, g.Error)
		}
	}
	for _, w := range r.Warnings {
		b.WriteString("; warning: " + w)
	}
	return b.String()
}

// shownFields lists an event's fields and a command's parameters as
// name=value, leaving out what only identifies (SIDs, the event's own
// name) and what is empty.
func shownFields(fields, params map[string]any) string {
	var out []string
	add := func(m map[string]any) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "name" || k == "command" || k == "label" || strings.HasSuffix(k, "_sid") {
				continue
			}
			switch v := m[k].(type) {
			case nil:
			case string:
				if v != "" {
					out = append(out, k+"="+truncate(v, 60))
				}
			case bool:
				if v {
					out = append(out, k+"=true")
				}
			case float64:
				if v != 0 {
					out = append(out, fmt.Sprintf("%s=%v", k, v))
				}
			default:
				j, _ := json.Marshal(v)
				out = append(out, k+"="+truncate(string(j), 60))
			}
		}
	}
	add(fields)
	add(params)
	return strings.Join(out, " ")
}
