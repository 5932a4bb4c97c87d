package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/flowd/flowd/engine"
	"github.com/flowd/flowd/engine/flow"
	"github.com/flowd/flowd/engine/server"
	"github.com/flowd/flowd/engine/store"
	"github.com/flowd/flowd/engine/twilio"
	"github.com/flowd/flowd/engine/twiliosim"
)

// Options configure a run.
type Options struct {
	// FlowPaths are the flow files or directories; they are loaded again for
	// every scenario with the stand-in's SIDs in the environment.
	FlowPaths []string
	// OpenAPIDir, when set, makes the stand-in check every REST request
	// against Twilio's OpenAPI specs ("" = $TWILIO_OPENAPI_DIR).
	OpenAPIDir string
	// Verbose prints every scenario's timeline.
	Verbose bool
	Out     io.Writer
	// StoreDSN gives the store of one scenario (default "memory:"), and a
	// cleanup run after it. Every replica opens it.
	StoreDSN func() (dsn string, cleanup func(), err error)
	// Replicas is how many flowd servers share the store, behind a
	// round-robin (default 1; more than one needs a shared store such as
	// PostgreSQL).
	Replicas int
	// Faults injects delivery faults into every scenario (the reliability
	// suite); the scenario must still pass, with the same REST effects.
	Faults Faults
}

// Faults are the stand-in's fault injections a run can turn on.
type Faults struct {
	// DuplicateWebhooks delivers every webhook twice with the same
	// I-Twilio-Idempotency-Token.
	DuplicateWebhooks bool
	// ShuffleConference holds each step's conference callbacks back and
	// delivers them in a shuffled order (seeded).
	ShuffleConference bool
	Seed              int64
	// TransientREST answers the first N REST calls of each step with 429
	// (Retry-After) and 500 alternately.
	TransientREST int
}

// Result of one scenario.
type Result struct {
	File     string
	Scenario string
	Line     int // the scenario's line
	// Failure is empty when the scenario passed.
	Failure     string
	FailureLine int // the failing step's line
	Timeline    string
	Duration    time.Duration
	// SpecChecked is true when every REST request was checked against
	// Twilio's OpenAPI specs.
	SpecChecked bool
	// Effects are the REST calls Twilio accepted (2xx), normalised (SIDs,
	// ports and tokens masked) and sorted: equal across fault runs when
	// nothing was lost or done twice.
	Effects []string
}

// Passed reports success.
func (r Result) Passed() bool { return r.Failure == "" }

// Env names the harness sets for flows, so shipped flows and admins' flows
// run unchanged against the stand-in.
const (
	EnvWorkspace        = "TWILIO_WORKSPACE_SID"
	EnvWorkflow         = "TWILIO_WORKFLOW_SID"
	EnvPostWorkActivity = "TWILIO_POST_WORK_ACTIVITY_SID"
)

// RunFile runs every scenario of a file.
func RunFile(ctx context.Context, f *File, opts Options) []Result {
	var out []Result
	for _, sc := range f.Scenarios {
		out = append(out, runScenario(ctx, f, sc, opts))
	}
	return out
}

// unknownStates finds the first expect: state that names no state of fl.
func unknownStates(fl *flow.Flow, sc *Scenario) (line int, msg string) {
	for _, st := range sc.Steps {
		if st.Expect == nil || st.Expect.State == "" {
			continue
		}
		if _, ok := fl.States[st.Expect.State]; ok {
			continue
		}
		names := fl.StateOrder
		msg = fmt.Sprintf("step expect: state %q is not a state of flow %s", st.Expect.State, fl.Name)
		if s := flow.Suggest(st.Expect.State, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		} else {
			msg += " (states: " + strings.Join(names, ", ") + ")"
		}
		return st.Line, msg
	}
	return 0, ""
}

