package flow

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// The semantic checks run on the decoded flow. Each reports with its own
// code (codes.go). Conventions they share:
//
//   - The transitions that apply in a state are its own handlers plus the
//     flow-level handlers of events it does not handle itself. A final state
//     ignores every event.
//   - A transition without to: stays (internal: no exit, no entry). One with
//     to: — even to its own state — runs exit, then do, then the target's entry.

type validator struct {
	f     *Flow
	d     *decoder
	src   *source
	env   map[string]string
	diags Diagnostics

	handlersOf map[*State][]*Transition
	// in and out are the transitions into and out of each state (edges),
	// computed once handlersOf is.
	in, out map[*State][]edge
}

func (v *validator) add(p Pos, code, format string, args ...any) {
	v.diags = append(v.diags, diag(p, code, format, args...))
}

func (v *validator) run() {
	f := v.f
	v.handlersOf = map[*State][]*Transition{}
	for _, name := range f.StateOrder {
		s := f.States[name]
		if s.Final {
			continue
		}
		var ts []*Transition
		for _, e := range s.OnOrder {
			ts = append(ts, s.On[e]...)
		}
		for _, e := range f.OnOrder {
			if _, own := s.On[e]; !own {
				ts = append(ts, f.On[e]...)
			}
		}
		// A transition whose guard is always false never fires: it leads
		// nowhere (constant-guard says so).
		ts = slices.DeleteFunc(ts, func(t *Transition) bool {
			val, ok := t.If.Constant()
			return ok && !val
		})
		v.handlersOf[s] = ts
	}
	v.in, v.out = v.edges()
	v.checkInitial()
	v.checkEvents()
	v.checkTransitions()
	v.checkRoles()
	v.checkExprs()
	v.checkCommands()
	if f.States[f.Initial] != nil {
		// Reachability would only echo an unknown target state: it waits
		// until those are fixed.
		if !v.hasCode(CodeUnknownState) {
			v.checkGraph()
		}
		v.checkContexts()
		v.checkInstructionEvents()
		v.checkConference()
		v.checkHold()
		v.checkQueue()
	}
}

func (v *validator) hasCode(codes ...string) bool {
	for _, d := range v.diags {
		if contains(codes, d.Code) {
			return true
		}
	}
	return false
}

func (v *validator) knownRoles() []string {
	return append(append([]string{}, BuiltinRoles...), v.f.Roles...)
}

// target is the state a transition taken in s leads to.
func (v *validator) target(s *State, t *Transition) *State {
	if t.To == "" {
		return s
	}
	return v.f.States[t.To]
}

func (v *validator) checkInitial() {
	f := v.f
	if _, ok := f.States[f.Initial]; ok {
		return
	}
	p := f.Pos
	if v.d.initialNode != nil {
		p = v.src.nodePos(v.d.initialNode)
	}
	msg := fmt.Sprintf("initial state %q is not defined under states:", f.Initial)
	if s := suggest(f.Initial, f.StateOrder); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	v.add(p, CodeUnknownInitial, "%s", msg)
}

func (v *validator) checkEvents() {
	f := v.f
	var cmds []string
	for name := range f.Commands {
		cmds = append(cmds, name)
	}
	sort.Strings(cmds)
	var all []string
	for _, e := range Events {
		all = append(all, e.Name)
	}
	all = append(all, cmds...)
	for _, ek := range v.d.eventKeys {
		if _, ok := EventByName(ek.name); ok || f.IsCommand(ek.name) {
			continue
		}
		p := v.src.nodePos(ek.node)
		if strings.Contains(ek.name, ".") {
			msg := fmt.Sprintf("unknown event %q", ek.name)
			if s := suggest(ek.name, all); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			} else {
				msg += "; see the event list in docs/language.md"
			}
			v.add(p, CodeUnknownEvent, "%s", msg)
			continue
		}
		msg := fmt.Sprintf("%q is neither an event nor a command declared under commands:", ek.name)
		if s := suggest(ek.name, all); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		} else {
			msg += "; declare it under commands: to accept it from the command API"
		}
		v.add(p, CodeUnknownCommand, "%s", msg)
	}
	// Commands nobody handles.
	handled := map[string]bool{}
	for _, ek := range v.d.eventKeys {
		handled[ek.name] = true
	}
	for _, name := range cmds {
		if !handled[name] {
			v.add(f.Commands[name].Pos, CodeUnhandledCommand, "command %s is declared but handled in no state nor at flow level", name)
		}
	}
}

