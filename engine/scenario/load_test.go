package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowd/flowd/engine"
	"github.com/flowd/flowd/engine/flow"
	"github.com/flowd/flowd/engine/server"
	"github.com/flowd/flowd/engine/store"
	"github.com/flowd/flowd/engine/twilio"
	"github.com/flowd/flowd/engine/twiliosim"
)

// TestLoad is the reliability load run (docs/reliability.md). It is skipped
// unless FLOWD_LOAD=1:
//
//	FLOWD_LOAD=1 go test -run '^TestLoad$' -v -count=1 -timeout 30m ./engine/scenario/
//
// FLOWD_LOAD_CALLS calls (default 300) go through the contact-center flow at
// once, through two flowd replicas sharing one store (PostgreSQL when
// FLOWD_TEST_POSTGRES_DSN is set, else one SQLite file) behind a
// round-robin, with every webhook delivered twice and FLOWD_LOAD_REST_FAULTS
// of the REST calls (default 0.1, half 429, half 500) refused at random.
// Each call is answered by its own worker (the stand-in's AutoAnswer picks
// up the agent's leg), put on hold, taken off hold, and the caller hangs up.
//
// Unlike the scenario harness the replicas run as `flowd serve` does: the
// outbox dispatchers run on their own (Engine.Run) on the wall clock, so
// REST retries wait for real Retry-After and backoff. The stand-in's virtual
// clock never moves: no ring or reservation timeout fires.
//
// Every REST call Twilio accepted is attributed to its call (through the
// store's aliases for the SIDs in its path) and compared, per call, with the
// effects of one call run alone without faults: effects missing are lost,
// effects beyond are doubled. Both must be zero.
func TestLoad(t *testing.T) {
	if os.Getenv("FLOWD_LOAD") != "1" {
		t.Skip("the load run is skipped unless FLOWD_LOAD=1")
	}
	calls := 300
	if v := os.Getenv("FLOWD_LOAD_CALLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("FLOWD_LOAD_CALLS=%q: want a positive number", v)
		}
		calls = n
	}
	faultRate := 0.1
	if v := os.Getenv("FLOWD_LOAD_REST_FAULTS"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f >= 1 {
			t.Fatalf("FLOWD_LOAD_REST_FAULTS=%q: want a fraction in [0, 1)", v)
		}
		faultRate = f
	}
	flows := filepath.Join("..", "..", "flows")

	// One call alone, one replica, no faults: what each call must do.
	base := runLoad(t, loadConfig{flows: flows, calls: 1, replicas: 1, dsn: func() (string, func(), error) { return "memory:", func() {}, nil }})
	if len(base.perCall) != 1 {
		t.Fatalf("the single-call baseline produced %d calls", len(base.perCall))
	}
	var want []string
	for _, e := range base.perCall {
		want = e
	}
	if len(want) == 0 {
		t.Fatal("the baseline call made no REST calls: nothing to count")
	}
	sort.Strings(want)
	t.Logf("REST effects of one call:\n  %s", strings.Join(want, "\n  "))

	dsn, kind := loadStore(t)
	r := runLoad(t, loadConfig{flows: flows, calls: calls, replicas: 2, dsn: dsn, duplicate: true, faultRate: faultRate, seed: 1})

	lost, doubled := 0, 0
	var examples []string
	for call, got := range r.perCall {
		d := diffMultiset(want, got)
		for line, n := range d {
			if n > 0 {
				lost += n
			} else {
				doubled -= n
			}
			if len(examples) < 10 {
				examples = append(examples, fmt.Sprintf("%s: %+d %s", call, -n, line))
			}
		}
	}
	if missing := calls - len(r.perCall); missing > 0 {
		lost += missing * len(want)
		examples = append(examples, fmt.Sprintf("%d calls made no REST call at all", missing))
	}
	r.report(t, kind, calls, faultRate, len(want), lost, doubled)
	if r.completed != calls {
		t.Errorf("%d of %d calls reached state done", r.completed, calls)
	}
	if lost != 0 || doubled != 0 {
		sort.Strings(examples)
		t.Errorf("%d REST effects lost, %d doubled; for example:\n  %s", lost, doubled, strings.Join(examples, "\n  "))
	}
	if r.webhookFailures != 0 {
		t.Errorf("%d webhook deliveries failed", r.webhookFailures)
	}
	if r.restFailures != 0 {
		t.Errorf("%d REST calls given up on (action.failed)", r.restFailures)
	}
}