type harness struct {
	ctx     context.Context
	file    *File
	opts    Options
	sim     *twiliosim.Sim
	eng     *engine.Engine   // replica 0: views and history
	engs    []*engine.Engine // every replica
	st      store.Store
	sts     []store.Store
	flow    *flow.Flow
	rr      atomic.Uint64 // round-robin over replicas
	cleanup func()
	flowd   *httptest.Server
	simS    *httptest.Server
	api     *http.Client

	caller  string // the customer's address
	session string // the call's session (its CallSid)
	step    *Step
	// lastCall: each role's latest leg seen after a step settled, so
	// call_ended can name a role whose leg has left the call.
	lastCall map[string]string
	// lastTask: each role's latest task seen after a step settled, so
	// task_status can name a role that has left the call.
	lastTask map[string]string
}

func runScenario(ctx context.Context, f *File, sc *Scenario, opts Options) (res Result) {
	start := time.Now()
	res = Result{File: f.Path, Scenario: sc.Name, Line: sc.Line}
	h, err := newHarness(ctx, f, opts)
	if err != nil {
		res.Failure, res.FailureLine = err.Error(), sc.Line
		return res
	}
	defer h.close()
	if line, msg := unknownStates(h.flow, sc); msg != "" {
		// Checked before the call starts: a misspelt state would fail only
		// when reached, saying the flow is elsewhere, as if flowd were wrong.
		res.Failure, res.FailureLine = msg, line
		return res
	}
	defer func() {
		if r := recover(); r != nil {
			res.Failure = fmt.Sprintf("internal error: %v", r)
		}
		res.Duration = time.Since(start)
		if !res.Passed() || opts.Verbose {
			res.Timeline = h.timeline()
		}
	}()
	if opts.Faults.DuplicateWebhooks {
		h.sim.DuplicateWebhooks(func(twiliosim.Webhook) bool { return true }, 1<<30)
	}
	for i, st := range sc.Steps {
		h.step = st
		if opts.Faults.ShuffleConference {
			h.sim.HoldConferenceCallbacks()
		}
		if n := opts.Faults.TransientREST; n > 0 && st.Kind != "fail_rest" {
			h.sim.TransientREST((n+1)/2, n/2)
		}
		if err := h.run(st); err != nil {
			res.Failure, res.FailureLine = fmt.Sprintf("step %s: %s", st.Kind, err), st.Line
			return res
		}
		if err := h.settle(); err != nil {
			res.Failure, res.FailureLine = fmt.Sprintf("after step %s: %s", st.Kind, err), st.Line
			return res
		}
		if opts.Faults.ShuffleConference {
			h.sim.ReleaseConferenceCallbacks(twiliosim.Shuffled, opts.Faults.Seed+int64(i))
			if err := h.settle(); err != nil {
				res.Failure, res.FailureLine = fmt.Sprintf("after step %s: %s", st.Kind, err), st.Line
				return res
			}
		}
	}
	res.Effects = h.effects()
	res.SpecChecked = h.sim.SpecEnabled()
	if v := h.sim.Violations(); len(v) > 0 {
		res.Failure, res.FailureLine = "REST requests that do not conform to Twilio's OpenAPI spec:\n  "+strings.Join(v, "\n  "), sc.Line
	}
	return res
}

const simToken = "flowd-scenario-token"

func init() {
	// The harness starts a server per scenario; gin's debug banner would
	// bury the results.
	gin.SetMode(gin.ReleaseMode)
}