func (v *validator) checkTransitions() {
	f := v.f
	check := func(ts []*Transition) {
		for i, t := range ts {
			if t.To != "" && f.States[t.To] == nil {
				msg := fmt.Sprintf("transition to unknown state %q", t.To)
				if s := suggest(t.To, f.StateOrder); s != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", s)
				}
				v.add(t.toPos, CodeUnknownState, "%s", msg)
			}
			if val, ok := t.If.Constant(); ok {
				if val {
					v.add(t.If.Pos, CodeConstantGuard, "if: %s is always true, whatever the call: write this transition without if:", strings.TrimSpace(t.If.Source))
				} else {
					v.add(t.If.Pos, CodeConstantGuard, "if: %s is always false, whatever the call: this transition never fires", strings.TrimSpace(t.If.Source))
				}
			}
			if i > 0 {
				for _, prev := range ts[:i] {
					always, constant := prev.If.Constant()
					if prev.If == nil && !v.d.badGuards[prev] {
						v.add(t.Pos, CodeShadowedTransition,
							"this transition for %s can never fire: the one at line %d has no if: and always fires first", t.Event, prev.Pos.Line)
						break
					}
					if constant && always {
						v.add(t.Pos, CodeShadowedTransition,
							"this transition for %s can never fire: the one at line %d has an if: that always holds, and fires first", t.Event, prev.Pos.Line)
						break
					}
				}
			}
		}
	}
	for _, e := range f.OnOrder {
		check(f.On[e])
	}
	for _, name := range f.StateOrder {
		s := f.States[name]
		for _, e := range s.OnOrder {
			check(s.On[e])
		}
		if s.Final && len(s.OnOrder) > 0 {
			p := s.Pos
			for _, ek := range v.d.eventKeys {
				if ek.state == s {
					p = v.src.nodePos(ek.node)
					break
				}
			}
			v.add(p, CodeFinalTransitions, "state %s is final: it ignores events, so its on: handlers can never run (remove final: true, or the handlers)", s.Name)
		}
	}
}

func (v *validator) unknownRole(p Pos, role, where string) {
	msg := fmt.Sprintf("unknown role %q%s", role, where)
	if s := suggest(role, v.knownRoles()); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	} else {
		msg += "; known roles: " + strings.Join(v.knownRoles(), ", ") + " (declare more under roles:)"
	}
	v.add(p, CodeUnknownRole, "%s", msg)
}

func (v *validator) checkRoles() {
	for _, r := range v.d.roles {
		if !v.f.HasRole(r.value) {
			v.unknownRole(v.src.nodePos(r.node), r.value, "")
		}
	}
}

// guardAssures reports whether the transition's if: makes sure role is in
// the call whenever the site (a template in one of its do: actions) runs.
func guardAssures(ctx siteCtx, role string) bool {
	return ctx.where != "if" && ctx.tr != nil && ctx.tr.If != nil && ctx.tr.If.nonNil[role]
}

