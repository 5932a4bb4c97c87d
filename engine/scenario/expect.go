package scenario

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/flowd/flowd/engine/flow"
	"github.com/flowd/flowd/engine/twiliosim"
)

// expect checks every expectation of a step and reports all that fail.
func (h *harness) expect(e *Expect) error {
	var fails []string
	failf := func(format string, args ...any) { fails = append(fails, fmt.Sprintf(format, args...)) }

	// A misspelt name would make every negative expectation about it
	// (not_hears, absent, not_heard …) pass: refuse it first.
	for _, name := range e.parties() {
		if !h.knownParty(name) {
			failf("%s", h.unknownParty(name))
		}
	}
	if len(fails) > 0 {
		return fmt.Errorf("%d expectation(s) failed:\n    - %s", len(fails), strings.Join(fails, "\n    - "))
	}

	v, verr := h.view(len(e.History) > 0)
	if e.State != "" {
		switch {
		case verr != nil:
			failf("state should be %s, but flowd has no such call: %v", e.State, verr)
		case v.State != e.State:
			failf("state should be %s, but is %s", e.State, v.State)
		}
	}
	for _, a := range sortedParties(e.Hears) {
		for _, b := range e.Hears[a] {
			if !h.sim.Hears(h.party(a), h.party(b)) {
				failf("%s should hear %s, but does not (%s hears: %s)", a, b, a, h.describe(a))
			}
		}
	}
	for _, a := range sortedParties(e.NotHears) {
		for _, b := range e.NotHears[a] {
			if h.sim.Hears(h.party(a), h.party(b)) {
				failf("%s should not hear %s, but does (%s hears: %s)", a, b, a, h.describe(a))
			}
		}
	}
	for _, p := range e.HearsMusic {
		if hd := h.sim.Hearing(h.party(p)); hd.Kind != "music" {
			failf("%s should hear music, but hears %s", p, h.describe(p))
		}
	}
	parts := h.participants()
	for _, p := range e.OnHold {
		if pi, ok := parts[h.party(p)]; !ok || !pi.Hold {
			failf("%s should be on hold, but is %s", p, partState(pi, ok))
		}
	}
	for _, p := range e.NotOnHold {
		if pi, ok := parts[h.party(p)]; ok && pi.Hold {
			failf("%s should not be on hold, but is", p)
		}
	}
	for _, p := range e.Muted {
		if pi, ok := parts[h.party(p)]; !ok || !pi.Muted {
			failf("%s should be muted, but is %s", p, partState(pi, ok))
		}
	}
	for _, p := range e.Coaching {
		if pi, ok := parts[h.party(p)]; !ok || !pi.Coaching {
			failf("%s should be coaching, but is %s", p, partState(pi, ok))
		}
	}
	for _, r := range e.Present {
		if _, ok := parts[h.party(r)]; !ok {
			failf("%s should be in the conference, but is not", r)
		}
	}
	for _, r := range e.Absent {
		if _, ok := parts[h.party(r)]; ok {
			failf("%s should not be in the conference, but is", r)
		}
	}
	for _, p := range sortedParties(e.Heard) {
		said := h.sim.Said(h.party(p))
		for _, text := range e.Heard[p] {
			if indexOf(said, text) < 0 {
				failf("%s should have heard %q, but heard only %s", p, text, quoteList(said))
			}
		}
	}
	for _, p := range sortedParties(e.NotHeard) {
		said := h.sim.Said(h.party(p))
		for _, text := range e.NotHeard[p] {
			if i := indexOf(said, text); i >= 0 {
				failf("%s should never hear %q, but heard %q", p, text, said[i])
			}
		}
	}
	for _, p := range sortedParties(e.HeardBefore) {
		if err := h.heardInOrder(p, e.HeardBefore[p]); err != "" {
			failf("%s", err)
		}
	}
	for _, role := range sortedKeys(e.TaskStatus) {
		want := e.TaskStatus[role]
		if verr != nil {
			failf("the %s task should be %s, but flowd has no call to read it from", role, want)
			continue
		}
		sid := h.roleTask(v, role)
		if sid == "" {
			failf("the %s task should be %s, but no %s role ever held a task (%s)", role, want, role, h.taskRoles(v))
			continue
		}
		t, ok := h.sim.Task(sid)
		switch {
		case !ok:
			failf("the %s task should be %s, but there is no such task", role, want)
		case t.AssignmentStatus != want:
			failf("the %s task should be %s, but is %s", role, want, t.AssignmentStatus)
		}
	}
	if len(e.REST) > 0 {
		reqs := h.restLog()
		for _, want := range e.REST {
			found := false
			for _, r := range reqs {
				if strings.Contains(r, want) {
					found = true
					break
				}
			}
			if !found {
				failf("flowd should have sent a REST call matching %q; it sent:\n      %s", want, strings.Join(reqs, "\n      "))
			}
		}
	}
	if len(e.RESTCount) > 0 {
		reqs := h.restLog()
		for _, want := range sortedKeys(e.RESTCount) {
			n := 0
			for _, r := range reqs {
				// A temporary refusal (429, 5xx) is retried by flowd
				// itself: only what Twilio decided on counts.
				if strings.Contains(r, want) && !temporaryRefusal(r) {
					n++
				}
			}
			if n != e.RESTCount[want] {
				failf("flowd should have sent %d REST call(s) matching %q, but sent %d:\n      %s", e.RESTCount[want], want, n, strings.Join(reqs, "\n      "))
			}
		}
	}
	for _, want := range e.History {
		found := false
		for _, en := range v.History {
			if strings.Contains(en.Kind+" "+string(en.Data), want) {
				found = true
				break
			}
		}
		if !found {
			failf("the task's history should mention %q", want)
		}
	}
	for _, p := range e.CallEnded {
		ci, ok := h.sim.Call(h.endedParty(p))
		if !ok {
			failf("%s should have a call that ended, but has none", p)
		} else if !ended(ci.Status) {
			failf("%s's call should have ended, but is %s", p, ci.Status)
		}
	}
	if e.OpenTasks != nil {
		var open []string
		for _, t := range h.sim.Tasks() {
			switch t.AssignmentStatus {
			case "pending", "reserved", "assigned":
				q := t.Queue
				if q == "" {
					q = "no queue"
				}
				open = append(open, fmt.Sprintf("%s (%s, %s)", t.Sid, t.AssignmentStatus, q))
			}
		}
		if len(open) != *e.OpenTasks {
			failf("%d task(s) should be open (pending, reserved or assigned), but %d are: %s", *e.OpenTasks, len(open), quoteList(open))
		}
	}
	if len(fails) > 0 {
		return fmt.Errorf("%d expectation(s) failed:\n    - %s", len(fails), strings.Join(fails, "\n    - "))
	}
	return nil
}