func newHarness(ctx context.Context, f *File, opts Options) (*harness, error) {
	sim := twiliosim.New(twiliosim.Options{AuthToken: simToken, OpenAPIDir: opts.OpenAPIDir,
		Start: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)})
	if err := sim.SpecError(); err != nil {
		sim.Close()
		return nil, fmt.Errorf("TWILIO_OPENAPI_DIR: %w (REST calls could not be checked against Twilio's specs)", err)
	}
	h := &harness{ctx: ctx, file: f, opts: opts, sim: sim, api: &http.Client{Timeout: 10 * time.Second}}
	h.simS = httptest.NewServer(sim.Handler())
	sim.SetURL(h.simS.URL)

	queues := f.Queues
	if len(queues) == 0 {
		queues = []string{"default"}
	}
	for _, q := range queues {
		sim.AddQueue(q)
	}
	wf := sim.AddWorkflow("flowd", queues[0])
	for _, name := range sortedKeys(f.Workers) {
		w := f.Workers[name]
		qs := w.Queues
		if len(qs) == 0 {
			qs = queues[:1]
		}
		sim.AddWorker(name, w.ContactURI, w.Attributes, qs...)
		if w.Available == nil || *w.Available {
			if err := sim.SetWorkerAvailable(name, true); err != nil {
				return nil, err
			}
		}
	}
	env := map[string]string{
		EnvWorkspace: sim.WorkspaceSid(),
		EnvWorkflow:  wf,
		// After a call a worker wraps up: they take the next call only
		// after an `available` step, as a real agent would.
		EnvPostWorkActivity: sim.ActivitySid("Unavailable"),
	}
	for k, v := range f.Env {
		env[k] = v
	}
	// Any flow's error fails the scenarios, as flowd serve refuses to
	// start on (or reload) a set of flows with an error in it.
	set, diags := flow.LoadSet(opts.FlowPaths, flow.LoadOptions{Env: env})
	if diags.HasErrors() {
		sim.Close()
		h.simS.Close()
		return nil, fmt.Errorf("flows do not load (flowd serve would refuse them):\n%s", diagText(diags))
	}
	h.flow = set.ByName(f.Flow)
	if h.flow == nil {
		sim.Close()
		h.simS.Close()
		var names []string
		for _, fl := range set.Flows {
			names = append(names, fl.Name)
		}
		msg := fmt.Sprintf("no flow named %q in %s (flows there: %s)", f.Flow, strings.Join(opts.FlowPaths, ", "), strings.Join(names, ", "))
		if s := flow.Suggest(f.Flow, names); s != "" {
			msg += fmt.Sprintf("; did you mean %s?", s)
		}
		return nil, errors.New(msg)
	}

	replicas := max(opts.Replicas, 1)
	handlers := make([]http.Handler, replicas)
	ready := make(chan struct{})
	h.flowd = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-ready
		handlers[h.rr.Add(1)%uint64(len(handlers))].ServeHTTP(w, r)
	}))
	dsn := "memory:"
	if opts.StoreDSN != nil {
		var err error
		if dsn, h.cleanup, err = opts.StoreDSN(); err != nil {
			h.close()
			return nil, err
		}
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := 0; i < replicas; i++ {
		// Replicas on PostgreSQL connect on their own, as separate
		// processes do; a SQLite file or the memory store serves one
		// process, so the replicas (engines) share it.
		var st store.Store
		if i > 0 && !isPostgres(dsn) {
			st = h.sts[0]
		} else {
			var err error
			if st, err = store.Open(ctx, dsn); err != nil {
				h.close()
				return nil, err
			}
			h.sts = append(h.sts, st)
		}
		tw, err := twilio.NewClient(twilio.Config{AccountSid: sim.AccountSid(), AuthToken: "scenario", BaseURL: h.simS.URL})
		if err != nil {
			h.close()
			return nil, err
		}
		eng, err := engine.New(engine.Config{Store: st, Twilio: tw, PublicURL: h.flowd.URL, Clock: sim, Logger: logger, Owner: fmt.Sprintf("replica-%d", i)}, set)
		if err != nil {
			h.close()
			return nil, err
		}
		srv, err := server.New(server.Options{Engine: eng, Store: st, PublicURL: h.flowd.URL, AuthToken: simToken, Logger: logger})
		if err != nil {
			h.close()
			return nil, err
		}
		h.engs = append(h.engs, eng)
		handlers[i] = srv.Handler()
	}
	h.eng, h.st = h.engs[0], h.sts[0]
	close(ready)

	for _, n := range h.flow.Numbers {
		sim.AddNumber(n, h.flowd.URL+engine.PathVoice)
		// As docs/serve.md has admins set the number up: the caller's own
		// call status reaches the flow (a hang-up before any conference).
		sim.SetNumberStatusCallback(n, h.flowd.URL+engine.PathCallStatus)
	}
	sim.ConfigureWorkspace(twiliosim.WorkspaceConfig{
		AssignmentCallbackURL: h.flowd.URL + engine.PathAssignment,
		EventCallbackURL:      h.flowd.URL + engine.PathWorkspaceEvents,
	})
	return h, nil
}