// loadStore picks the shared store: a schema of its own on the test
// PostgreSQL server, or one SQLite file.
func loadStore(t *testing.T) (func() (string, func(), error), string) {
	if base := os.Getenv("FLOWD_TEST_POSTGRES_DSN"); base != "" {
		return PostgresSchema(base, "flowd_load"), "PostgreSQL"
	}
	dir := t.TempDir()
	return func() (string, func(), error) {
		return "sqlite:" + filepath.Join(dir, "flowd.db"), func() {}, nil
	}, "SQLite (one file)"
}

type loadConfig struct {
	flows     string
	calls     int
	replicas  int
	dsn       func() (string, func(), error)
	duplicate bool    // every webhook twice
	faultRate float64 // share of REST calls answered 429 or 500
	seed      int64
}

type loadResult struct {
	wall            time.Duration
	phases          []string
	completed       int
	webhooks        int // deliveries, copies included
	webhookCopies   int
	webhookFailures int
	duplicates      int64 // answered from the stored reply
	conflicts       int64
	restRequests    int
	restAccepted    int
	rest429         int
	rest500         int
	restSent        int64
	restRetries     int64
	restFailures    int64
	faultsInjected  int64
	latency         []time.Duration // webhook handling, as the round-robin saw it
	perCall         map[string][]string
}