func (v *validator) checkExprs() {
	f := v.f
	used := map[string]bool{}
	varTypes := v.varTypes()
	// Entry and exit lists have several sites each: their events once.
	type listKey struct {
		state *State
		where string
	}
	eventsOfList := map[listKey][]string{}
	for _, site := range v.d.exprs {
		ev, isEvent := EventByName(site.ctx.event)
		cmd := f.Commands[site.ctx.event]
		// Entry and exit actions run on the event of the transition that
		// enters or leaves the state: any of these.
		var listEvents []string
		if site.ctx.tr == nil && site.ctx.state != nil && (site.ctx.where == "entry" || site.ctx.where == "exit") {
			k := listKey{site.ctx.state, site.ctx.where}
			evs, ok := eventsOfList[k]
			if !ok {
				evs = v.listEvents(site.ctx)
				eventsOfList[k] = evs
			}
			listEvents = evs
		}
		for _, r := range site.refs {
			p := v.src.valuePos(site.node, r.Off)
			switch {
			case r.Const != "" && r.Root == "event":
				if isEvent && site.ctx.event != "" {
					fs, ok := ev.Field(r.Field)
					if !ok {
						continue // unknown-field, reported at the read
					}
					v.checkComparison(p, r, "event."+r.Field, fs.Type, fs.Role, fs.Values)
					continue
				}
				if cmd != nil {
					if r.Field == eventFieldCommand || r.Field == eventFieldName {
						v.checkComparison(p, r, "event."+r.Field, "string", false, nil)
					}
					continue // another field: unknown-field, reported at the read
				}
				// Outside a handler the event is not known; a role field
				// is still named role.
				if r.Const == "string" && r.Field == eventFieldRole && !f.HasRole(r.Name) {
					v.unknownRole(p, r.Name, " compared with event."+r.Field)
				}
			case r.Const != "" && r.Root == "params":
				if cmd == nil || cmd.Params[r.Field] == nil {
					continue // unknown-param, reported at the read
				}
				pp := cmd.Params[r.Field]
				typ := pp.Type
				if typ == "" {
					typ = "string"
				}
				var values []string
				if typ == "string" {
					values = pp.Enum
				}
				v.checkComparison(p, r, "params."+r.Field, typ, false, values)
			case r.Const != "" && r.Root == "vars":
				// Only a variable every value of which has one type
				// (vartypes.go); one never assigned is unknown-var.
				if typ, ok := varTypes[r.Field]; ok {
					v.checkComparison(p, r, "vars."+r.Field, typ, false, nil)
				}
			case r.Root == "state" && r.Const == "string":
				if f.States[r.Name] == nil {
					msg := fmt.Sprintf("state is compared with %q, which is not a state of this flow", r.Name)
					if s := suggest(r.Name, f.StateOrder); s != "" {
						msg += fmt.Sprintf(" (did you mean %s?)", s)
					}
					v.add(p, CodeUnknownValue, "%s", msg)
				}
			case r.Root == "participants":
				switch {
				case r.Name != "" && !f.HasRole(r.Name):
					v.unknownRole(p, r.Name, " in participants."+r.Name)
				case r.Unguarded && !guardAssures(site.ctx, r.Name):
					v.add(p, CodeUnguardedParticipant, "participants.%s is nil while the call has no %s, and participants.%s.%s then fails: write participants.%s?.%s (?? a default), or check participants.%s != nil first (on the left of &&, or in the transition's if:)",
						r.Name, r.Name, r.Name, r.Field, r.Name, r.Field, r.Name)
				}
			case r.Root == "vars":
				if r.Name != "" && f.Vars[r.Name] == nil && !v.d.setVars[r.Name] {
					var names []string
					for n := range f.Vars {
						names = append(names, n)
					}
					for n := range v.d.setVars {
						names = append(names, n)
					}
					sort.Strings(names)
					msg := fmt.Sprintf("vars.%s is never declared under vars: nor assigned by set", r.Name)
					if s := suggest(r.Name, names); s != "" {
						msg += fmt.Sprintf(" (did you mean %s?)", s)
					}
					v.add(p, CodeUnknownVar, "%s", msg)
				}
			case r.Root == "env":
				if r.Name == "" {
					v.add(p, CodeDynamicEnv, "env can only be read by a constant name (env.NAME), not through $env or env[…], so a flow reads no variable it does not name")
					continue
				}
				if slices.Contains(SecretEnv, r.Name) {
					v.add(p, CodeSecretEnv, "env.%s is one of flowd's secrets: flows never see it, so it would read as empty", r.Name)
					continue
				}
				used[r.Name] = true
				if _, ok := v.env[r.Name]; !ok && !r.Defaulted {
					v.add(p, CodeEnvUnset, "environment variable %s is not set here; it must be set where flowd serve runs", r.Name)
				}
			case r.Root == "event" && site.ctx.event == "" && len(listEvents) > 0:
				if r.Name != "" {
					v.checkListEventField(p, site.ctx, listEvents, r.Name)
				}
			case r.Root == "params" && site.ctx.event == "" && len(listEvents) > 0:
				if r.Name != "" {
					v.checkListParam(p, site.ctx, listEvents, r.Name)
				}
			case r.Root == "event" && cmd != nil:
				if r.Name != "" {
					v.checkCommandEventField(p, cmd, r.Name)
				}
			case r.Root == "event":
				if r.Name == "" || !isEvent || site.ctx.event == "" {
					continue
				}
				if _, ok := ev.Field(r.Name); !ok {
					var names []string
					for _, fs := range append(append([]FieldSpec{}, commonEventFields...), ev.Fields...) {
						names = append(names, fs.Name)
					}
					msg := fmt.Sprintf("%s has no field %q; its fields: %s", ev.Name, r.Name, strings.Join(names, ", "))
					if s := suggest(r.Name, names); s != "" {
						msg = fmt.Sprintf("%s has no field %q (did you mean %s?)", ev.Name, r.Name, s)
					}
					v.add(p, CodeUnknownField, "%s", msg)
				}
			case r.Root == "call":
				if r.Name == "" || slices.Contains(CallFields, r.Name) {
					continue
				}
				if s := suggest(r.Name, CallFields); s != "" {
					v.add(p, CodeCallField, "call.%s is not a parameter Twilio sends with a call (did you mean call.%s?); it would read as empty", r.Name, s)
				}
			case r.Root == "task" || r.Root == "worker":
				fields := TaskFields
				if r.Root == "worker" {
					fields = WorkerFields
				}
				if r.Name == "" || slices.Contains(fields, r.Name) {
					continue
				}
				msg := fmt.Sprintf("%s has no field %q; its fields: %s (the task's own data is under %s.attributes)", r.Root, r.Name, strings.Join(fields, ", "), r.Root)
				if s := suggest(r.Name, fields); s != "" {
					msg = fmt.Sprintf("%s has no field %q (did you mean %s?)", r.Root, r.Name, s)
				}
				v.add(p, CodeUnknownField, "%s", msg)
			case r.Root == "params":
				if r.Name == "" || site.ctx.event == "" {
					continue
				}
				if cmd == nil {
					if isEvent {
						v.add(p, CodeUnknownParam, "params.%s: params is only set in handlers of commands, and %s is an event", r.Name, site.ctx.event)
					}
					continue
				}
				if cmd.Params[r.Name] == nil {
					msg := fmt.Sprintf("command %s has no parameter %q", cmd.Name, r.Name)
					if s := suggest(r.Name, cmd.ParamOrder); s != "" {
						msg += fmt.Sprintf(" (did you mean %s?)", s)
					} else if len(cmd.ParamOrder) > 0 {
						msg += "; its parameters: " + strings.Join(cmd.ParamOrder, ", ")
					}
					v.add(p, CodeUnknownParam, "%s", msg)
				}
			}
		}
	}
	f.EnvVars = map[string]any{}
	for name := range used {
		if val, ok := v.env[name]; ok {
			f.EnvVars[name] = val
		}
	}
}