func (h *harness) close() {
	if h.sim != nil {
		h.sim.Close()
	}
	if h.flowd != nil {
		h.flowd.Close()
	}
	if h.simS != nil {
		h.simS.Close()
	}
	for _, st := range h.sts {
		st.Close()
	}
	if h.cleanup != nil {
		h.cleanup()
	}
}

// settle lets the stand-in deliver every webhook and flowd send every due
// REST call, until neither has anything left to do now.
func (h *harness) settle() error {
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	for i := 0; i < 1000; i++ {
		if err := h.sim.WaitIdle(ctx); err != nil {
			return fmt.Errorf("the stand-in did not settle: %w", err)
		}
		// Replicas dispatch at the same time, as they would in production:
		// the store hands each outbox item to one of them.
		var n atomic.Int64
		var wg sync.WaitGroup
		errs := make([]error, len(h.engs))
		for i, eng := range h.engs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k, err := eng.DispatchOnce(ctx)
				n.Add(int64(k))
				errs[i] = err
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		if n.Load() == 0 && h.sim.Idle() {
			if h.opts.Faults.TransientREST == 0 {
				h.noteRoles()
				return nil
			}
			// Under injected 429/500s, REST retries wait in the outbox:
			// let a virtual second pass (well inside ring and reservation
			// timeouts) until they are sent.
			pending, err := h.st.Pending(ctx)
			if err != nil {
				return err
			}
			if pending == 0 {
				h.noteRoles()
				return nil
			}
			h.sim.Advance(time.Second)
		}
	}
	return errors.New("the call did not settle after 1000 rounds (a webhook loop?)")
}

func (h *harness) run(st *Step) error {
	switch st.Kind {
	case "call":
		to := st.Call.To
		if to == "" {
			if len(h.flow.Numbers) == 0 {
				return fmt.Errorf("flow %s has no numbers: give call.to", h.flow.Name)
			}
			to = h.flow.Numbers[0]
		}
		from := st.Call.From
		if from == "" {
			from = "+447700900123"
		}
		sid, err := h.sim.PlaceCall(from, to)
		if err != nil {
			return err
		}
		h.caller, h.session = from, sid
		return nil
	case "answer", "decline", "no_answer", "hangup", "press":
		// A misspelt party would otherwise read as an address the
		// stand-in has no call for.
		if !h.knownParty(st.Party) {
			return errors.New(h.unknownParty(st.Party))
		}
	}
	switch st.Kind {
	case "answer":
		return h.sim.Answer(h.party(st.Party))
	case "decline":
		return h.sim.Decline(h.party(st.Party))
	case "no_answer":
		return h.sim.NoAnswer(h.party(st.Party))
	case "hangup":
		return h.sim.Hangup(h.party(st.Party))
	case "press":
		return h.sim.Press(h.party(st.Party), st.Digits)
	case "wait":
		return h.wait(st.Wait)
	case "available":
		return h.sim.SetWorkerAvailable(st.Available.Worker, st.Available.Available)
	case "fail_rest":
		if st.FailREST.Applied {
			h.sim.LoseRESTAnswers(st.FailREST.Method, st.FailREST.Path, st.FailREST.Status, st.FailREST.Times)
		} else {
			h.sim.FailREST(st.FailREST.Method, st.FailREST.Path, st.FailREST.Status, st.FailREST.Times)
		}
		return nil
	case "faults":
		if st.Faults.DuplicateWebhooks {
			h.sim.DuplicateWebhooks(func(twiliosim.Webhook) bool { return true }, 1<<30)
		}
		return nil
	case "command":
		return h.command(st.Command)
	case "expect":
		return h.expect(st.Expect)
	}
	return fmt.Errorf("unknown step %q", st.Kind)
}