// runLoad places cfg.calls calls, takes each through answer, hold, unhold
// and the caller's hangup, and counts what happened.
func runLoad(t *testing.T, cfg loadConfig) *loadResult {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := &loadResult{}

	sim := twiliosim.New(twiliosim.Options{AuthToken: simToken, OpenAPIDir: "-", AutoAnswer: true,
		Start: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)})
	defer sim.Close()
	rng := rand.New(rand.NewSource(cfg.seed))
	var rngMu sync.Mutex
	var injected atomic.Int64
	simS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cfg.faultRate > 0 {
			rngMu.Lock()
			x := rng.Float64()
			rngMu.Unlock()
			if x < cfg.faultRate {
				// The stand-in answers this request (or one racing it on
				// the same path) with the error, as Twilio would.
				status := http.StatusTooManyRequests
				if x < cfg.faultRate/2 {
					status = http.StatusInternalServerError
				}
				injected.Add(1)
				sim.FailREST(r.Method, r.URL.Path, status, 1)
			}
		}
		sim.Handler().ServeHTTP(w, r)
	}))
	defer simS.Close()
	sim.SetURL(simS.URL)

	sim.AddQueue("support")
	wf := sim.AddWorkflow("flowd", "support")
	for i := range cfg.calls {
		name := fmt.Sprintf("agent-%d", i)
		sim.AddWorker(name, "client:"+name, nil, "support")
		if err := sim.SetWorkerAvailable(name, true); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{EnvWorkspace: sim.WorkspaceSid(), EnvWorkflow: wf, EnvPostWorkActivity: sim.ActivitySid("Unavailable")}
	set, diags := flow.LoadSet([]string{cfg.flows}, flow.LoadOptions{Env: env})
	if diags.HasErrors() {
		t.Fatalf("flows do not load:\n%s", diagText(diags))
	}
	fl := set.ByName("contact-center")
	if fl == nil || len(fl.Numbers) == 0 {
		t.Fatal("no contact-center flow with a number")
	}

	dsn, cleanup, err := cfg.dsn()
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()

	// The round-robin in front of the replicas; it times every webhook.
	handlers := make([]http.Handler, cfg.replicas)
	var rr atomic.Uint64
	var latMu sync.Mutex
	ready := make(chan struct{})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-ready
		start := time.Now()
		handlers[rr.Add(1)%uint64(len(handlers))].ServeHTTP(w, r)
		if strings.HasPrefix(r.URL.Path, "/twilio/") {
			d := time.Since(start)
			latMu.Lock()
			res.latency = append(res.latency, d)
			latMu.Unlock()
		}
	}))
	defer front.Close()

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var engs []*engine.Engine
	var sts []store.Store
	var dispatchers sync.WaitGroup
	defer func() {
		cancel()
		dispatchers.Wait()
		for _, st := range sts {
			st.Close()
		}
	}()
	for i := range cfg.replicas {
		// A SQLite file serves one process: its replicas share the store.
		var st store.Store
		if i > 0 && !isPostgres(dsn) {
			st = sts[0]
		} else {
			var err error
			if st, err = store.Open(ctx, dsn); err != nil {
				t.Fatal(err)
			}
			sts = append(sts, st)
		}
		tw, err := twilio.NewClient(twilio.Config{AccountSid: sim.AccountSid(), AuthToken: "load", BaseURL: simS.URL})
		if err != nil {
			t.Fatal(err)
		}
		eng, err := engine.New(engine.Config{Store: st, Twilio: tw, PublicURL: front.URL, Logger: logger, Owner: fmt.Sprintf("replica-%d", i)}, set)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := server.New(server.Options{Engine: eng, Store: st, PublicURL: front.URL, AuthToken: simToken, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		engs = append(engs, eng)
		handlers[i] = srv.Handler()
		dispatchers.Add(1)
		go func() {
			defer dispatchers.Done()
			_ = eng.Run(ctx)
		}()
	}
	close(ready)
	sim.AddNumber(fl.Numbers[0], front.URL+engine.PathVoice)
	sim.ConfigureWorkspace(twiliosim.WorkspaceConfig{
		AssignmentCallbackURL: front.URL + engine.PathAssignment,
		EventCallbackURL:      front.URL + engine.PathWorkspaceEvents,
	})
	if cfg.duplicate {
		sim.DuplicateWebhooks(func(twiliosim.Webhook) bool { return true }, 1<<30)
	}

	l := &loadRun{t: t, ctx: ctx, sim: sim, st: sts[0], eng: engs[0], front: front.URL, api: &http.Client{Timeout: 30 * time.Second}}
	start := time.Now()
	phase := func(name string, fn func() error) {
		t.Helper()
		p := time.Now()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := l.quiesce(10 * time.Minute); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		res.phases = append(res.phases, fmt.Sprintf("%s %.1fs", name, time.Since(p).Seconds()))
	}

	phase("place and answer", func() error {
		for i := range cfg.calls {
			sid, err := sim.PlaceCall(fmt.Sprintf("+4477009%05d", i), fl.Numbers[0])
			if err != nil {
				return err
			}
			l.calls = append(l.calls, sid)
		}
		return nil
	})
	if err := l.expectAll("talking", nil); err != nil {
		t.Fatal(err)
	}
	phase("hold", func() error { return l.commandAll("hold") })
	if err := l.expectAll("on_hold", func(sid string) error {
		if !l.onHold(sid) {
			return errors.New("the caller is not on hold in the conference")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	phase("unhold", func() error { return l.commandAll("unhold") })
	if err := l.expectAll("talking", func(sid string) error {
		if l.onHold(sid) {
			return errors.New("the caller is still on hold")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	phase("caller hangs up", func() error {
		for _, sid := range l.calls {
			if err := sim.Hangup(sid); err != nil {
				return err
			}
		}
		return nil
	})
	res.wall = time.Since(start)

	for _, sid := range l.calls {
		if v, err := l.eng.Task(ctx, sid, false); err == nil && v.State == "done" && v.Final {
			res.completed++
		}
	}
	for _, w := range sim.Webhooks() {
		res.webhooks++
		if w.Dup {
			res.webhookCopies++
		}
		if w.Err != "" || w.Status < 200 || w.Status > 299 {
			res.webhookFailures++
		}
	}
	for _, e := range engs {
		s := e.Stats()
		res.duplicates += s.Duplicates.Load()
		res.conflicts += s.Conflicts.Load()
		res.restSent += s.RESTSent.Load()
		res.restRetries += s.RESTRetries.Load()
		res.restFailures += s.RESTFailures.Load()
	}
	res.faultsInjected = injected.Load()
	res.perCall = map[string][]string{}
	for _, r := range sim.Requests() {
		res.restRequests++
		switch {
		case r.Status >= 200 && r.Status <= 299:
			res.restAccepted++
		case r.Status == http.StatusTooManyRequests:
			res.rest429++
		case r.Status == http.StatusInternalServerError:
			res.rest500++
		}
		if r.Status < 200 || r.Status > 299 || r.Method == http.MethodGet {
			continue
		}
		call, err := l.callOf(r.Path)
		if err != nil {
			t.Errorf("REST %s %s: %v", r.Method, r.Path, err)
			continue
		}
		res.perCall[call] = append(res.perCall[call], normEffect(r))
	}
	return res
}

type loadRun struct {
	t     *testing.T
	ctx   context.Context
	sim   *twiliosim.Sim
	st    store.Store
	eng   *engine.Engine
	front string
	api   *http.Client
	calls []string // the callers' CallSids
}

// quiesce waits until the stand-in has nothing to deliver and the outbox
// is empty. The outbox is read before and after an idle stand-in: a webhook
// that queued REST calls committed them before it was answered.
func (l *loadRun) quiesce(limit time.Duration) error {
	ctx, cancel := context.WithTimeout(l.ctx, limit)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := l.st.Pending(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			if err := l.sim.WaitIdle(ctx); err != nil {
				return fmt.Errorf("the stand-in did not settle: %w", err)
			}
			if n, err = l.st.Pending(ctx); err != nil {
				return err
			}
			if n == 0 && l.sim.Idle() {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not quiet after %s: %d REST calls pending", limit, n)
		case <-tick.C:
		}
	}
}

// commandAll sends a command for every call, 32 at a time (agents'
// desktops, all at once).
func (l *loadRun) commandAll(name string) error {
	var wg sync.WaitGroup
	errs := make([]error, len(l.calls))
	sem := make(chan struct{}, 32)
	for i, sid := range l.calls {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			v, err := l.eng.Task(l.ctx, sid, false)
			if err != nil {
				errs[i] = err
				return
			}
			resp, err := l.api.Post(l.front+"/v1/tasks/"+v.TaskSid+"/commands/"+name, "application/json", strings.NewReader("{}"))
			if err != nil {
				errs[i] = err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs[i] = fmt.Errorf("%s on %s: %d %s", name, sid, resp.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// expectAll checks every call's state (and more, when check is set).
func (l *loadRun) expectAll(state string, check func(sid string) error) error {
	var errs []error
	for _, sid := range l.calls {
		v, err := l.eng.Task(l.ctx, sid, false)
		if err == nil && v.State != state {
			err = fmt.Errorf("state %s, want %s", v.State, state)
		}
		if err == nil && check != nil {
			err = check(sid)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("call %s: %w", sid, err))
			if len(errs) == 5 {
				break
			}
		}
	}
	return errors.Join(errs...)
}

func (l *loadRun) onHold(sid string) bool {
	c, ok := l.sim.Call(sid)
	if !ok || c.ConferenceSid == "" {
		return false
	}
	for _, p := range l.sim.Participants(c.ConferenceSid) {
		if p.CallSid == sid {
			return p.Hold
		}
	}
	return false
}

var loadSid = regexp.MustCompile(`\b(CA|CF|WT|WR|WK|WS|WW|WQ|WA|AC)[0-9a-f]{32}\b`)

// callOf attributes a REST path to its call: the session of the first
// conference or task SID in it (the store keeps them as aliases).
func (l *loadRun) callOf(path string) (string, error) {
	for _, sid := range loadSid.FindAllString(path, -1) {
		switch sid[:2] {
		case "CF", "WT":
			return l.st.Resolve(l.ctx, sid)
		}
	}
	return "", errors.New("no conference or task SID in the path")
}

var (
	loadCaller = regexp.MustCompile(`\+4477009[0-9]{5}`)
	loadAgent  = regexp.MustCompile(`agent-[0-9]+`)
)

// normEffect is a REST call with what differs between calls masked.
func normEffect(r twiliosim.Request) string {
	keys := sortedKeys(r.Form)
	kv := make([]string, 0, len(keys))
	for _, k := range keys {
		kv = append(kv, k+"="+strings.Join(r.Form[k], ","))
	}
	line := r.Method + " " + r.Path + " " + strings.Join(kv, " ")
	line = loadSid.ReplaceAllString(line, "$1…")
	line = hostPattern.ReplaceAllString(line, "http://flowd")
	line = loadCaller.ReplaceAllString(line, "+CALLER")
	return loadAgent.ReplaceAllString(line, "agent-N")
}

// diffMultiset: line -> (count in want) - (count in got), nonzero only.
func diffMultiset(want, got []string) map[string]int {
	d := map[string]int{}
	for _, s := range want {
		d[s]++
	}
	for _, s := range got {
		d[s]--
	}
	for s, n := range d {
		if n == 0 {
			delete(d, s)
		}
	}
	return d
}

func (r *loadResult) report(t *testing.T, storeKind string, calls int, faultRate float64, perCall, lost, doubled int) {
	lat := append([]time.Duration(nil), r.latency...)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	t.Logf(`load run: %d calls, 2 replicas on %s, every webhook twice, %.0f%% of REST calls refused (429/500)
  wall time                 %.1fs (%s)
  calls completed (done)    %d / %d
  webhooks delivered        %d (%d of them duplicate copies), %d failed
  duplicates suppressed     %d (answered from the stored reply)
  store conflicts (re-run)  %d
  REST requests to Twilio   %d: %d accepted, %d refused 429, %d refused 500 (%d faults injected)
  REST sent / retries / failed (engine)  %d / %d / %d
  REST effects per call     %d expected; lost %d, doubled %d
  webhook handling          p50 %s, p99 %s, max %s (%d requests)`,
		calls, storeKind, faultRate*100,
		r.wall.Seconds(), strings.Join(r.phases, ", "),
		r.completed, calls,
		r.webhooks, r.webhookCopies, r.webhookFailures,
		r.duplicates, r.conflicts,
		r.restRequests, r.restAccepted, r.rest429, r.rest500, r.faultsInjected,
		r.restSent, r.restRetries, r.restFailures,
		perCall, lost, doubled,
		pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), pct(1).Round(10*time.Microsecond), len(lat))
}