// listEvents are the events an entry or exit list may run on: those of the
// transitions into the state (and call.incoming for the initial state's
// entry), or out of it.
func (v *validator) listEvents(c siteCtx) []string {
	var evs []string
	edges := v.out[c.state]
	if c.where == "entry" {
		edges = v.in[c.state]
		if c.state.Name == v.f.Initial {
			evs = append(evs, "call.incoming")
		}
	}
	for _, e := range edges {
		if !slices.Contains(evs, e.t.Event) {
			evs = append(evs, e.t.Event)
		}
	}
	return evs
}

// noneHas says that no event an entry or exit list runs on has a what
// (field, parameter): "state s is entered only on call.gather, which has
// no field" or "state s is entered on a, b, and none of them has a field".
func noneHas(f *Flow, c siteCtx, evs []string, what string) string {
	verb := "entered"
	if c.where == "exit" {
		verb = "left"
	}
	labels := make([]string, len(evs))
	for i, e := range evs {
		labels[i] = eventLabel(f, e)
	}
	if len(evs) == 1 {
		return fmt.Sprintf("state %s is %s only on %s, which has no %s", c.state.Name, verb, labels[0], what)
	}
	return fmt.Sprintf("state %s is %s on %s, and none of them has a %s", c.state.Name, verb, strings.Join(labels, ", "), what)
}

// checkListEventField: event.NAME in an entry or exit list must be a field
// of at least one event the list runs on (a command's event has command).
func (v *validator) checkListEventField(p Pos, c siteCtx, evs []string, field string) {
	var names []string
	for _, e := range evs {
		if v.f.IsCommand(e) {
			if field == eventFieldCommand || field == eventFieldName {
				return
			}
			names = append(names, eventFieldCommand)
			continue
		}
		spec, ok := EventByName(e)
		if !ok {
			return // unknown-event, reported where it is handled
		}
		if _, ok := spec.Field(field); ok {
			return
		}
		for _, fs := range spec.Fields {
			names = append(names, fs.Name)
		}
	}
	names = append(names, eventFieldName)
	slices.Sort(names)
	names = slices.Compact(names)
	msg := fmt.Sprintf("event.%s: %s %q; the fields: %s", field, noneHas(v.f, c, evs, "field"), field, strings.Join(names, ", "))
	if s := suggest(field, names); s != "" {
		msg = fmt.Sprintf("event.%s: %s %q (did you mean event.%s?)", field, noneHas(v.f, c, evs, "field"), field, s)
	}
	v.add(p, CodeUnknownField, "%s", msg)
}

// checkCommandEventField: a command's event has only command and name;
// what the desktop sent is in params.
func (v *validator) checkCommandEventField(p Pos, cmd *Command, field string) {
	names := []string{eventFieldCommand, eventFieldName}
	if slices.Contains(names, field) {
		return
	}
	msg := fmt.Sprintf("the event of command %s has no field %q; its fields: %s", cmd.Name, field, strings.Join(names, ", "))
	switch s := suggest(field, names); {
	case cmd.Params[field] != nil:
		msg = fmt.Sprintf("the event of command %s has no field %q (did you mean params.%s? a command's parameters are params.NAME)", cmd.Name, field, field)
	case s != "":
		msg = fmt.Sprintf("the event of command %s has no field %q (did you mean %s?)", cmd.Name, field, s)
	}
	v.add(p, CodeUnknownField, "%s", msg)
}

// checkListParam: params.NAME in an entry or exit list that only commands
// reach must be a parameter of one of them; one that only events reach
// reads no parameters at all. A list reached by both is not reported.
func (v *validator) checkListParam(p Pos, c siteCtx, evs []string, name string) {
	var cmds, params []string
	for _, e := range evs {
		if cmd := v.f.Commands[e]; cmd != nil {
			if cmd.Params[name] != nil {
				return
			}
			cmds = append(cmds, e)
			params = append(params, cmd.ParamOrder...)
		} else if _, ok := EventByName(e); !ok {
			return // unknown-event or unknown-command, reported elsewhere
		}
	}
	switch {
	case len(cmds) == 0:
		v.add(p, CodeUnknownParam, "params.%s: %s %q: params is only set by commands", name, noneHas(v.f, c, evs, "parameter"), name)
	case len(cmds) == len(evs):
		msg := fmt.Sprintf("params.%s: %s %q", name, noneHas(v.f, c, evs, "parameter"), name)
		if s := suggest(name, params); s != "" {
			msg += fmt.Sprintf(" (did you mean params.%s?)", s)
		} else {
			slices.Sort(params)
			msg += "; the parameters: " + strings.Join(slices.Compact(params), ", ")
		}
		v.add(p, CodeUnknownParam, "%s", msg)
	}
}