func ended(status string) bool {
	switch status {
	case "completed", "busy", "no-answer", "failed", "canceled":
		return true
	}
	return false
}

func partState(p twiliosim.ParticipantInfo, ok bool) string {
	if !ok {
		return "not in the conference"
	}
	var s []string
	if p.Hold {
		s = append(s, "on hold")
	}
	if p.Muted {
		s = append(s, "muted")
	}
	if p.Coaching {
		s = append(s, "coaching")
	}
	if len(s) == 0 {
		return "connected, not held, muted or coaching"
	}
	return strings.Join(s, ", ")
}

// participants maps party and CallSid to the participant in the call's
// conference.
func (h *harness) participants() map[string]twiliosim.ParticipantInfo {
	out := map[string]twiliosim.ParticipantInfo{}
	v, err := h.view(false)
	if err != nil {
		return out
	}
	name := v.ConferenceSid
	if name == "" {
		name = v.TaskSid
	}
	if name == "" {
		return out
	}
	for _, p := range h.sim.Participants(name) {
		if p.Status != "connected" {
			continue
		}
		out[p.CallSid] = p
		out[p.Party] = p
	}
	return out
}

// describe says what a party hears now, for failure messages.
func (h *harness) describe(party string) string {
	hd := h.sim.Hearing(h.party(party))
	switch hd.Kind {
	case "music":
		return "music (" + hd.Source + ")"
	case "parties":
		if len(hd.Parties) == 0 {
			return "nobody"
		}
		return strings.Join(h.names(hd.Parties), ", ")
	case "":
		return "nothing (not in a call)"
	}
	return hd.Kind
}

// names turns addresses back into the scenario's names where it can.
func (h *harness) names(parties []string) []string {
	byAddr := map[string]string{}
	for name, w := range h.file.Workers {
		byAddr[w.ContactURI] = name
	}
	if h.caller != "" {
		byAddr[h.caller] = "customer"
	}
	if v, err := h.view(false); err == nil {
		for role, p := range v.Roles {
			if p.Address != "" && byAddr[p.Address] == "" {
				byAddr[p.Address] = role
			}
		}
	}
	out := make([]string, len(parties))
	for i, p := range parties {
		if n := byAddr[p]; n != "" {
			out[i] = n + " (" + p + ")"
		} else {
			out[i] = p
		}
	}
	return out
}