// wait lets d of virtual time pass, stopping at each timer of the stand-in
// to let the call settle: what a timer sets off (a reservation timing out,
// a task's TTL) reaches flowd when it is due, and flowd's answer to it (the
// next agent dialed, a retry) runs its course within the wait, as it
// would live; not all at the end of the wait.
func (h *harness) wait(d time.Duration) error {
	target := h.sim.Now().Add(d)
	for i := 0; i < 100000; i++ {
		next, ok := h.sim.NextTimer()
		if !ok || next.After(target) {
			break
		}
		h.sim.Advance(max(next.Sub(h.sim.Now()), 0))
		if err := h.settle(); err != nil {
			return err
		}
	}
	if rest := target.Sub(h.sim.Now()); rest > 0 {
		h.sim.Advance(rest)
	}
	return nil
}

func (h *harness) command(c *CommandStep) error {
	if h.session == "" {
		return errors.New("no call yet")
	}
	v, err := h.view(false)
	if err != nil {
		return err
	}
	// Commands come from the desktop of the agent on the call now: their
	// task, or before anyone took the call the call's first task.
	key := v.TaskSid
	switch c.Task {
	case "":
		if a := v.Roles["agent"]; a != nil && a.TaskSid != "" {
			key = a.TaskSid
		}
	case "first":
	case "call":
		key = h.session
	default:
		if key = h.roleTask(v, c.Task); key == "" {
			return fmt.Errorf("task: %s: no %s role ever held a task (%s)", c.Task, c.Task, h.taskRoles(v))
		}
	}
	if key == "" {
		key = h.session
	}
	params := c.Params
	if params == nil {
		params = map[string]any{}
	}
	body, _ := json.Marshal(params)
	send := func() (int, string, error) {
		req, _ := http.NewRequestWithContext(h.ctx, http.MethodPost, h.flowd.URL+"/v1/tasks/"+key+"/commands/"+c.Name, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := h.api.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b)), nil
	}
	if c.Times > 1 {
		// An agent double-clicking, or two desktops at once: the copies race
		// through every replica.
		codes := make([]int, c.Times)
		errs := make([]error, c.Times)
		var wg sync.WaitGroup
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i], _, errs[i] = send()
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		ok := 0
		for _, code := range codes {
			switch code {
			case http.StatusOK:
				ok++
			case http.StatusConflict:
			default:
				return fmt.Errorf("command %s answered %d to one of %d concurrent copies", c.Name, code, c.Times)
			}
		}
		if ok != c.ExpectOK {
			return fmt.Errorf("%d concurrent %s commands: %d succeeded, want %d (the others 409)", c.Times, c.Name, ok, c.ExpectOK)
		}
		return nil
	}
	code, b, err := send()
	if err != nil {
		return err
	}
	want := c.ExpectStatus
	if want == 0 {
		want = http.StatusOK
	}
	if code != want {
		return fmt.Errorf("command %s answered %d, want %d: %s", c.Name, code, want, b)
	}
	return nil
}

func (h *harness) view(history bool) (engine.TaskView, error) {
	if h.session == "" {
		return engine.TaskView{}, errors.New("no call yet")
	}
	return h.eng.Task(h.ctx, h.session, history)
}