// checkComparison reports a comparison that can never hold: a constant of
// another type than the field's (event.digits == 1: the digits are a
// string), or a value outside the field's closed set (a role that does not
// exist, a call status Twilio never sends, a value the parameter's enum
// refuses).
func (v *validator) checkComparison(p Pos, r exprRef, field, typ string, isRole bool, values []string) {
	if r.Const != typ {
		lit := r.Name
		if r.Const == "string" {
			lit = strconv.Quote(r.Name)
		}
		outcome := "this comparison is never true"
		switch r.Op {
		case "!=":
			outcome = "this comparison is always true"
		case "in":
			outcome = "this list item never matches"
		case "<", "<=", ">", ">=":
			outcome = "this comparison fails when it runs"
		}
		msg := fmt.Sprintf("%s is a %s and %s a %s: %s", field, typ, lit, r.Const, outcome)
		if hint := retyped(r.Name, typ); hint != "" {
			msg += fmt.Sprintf(" (compare with %s)", hint)
		}
		v.add(p, CodeTypeMismatch, "%s", msg)
		return
	}
	if typ != "string" {
		return
	}
	if isRole {
		if !v.f.HasRole(r.Name) {
			v.unknownRole(p, r.Name, " compared with "+field)
		}
		return
	}
	if len(values) > 0 && !slices.Contains(values, r.Name) {
		msg := fmt.Sprintf("%s is never %q; its values: %s", field, r.Name, strings.Join(values, ", "))
		if s := suggest(r.Name, values); s != "" {
			msg = fmt.Sprintf("%s is never %q (did you mean %s?)", field, r.Name, s)
		}
		v.add(p, CodeUnknownValue, "%s", msg)
	}
}

// retyped writes a constant as the type it should have been, when it can
// be: 1 as "1", "30" as 30, "true" as true.
func retyped(text, to string) string {
	switch to {
	case "string":
		return strconv.Quote(text)
	case "number":
		if _, err := strconv.ParseFloat(text, 64); err == nil {
			return text
		}
	case "boolean":
		if b, err := strconv.ParseBool(text); err == nil {
			return strconv.FormatBool(b)
		}
	}
	return ""
}

func (v *validator) checkCommands() {
	f := v.f
	var names []string
	for n := range f.Commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := f.Commands[n]
		// itemPos is where one_of's i-th item is.
		itemPos := func(i int) Pos {
			if i < len(c.oneOfPos) {
				return c.oneOfPos[i]
			}
			return c.Pos
		}
		if len(c.OneOf) == 1 {
			v.add(itemPos(0), CodeBadParam, "one_of of command %s names one parameter; it needs two or more (or make %s required)", n, c.OneOf[0])
		}
		for i, pn := range c.OneOf {
			switch p := c.Params[pn]; {
			case p == nil:
				msg := fmt.Sprintf("one_of of command %s names %q, which is not one of its parameters", n, pn)
				if s := suggest(pn, c.ParamOrder); s != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", s)
				}
				v.add(itemPos(i), CodeBadParam, "%s", msg)
			case p.Required:
				v.add(p.Pos, CodeBadParam, "parameter %s of command %s is required and in one_of: then the others can never be given", pn, n)
			case slices.Contains(c.OneOf[:i], pn):
				v.add(itemPos(i), CodeBadParam, "one_of of command %s names %s twice", n, pn)
			}
		}
		for _, pn := range c.ParamOrder {
			p := c.Params[pn]
			typ := p.Type
			if typ == "" {
				typ = "string"
			}
			if p.Pattern != "" {
				if typ != "string" {
					v.add(p.patternPos, CodeBadParam, "parameter %s of command %s has a pattern but is a %s; pattern applies to strings", pn, n, typ)
				} else if _, err := regexp.Compile(p.Pattern); err != nil {
					v.add(p.patternPos, CodeBadParam, "parameter %s of command %s: pattern does not compile: %v", pn, n, err)
				}
			}
			for i, e := range p.Enum {
				ok := true
				switch typ {
				case "number":
					_, err := strconv.ParseFloat(e, 64)
					ok = err == nil
				case "boolean":
					ok = e == "true" || e == "false"
				}
				if !ok {
					at := p.Pos
					if i < len(p.enumPos) {
						at = p.enumPos[i]
					}
					v.add(at, CodeBadParam, "parameter %s of command %s is a %s, but its enum value %q is not", pn, n, typ, e)
				}
			}
		}
	}
}

// checkGraph: unreachable states and states that cannot finish.
func (v *validator) checkGraph() {
	f := v.f
	reach := map[*State]bool{}
	var walk func(s *State)
	walk = func(s *State) {
		if reach[s] {
			return
		}
		reach[s] = true
		for _, t := range v.handlersOf[s] {
			if to := v.target(s, t); to != nil {
				walk(to)
			}
		}
	}
	walk(f.States[f.Initial])
	// A transition that does nothing at all (no to:, no do:) in a state a
	// call reaches is most often one whose to: was forgotten.
	var idle *Transition
	for _, name := range f.StateOrder {
		s := f.States[name]
		if !reach[s] {
			continue
		}
		for _, t := range v.handlersOf[s] {
			if t.To == "" && len(t.Do) == 0 && (idle == nil || t.Pos.Line < idle.Pos.Line) {
				idle = t
			}
		}
	}
	for _, name := range f.StateOrder {
		if s := f.States[name]; !reach[s] {
			hint := ""
			if idle != nil {
				hint = fmt.Sprintf(" (the %s transition at line %d has neither to: nor do:; is its to: missing?)", idle.Event, idle.Pos.Line)
			}
			v.add(s.Pos, CodeUnreachableState, "state %s is unreachable: no transition from the initial state %s leads to it%s", name, f.Initial, hint)
		}
	}
	// Reverse reachability from final states.
	finals := 0
	canFinish := map[*State]bool{}
	for _, name := range f.StateOrder {
		if s := f.States[name]; s.Final {
			canFinish[s] = true
			finals++
		}
	}
	if finals == 0 {
		p := f.Pos
		if v.d.statesKey != nil {
			p = v.src.nodePos(v.d.statesKey)
		}
		v.add(p, CodeNoFinalPath, "no state is final, so no call can ever finish; mark the state a call ends in with final: true")
		return
	}
	for changed := true; changed; {
		changed = false
		for _, name := range f.StateOrder {
			s := f.States[name]
			if canFinish[s] {
				continue
			}
			for _, t := range v.handlersOf[s] {
				if to := v.target(s, t); to != nil && canFinish[to] {
					canFinish[s] = true
					changed = true
					break
				}
			}
		}
	}
	for _, name := range f.StateOrder {
		if s := f.States[name]; !canFinish[s] {
			v.add(s.Pos, CodeNoFinalPath, "no sequence of transitions leads from state %s to a final state: a call there could never finish", name)
		}
	}
}