// restLog formats the REST requests flowd sent as "METHOD path k=v …".
func (h *harness) restLog() []string {
	var out []string
	for _, r := range h.sim.Requests() {
		form := url.Values(r.Form)
		keys := make([]string, 0, len(form))
		for k := range form {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var kv []string
		for _, k := range keys {
			kv = append(kv, k+"="+strings.Join(form[k], ","))
		}
		path := r.Path
		if i := strings.Index(path, "/Conferences/"); i >= 0 {
			path = path[i:]
		} else if i := strings.Index(path, "/Calls/"); i >= 0 {
			path = path[i:]
		}
		out = append(out, fmt.Sprintf("%s %s %s -> %d", r.Method, path, strings.Join(kv, " "), r.Status))
	}
	return out
}

// temporaryRefusal reports whether a restLog line was answered 429 or 5xx.
func temporaryRefusal(line string) bool {
	_, status, ok := strings.Cut(line[strings.LastIndex(line, " -> ")+1:], "-> ")
	return ok && (status == "429" || strings.HasPrefix(status, "5"))
}

func indexOf(list []string, sub string) int { return indexOfFrom(list, sub, 0) }

func indexOfFrom(list []string, sub string, from int) int {
	for i := from; i < len(list); i++ {
		if strings.Contains(list[i], sub) {
			return i
		}
	}
	return -1
}

func quoteList(list []string) string {
	if len(list) == 0 {
		return "nothing"
	}
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// timeline renders what each party heard and flowd's history, for failure
// output and -v.
func (h *harness) timeline() string {
	var b strings.Builder
	parties := map[string]bool{}
	for _, c := range h.sim.Calls() {
		parties[c.Party] = true
	}
	names := sortedKeys(parties)
	for _, p := range names {
		fmt.Fprintf(&b, "  %s heard:\n", h.names([]string{p})[0])
		for _, hd := range h.sim.Timeline(p) {
			at := hd.At.Format("15:04:05")
			switch hd.Kind {
			case "say":
				fmt.Fprintf(&b, "    %s said %q (%s)\n", at, hd.Text, hd.Source)
			case "music", "play":
				fmt.Fprintf(&b, "    %s %s %s (%s)\n", at, hd.Kind, hd.URL, hd.Source)
			case "parties":
				fmt.Fprintf(&b, "    %s hears %s\n", at, strings.Join(h.names(hd.Parties), ", "))
			default:
				fmt.Fprintf(&b, "    %s %s (%s)\n", at, hd.Kind, hd.Source)
			}
		}
	}
	if v, err := h.view(true); err == nil {
		fmt.Fprintf(&b, "  flowd: flow %s, state %s\n", v.Flow, v.State)
		for _, en := range v.History {
			if en.Kind == "guard" || en.Kind == "action" {
				continue
			}
			fmt.Fprintf(&b, "    %s %-11s %s\n", en.At.Format("15:04:05"), en.Kind, historyLine(en.Kind, en.Data))
		}
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// heardInOrder checks that party heard the items in order: text said to
// them, or "@name": the moment they started hearing that party live.
func (h *harness) heardInOrder(party string, items []string) string {
	tl := h.sim.Timeline(h.party(party))
	pos := 0
	for n, item := range items {
		found := false
		for ; pos < len(tl); pos++ {
			hd := tl[pos]
			if name, ok := strings.CutPrefix(item, "@"); ok {
				if hd.Kind == "parties" && contains(hd.Parties, h.party(name)) {
					found = true
				}
			} else if hd.Kind == "say" && strings.Contains(hd.Text, item) {
				found = true
			}
			if found {
				pos++
				break
			}
		}
		if !found {
			what := fmt.Sprintf("%q", item)
			if name, ok := strings.CutPrefix(item, "@"); ok {
				what = "hearing " + name
			}
			if n == 0 {
				return fmt.Sprintf("%s should have heard %s, but did not (heard %s)", party, what, quoteList(h.sim.Said(h.party(party))))
			}
			return fmt.Sprintf("%s should have heard %s after %q, but did not in that order", party, what, items[n-1])
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parties lists every party name an expectation mentions, sorted, once each.
func (e *Expect) parties() []string {
	seen := map[string]bool{}
	add := func(names ...string) {
		for _, n := range names {
			seen[n] = true
		}
	}
	for _, m := range []map[string][]string{e.Hears, e.NotHears} {
		for a, bs := range m {
			add(a)
			add(bs...)
		}
	}
	for _, m := range []map[string][]string{e.Heard, e.NotHeard} {
		for a := range m {
			add(a)
		}
	}
	for a, items := range e.HeardBefore {
		add(a)
		for _, it := range items {
			if name, ok := strings.CutPrefix(it, "@"); ok {
				add(name)
			}
		}
	}
	add(e.HearsMusic...)
	add(e.OnHold...)
	add(e.NotOnHold...)
	add(e.Muted...)
	add(e.Coaching...)
	add(e.Present...)
	add(e.Absent...)
	add(e.CallEnded...)
	return sortedKeys(seen)
}

// knownParty: a worker of the file, a role of the flow, or an address.
// unknownParty says why name is not a party, and the closest one.
func (h *harness) unknownParty(name string) string {
	names := slices.Concat(sortedKeys(h.file.Workers), flow.BuiltinRoles, h.flow.Roles)
	msg := fmt.Sprintf("unknown party %q: not a worker of this file, a role of flow %s, or an address (+E.164, client:ID, sip:URI)", name, h.flow.Name)
	if s := flow.Suggest(name, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	return msg
}

func (h *harness) knownParty(name string) bool {
	if h.file.Workers[name] != nil || h.flow.HasRole(name) {
		return true
	}
	for _, prefix := range []string{"+", "client:", "sip:"} {
		if strings.HasPrefix(name, prefix) && len(name) > len(prefix) {
			return true
		}
	}
	return false
}