// noteRoles remembers the legs the call's roles have now.
func (h *harness) noteRoles() {
	v, err := h.view(false)
	if err != nil {
		return
	}
	if h.lastCall == nil {
		h.lastCall = map[string]string{}
	}
	if h.lastTask == nil {
		h.lastTask = map[string]string{}
	}
	for role, p := range v.Roles {
		if p != nil && p.CallSid != "" {
			h.lastCall[role] = p.CallSid
		}
		if p != nil && p.TaskSid != "" {
			h.lastTask[role] = p.TaskSid
		}
	}
}

// roleTask is the task task_status names by role: the call's first task
// for customer, else the role's task now or, once it left the call, the
// last it had; "" if the role never held one (a typo, or a role this flow
// does not have).
func (h *harness) roleTask(v engine.TaskView, role string) string {
	if role == "customer" {
		return v.TaskSid
	}
	if p := v.Roles[role]; p != nil && p.TaskSid != "" {
		return p.TaskSid
	}
	return h.lastTask[role]
}

// taskRoles lists the roles task_status can name, for its failure message.
func (h *harness) taskRoles(v engine.TaskView) string {
	names := []string{"customer"}
	for role := range h.lastTask {
		names = append(names, role)
	}
	for role, p := range v.Roles {
		if p != nil && p.TaskSid != "" && h.lastTask[role] == "" {
			names = append(names, role)
		}
	}
	slices.Sort(names)
	return "roles with a task: " + strings.Join(slices.Compact(names), ", ")
}

// endedParty is party for call_ended: a role no longer in the call names
// the last leg it had.
func (h *harness) endedParty(name string) string {
	p := h.party(name)
	if p == "role:"+name && h.lastCall[name] != "" {
		return h.lastCall[name]
	}
	return p
}

// party turns a name in a scenario into a stand-in party (an address or a
// CallSid).
func (h *harness) party(name string) string {
	if w := h.file.Workers[name]; w != nil {
		return w.ContactURI
	}
	if name == flow.RoleCustomer && h.caller != "" {
		return h.caller
	}
	if h.flow.HasRole(name) {
		if v, err := h.view(false); err == nil {
			if p := v.Roles[name]; p != nil && p.CallSid != "" {
				return p.CallSid
			}
			if p := v.Roles[name]; p != nil && p.Address != "" {
				return p.Address
			}
		}
		return "role:" + name // not in the call: matches no party
	}
	return name
}

func diagText(ds flow.Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString("  " + d.String() + "\n")
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// FindFiles expands paths (files, directories, globs) into scenario files:
// *.test.yaml and *.test.yml.
func FindFiles(paths []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, p := range paths {
		matches, err := filepath.Glob(p)
		if err != nil {
			return nil, err
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("%s: no such file or directory%s", p, flow.NearbyName(p))
		}
		for _, m := range matches {
			if isScenario(m) {
				add(m)
				continue
			}
			entries, _ := os.ReadDir(m) // not a directory: nothing to add
			for _, e := range entries {
				if !e.IsDir() && isScenario(e.Name()) {
					add(filepath.Join(m, e.Name()))
				}
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func isScenario(p string) bool { return flow.IsScenarioFile(p) }

var (
	sidPattern  = regexp.MustCompile(`\b(CA|CF|WT|WR|WK|WS|WW|WQ|WA|AC)[0-9a-f]{32}\b`)
	hostPattern = regexp.MustCompile(`https?://127\.0\.0\.1:[0-9]+`)
)

// effects lists the REST calls the stand-in accepted, normalised.
func (h *harness) effects() []string {
	var out []string
	for _, r := range h.sim.Requests() {
		if r.Status < 200 || r.Status > 299 || r.Method == http.MethodGet {
			continue
		}
		keys := sortedKeys(r.Form)
		var kv []string
		for _, k := range keys {
			kv = append(kv, k+"="+strings.Join(r.Form[k], ","))
		}
		line := r.Method + " " + r.Path + " " + strings.Join(kv, " ")
		line = hostPattern.ReplaceAllString(sidPattern.ReplaceAllString(line, "$1…"), "http://flowd")
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}