// incoming lists the external transitions into each state, with their source.
type edge struct {
	from *State
	t    *Transition
}

func (v *validator) edges() (in, out map[*State][]edge) {
	in, out = map[*State][]edge{}, map[*State][]edge{}
	for _, name := range v.f.StateOrder {
		s := v.f.States[name]
		for _, t := range v.handlersOf[s] {
			if t.To == "" {
				continue
			}
			if to := v.f.States[t.To]; to != nil {
				in[to] = append(in[to], edge{s, t})
				out[s] = append(out[s], edge{s, t})
			}
		}
	}
	return in, out
}

// checkContexts: TwiML actions only where a voice webhook waits for TwiML;
// TaskRouter instructions only where a reservation is being answered.
func (v *validator) checkContexts() {
	f := v.f
	in, out := v.in, v.out
	// eventsOf gives the events a list may run on; initial is the call.incoming.
	eventsOf := func(l actionList) []string {
		switch {
		case l.ctx.tr != nil:
			return []string{l.ctx.event}
		case l.ctx.where == "entry":
			var evs []string
			if l.ctx.state.Name == f.Initial {
				evs = append(evs, "call.incoming")
			}
			for _, e := range in[l.ctx.state] {
				evs = append(evs, e.t.Event)
			}
			return evs
		case l.ctx.where == "exit":
			var evs []string
			for _, e := range out[l.ctx.state] {
				evs = append(evs, e.t.Event)
			}
			return evs
		}
		return nil
	}
	for _, l := range v.d.lists {
		evs := eventsOf(l)
		for _, a := range l.actions {
			spec, _ := ActionSpecByName(a.Kind)
			switch spec.Reply {
			case ReplyTwiML:
				for _, e := range evs {
					if !IsTwiMLEvent(e) {
						v.add(a.Pos, CodeTwiMLContext, "%s answers the voice webhook with TwiML, but %s runs on %s, when no call is waiting for TwiML (only call.incoming and call.gather are); use announce for a participant in a conference",
							a.Kind, listName(l), eventLabel(f, e))
						break
					}
				}
			case ReplyInstruction:
				for _, e := range evs {
					if e != "reservation.created" && !f.IsCommand(e) {
						v.add(a.Pos, CodeInstructionContext, "%s answers a TaskRouter reservation, but %s runs on %s, when no reservation is waiting for an answer (only reservation.created is)",
							a.Kind, listName(l), eventLabel(f, e))
						break
					}
				}
			}
		}
	}
}

// instructionMissingEvents are the conference callbacks TaskRouter's
// conference instruction cannot subscribe to (TWILIO.md: its
// conference_status_callback_event takes start, end, join, leave, mute,
// hold and speaker).
var instructionMissingEvents = map[string]string{
	"announcement.end": "announcement", "announcement.fail": "announcement", "participant.modify": "modify",
}

// checkInstructionEvents: the first participant's callback subscription
// holds for the whole conference, so a conference the conference
// instruction starts never sends the events it cannot subscribe to.
func (v *validator) checkInstructionEvents() {
	// The call instruction's conference is flowd's own TwiML, which
	// subscribes to every event: which conference a handler hears from is
	// then a matter of the path taken, and a warning would be a guess.
	instr := v.firstAction("conference")
	if instr == nil || v.firstAction("call") != nil {
		return
	}
	for _, ek := range v.d.eventKeys {
		if kind, ok := instructionMissingEvents[ek.name]; ok {
			v.add(v.src.nodePos(ek.node), CodeInstructionEvents,
				"%s never arrives for a conference the conference instruction (line %d) starts: the instruction subscribes to start, end, join, leave, mute, hold and speaker, not %s, and the first participant's subscription holds for the whole conference",
				ek.name, instr.Pos.Line, kind)
		}
	}
}

// firstAction is the first action of kind in the file, or nil.
func (v *validator) firstAction(kind string) *Action {
	for _, l := range v.d.lists {
		for _, a := range l.actions {
			if a.Kind == kind {
				return a
			}
		}
	}
	return nil
}

func eventLabel(f *Flow, e string) string {
	if f.IsCommand(e) {
		return "command " + e
	}
	return e
}

func listName(l actionList) string {
	switch l.ctx.where {
	case "entry":
		return "the entry of state " + l.ctx.state.Name
	case "exit":
		return "the exit of state " + l.ctx.state.Name
	}
	if l.ctx.flowLevel {
		return "this flow-level handler"
	}
	return "this transition"
}

var conferenceCreators = map[string]bool{"conference": true, "call": true, "redirect": true, "dial": true}

func createsConference(as []*Action) bool {
	for _, a := range as {
		if conferenceCreators[a.Kind] {
			return true
		}
	}
	return false
}

// checkConference: actions on participants need a conference that some path
// may have created. Errors only when no path can have one.
func (v *validator) checkConference() {
	f := v.f
	conf := map[*State]bool{}   // a conference may exist while in the state
	arrive := map[*State]bool{} // … when entering it (before its entry)
	init := f.States[f.Initial]
	if createsConference(init.Entry) {
		conf[init] = true
	}
	for changed := true; changed; {
		changed = false
		for _, name := range f.StateOrder {
			s := f.States[name]
			for _, t := range v.handlersOf[s] {
				to := v.target(s, t)
				if to == nil {
					continue
				}
				has := conf[s] || impliesConference(t.Event) || createsConference(t.Do)
				if t.To != "" {
					has = has || createsConference(s.Exit)
					if has && !arrive[to] {
						arrive[to] = true
						changed = true
					}
					has = has || createsConference(to.Entry)
				}
				if has && !conf[to] {
					conf[to] = true
					changed = true
				}
			}
		}
	}
	flowLevelStates := func(event string) []*State {
		var out []*State
		for _, name := range f.StateOrder {
			s := f.States[name]
			if _, own := s.On[event]; !own && !s.Final {
				out = append(out, s)
			}
		}
		return out
	}
	for _, l := range v.d.lists {
		possible := false
		switch {
		case l.ctx.tr != nil && impliesConference(l.ctx.event):
			possible = true
		case l.ctx.tr != nil && l.ctx.flowLevel:
			for _, s := range flowLevelStates(l.ctx.event) {
				if conf[s] || l.ctx.tr.To != "" && createsConference(s.Exit) {
					possible = true
				}
			}
		case l.ctx.tr != nil:
			s := l.ctx.state
			possible = conf[s] || l.ctx.tr.To != "" && createsConference(s.Exit)
		case l.ctx.where == "entry":
			possible = arrive[l.ctx.state]
		case l.ctx.where == "exit":
			possible = conf[l.ctx.state]
		}
		for _, a := range l.actions {
			if possible {
				break
			}
			spec, _ := ActionSpecByName(a.Kind)
			if spec.NeedsConference {
				where := "in state " + stateName(l)
				if l.ctx.flowLevel {
					where = "in any state where this flow-level handler applies"
				}
				v.add(a.Pos, CodeNeedsConference, "%s acts on a conference participant, but no conference can exist %s yet: no path from %s runs conference, call, redirect or dial before it",
					a.Kind, where, f.Initial)
			}
			if conferenceCreators[a.Kind] {
				possible = true
			}
		}
	}
}

func stateName(l actionList) string {
	if l.ctx.state != nil {
		return l.ctx.state.Name
	}
	return "?"
}

// Hold effects on the customer of an action list.
const (
	holdNone = iota
	holdOn
	holdOff
)

func holdEffect(as []*Action) int {
	eff := holdNone
	for _, a := range as {
		switch p := a.Params.(type) {
		case *HoldAction:
			if p.Role == RoleCustomer {
				eff = holdOn
			}
		case *RoleAction:
			if p.Role == RoleCustomer && (a.Kind == "unhold" || a.Kind == "remove") {
				eff = holdOff
			}
		case *HangupAction:
			if p.Role == "" || p.Role == RoleCustomer {
				eff = holdOff
			}
		}
	}
	return eff
}

func applyHold(held bool, eff int) bool {
	switch eff {
	case holdOn:
		return true
	case holdOff:
		return false
	}
	return held
}

// checkHold: a customer put on hold must have a way off hold.
func (v *validator) checkHold() {
	f := v.f
	// With end_conference_on_exit on the conference instruction, the agent
	// leaving ends the conference, and with it everybody's hold.
	agentEndsConference := false
	for _, l := range v.d.lists {
		for _, a := range l.actions {
			if p, ok := a.Params.(*ConferenceAction); ok && p.EndOnExit != nil && *p.EndOnExit {
				agentEndsConference = true
			}
		}
	}
	leftNobodyHeld := func(t *Transition) bool { // nobody is on hold after t
		return customerGone(t) || agentEndsConference && t.Event == "participant.leave" && leaveOfAgent(t)
	}
	held := map[*State]bool{}
	init := f.States[f.Initial]
	held[init] = applyHold(false, holdEffect(init.Entry))
	for changed := true; changed; {
		changed = false
		for _, name := range f.StateOrder {
			s := f.States[name]
			for _, t := range v.handlersOf[s] {
				to := v.target(s, t)
				if to == nil {
					continue
				}
				h := held[s] && !leftNobodyHeld(t) // nobody is held once the customer left
				if t.To != "" {
					h = applyHold(h, holdEffect(s.Exit))
				}
				h = applyHold(h, holdEffect(t.Do))
				if t.To != "" {
					h = applyHold(h, holdEffect(to.Entry))
				}
				if h && !held[to] {
					held[to] = true
					changed = true
				}
			}
		}
	}
	for _, name := range f.StateOrder {
		s := f.States[name]
		if !held[s] || s.Final {
			continue
		}
		released := false
		for _, t := range v.handlersOf[s] {
			to := v.target(s, t)
			if holdEffect(t.Do) == holdOff || to != nil && to.Final {
				released = true
			}
			if t.To != "" && (holdEffect(s.Exit) == holdOff || to != nil && holdEffect(to.Entry) == holdOff) {
				released = true
			}
		}
		if !released {
			v.add(s.Pos, CodeStrandedHold, "the customer may be on hold in state %s, and no transition out of it unholds, removes or hangs up the customer, or reaches a final state", name)
		}
		// Reaching a final state releases nobody: a final state ignores
		// every event, hangup included. When someone else leaves (the agent
		// hangs up) or a command ends the call, the transition into it must
		// take the customer off hold itself. (TaskRouter's events are left
		// out: what a task.canceled implies depends on which task it is.)
		for _, t := range v.handlersOf[s] {
			to := v.target(s, t)
			if to == nil || !to.Final || leftNobodyHeld(t) ||
				!(t.Event == "participant.leave" || t.Event == "call.status" || f.IsCommand(t.Event)) {
				continue
			}
			h := true
			if t.To != "" {
				h = applyHold(h, holdEffect(s.Exit))
			}
			h = applyHold(h, holdEffect(t.Do))
			if t.To != "" {
				h = applyHold(h, holdEffect(to.Entry))
			}
			if h {
				hint := ""
				if !f.IsCommand(t.Event) {
					hint = ` (or, if this is the customer leaving, say so with if: event.role == "customer")`
				}
				v.add(t.Pos, CodeStrandedHold, "on %s the call ends in final state %s while the customer may be on hold in %s; a final state ignores every event, so nothing would take them off hold: unhold, remove or hang up the customer here%s",
					eventLabel(f, t.Event), to.Name, name, hint)
			}
		}
	}
}

// checkQueue: TaskRouter canceling a task (its timeout or TTL, an admin)
// does not take the caller out of the <Enqueue> queue: the call stays and
// hears the queue music. A task.canceled that ends the call in a final
// state, which ignores every event, must hang up or redirect the caller
// itself; when the caller hung up instead, the hangup finds the call over,
// which flowd treats as done.
func (v *validator) checkQueue() {
	f := v.f
	enqueue := v.firstAction("enqueue")
	if enqueue == nil {
		return
	}
	check := func(from *State, ts []*Transition) {
		for _, t := range ts {
			to := f.States[t.To]
			if to == nil || !to.Final {
				continue
			}
			if val, ok := t.If.Constant(); ok && !val {
				continue // never fires (constant-guard)
			}
			if releasesCaller(t.Do) || releasesCaller(to.Entry) || from != nil && releasesCaller(from.Exit) {
				continue
			}
			v.add(t.toPos, CodeStrandedQueue, "on task.canceled the call ends in final state %s without hanging up the caller: when TaskRouter cancels the task (its timeout, an admin) it leaves the call in the <Enqueue> queue (line %d), so the caller would hear the queue music until they hang up; write do: [hangup] (harmless when the caller has already hung up)",
				to.Name, enqueue.Pos.Line)
		}
	}
	check(nil, f.On["task.canceled"])
	for _, name := range f.StateOrder {
		if s := f.States[name]; !s.Final {
			check(s, s.On["task.canceled"])
		}
	}
}

// releasesCaller: the actions hang up the customer's call or move it
// elsewhere (out of a queue).
func releasesCaller(as []*Action) bool {
	for _, a := range as {
		switch p := a.Params.(type) {
		case *HangupAction:
			if p.Role == "" || p.Role == RoleCustomer {
				return true
			}
		case *RedirectAction:
			if p.Role == RoleCustomer {
				return true
			}
		}
	}
	return false
}

// leaveOfAgent: a participant.leave guarded on event.role == "agent", or
// not guarded on a role at all.
func leaveOfAgent(t *Transition) bool {
	for _, r := range t.If.refsOrNil() {
		if r.Root == "event" && r.Field == eventFieldRole && r.Const == "string" {
			return r.Name == RoleAgent && r.Op == "=="
		}
	}
	return true
}

// customerGone: the transition runs because the customer left (their call
// ended, they left the conference, the conference ended), so nobody is
// left on hold. call.status and participant.leave count when guarded on
// event.role == "customer", and an unguarded call.status (a flow's catch-all
// for the caller hanging up) too; call.status arrives for every leg, so a
// guard on something else (event.status == "busy": a consultee's phone)
// does not.
func customerGone(t *Transition) bool {
	switch t.Event {
	case "conference.end":
		return true
	case "call.status", "participant.leave":
	default:
		return false
	}
	for _, r := range t.If.refsOrNil() {
		if r.Root == "event" && r.Field == eventFieldRole && r.Const == "string" && r.Name == RoleCustomer && r.Op == "==" {
			return true
		}
	}
	return t.Event == "call.status" && t.If == nil
}
