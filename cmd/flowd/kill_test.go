package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowd/flowd/engine"
	"github.com/flowd/flowd/engine/scenario"
	"github.com/flowd/flowd/engine/server"
	"github.com/flowd/flowd/engine/twiliosim"
)

const (
	killToken    = "flowdkilltoken0123456789abcdef01"
	killNumber   = "+15550100200" // flows/contact-center.yaml
	killCaller   = "+447700900123"
	killAgent    = "client:alice"
	killConsult  = "+15557654321"
	killDeadline = 2 * time.Minute // a settle covers the 30 s lease
)

// TestSIGKILLRecovers runs the real `flowd serve` binary as a subprocess on a
// SQLite file, drives a warm transfer through the Twilio stand-in, kills the
// process with SIGKILL at chosen moments, starts it again on the same file,
// and checks that the call ends where it would have without the crash, with
// every REST effect Twilio saw exactly once.
//
// The stand-in does not retry failed webhooks (it records them, with their
// I-Twilio-Idempotency-Token). Real Twilio retries a failed connection as
// its connection-override settings say (flowd sets none, so briefly), which
// a restart may or may not catch; the test plays that retry itself after
// the restart: each webhook that failed while flowd was down is sent again
// from the stand-in's record, with the same URL, form, signature and
// idempotency token. TwiML fetches (voice, action, redirect) cannot be
// redelivered that way (the stand-in already played its application error,
// as Twilio does), so the kill moments are chosen where only callbacks are
// in flight, and the test fails if a TwiML fetch was lost.
//
// flowd's outbox lease is 30 s and has no setting in `flowd serve`: an item
// the killed process had claimed is sent again only after it expires, so
// two of the variants take about half a minute each.
func TestSIGKILLRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("the SIGKILL test builds and runs the flowd binary; skipped in -short mode")
	}
	bin := filepath.Join(t.TempDir(), "flowd")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	flows, err := filepath.Abs(filepath.Join("..", "..", "flows"))
	if err != nil {
		t.Fatal(err)
	}

	var base []string
	t.Run("no kill", func(t *testing.T) {
		k := newKillRun(t, bin, flows)
		k.warmTransfer()
		base = k.effects()
	})
	if base == nil {
		t.Fatal("the uninterrupted run failed: nothing to compare with")
	}

	variants := []struct {
		name string
		// arm sets the kill up; it runs once the call is talking.
		arm func(k *killRun)
		// check proves the kill hit the window it aims at.
		check func(t *testing.T, k *killRun)
	}{
		{
			// The transfer is committed (state, hold and dial in the outbox)
			// and the dispatcher has claimed the hold, but no REST call has
			// reached Twilio: the restarted process must send both, once.
			name: "after the transfer commit, before any REST call reached Twilio",
			arm: func(k *killRun) {
				release := make(chan struct{})
				var mu sync.Mutex
				held := 0
				k.restHook(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
					mu.Lock()
					held++
					mu.Unlock()
					<-release
					http.Error(w, "flowd is gone", http.StatusBadGateway)
					return true
				})
				k.afterCommand = func(name string) {
					if name != "transfer" {
						return
					}
					k.poll("the dispatcher to send the hold", func() bool {
						mu.Lock()
						defer mu.Unlock()
						return held > 0
					})
					k.killedIn = k.state
					k.kill()
					k.restHook(nil)
					close(release)
				}
			},
			check: func(t *testing.T, k *killRun) {
				if k.killedIn != "consult_ringing" {
					t.Errorf("killed in state %q, want consult_ringing (the transfer committed)", k.killedIn)
				}
			},
		},
		{
			// Twilio created the consultee's participant but flowd died
			// before recording it: the restarted process sends the create
			// again, Twilio refuses the repeated label (16026) and flowd
			// counts it done.
			name: "after Twilio accepted the dial, before flowd recorded it",
			arm: func(k *killRun) {
				k.restHook(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
					if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/Participants.json") {
						return false
					}
					rec := httptest.NewRecorder()
					next.ServeHTTP(rec, r)
					k.kill()
					k.restHook(nil)
					w.WriteHeader(rec.Code)
					_, _ = w.Write(rec.Body.Bytes())
					return true
				})
			},
			check: func(t *testing.T, k *killRun) {
				repeated := 0
				for _, r := range k.sim.Requests() {
					if strings.HasSuffix(r.Path, "/Participants.json") && strings.Contains(r.Body, "16026") {
						repeated++
					}
				}
				if repeated != 1 {
					t.Errorf("%d participant creates refused with 16026, want 1 (the repeat after the restart)", repeated)
				}
				if len(k.resent) == 0 {
					t.Errorf("no webhook failed while flowd was down: the consultee's call progress should have")
				}
			},
		},
		{
			// The consultee answers: flowd handles the leg's in-progress
			// callback (committed) and dies before answering it; the
			// conference join queued behind it finds nobody. Redelivery
			// must replay the stored answer for the first and apply the
			// join once (state consulting).
			name: "while conference callbacks are in flight",
			arm: func(k *killRun) {
				k.webhookHook(func(req *http.Request, form url.Values, forward func() (*http.Response, error)) (*http.Response, error, bool) {
					if form.Get("CallStatus") != "in-progress" || req.URL.Query().Get("role") != "consultee" {
						return nil, nil, false
					}
					resp, err := forward()
					if err != nil {
						k.t.Errorf("the consultee's call progress did not reach flowd: %v", err)
					} else {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						k.mustReplay = req.Header.Get(server.IdempotencyTokenHeader)
					}
					k.kill()
					k.webhookHook(nil)
					return nil, errors.New("connection reset by peer (flowd was killed)"), true
				})
			},
			check: func(t *testing.T, k *killRun) {
				if k.mustReplay == "" || !k.replayed[k.mustReplay] {
					t.Errorf("the webhook flowd handled before it died was not answered from its stored reply on redelivery")
				}
				if len(k.resent) < 2 {
					t.Errorf("%d webhooks redelivered, want the one in flight and those queued behind it", len(k.resent))
				}
			},
		},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			k := newKillRun(t, bin, flows)
			k.armAfterTalking = func() { v.arm(k) }
			k.warmTransfer()
			if k.kills == 0 {
				t.Fatal("flowd was never killed: the kill point was not reached")
			}
			v.check(t, k)
			t.Logf("%d kill(s); %d webhooks redelivered, %d of them answered as replays", k.kills, len(k.resent), len(k.replayed))
			got := k.effects()
			if d := diffEffects(base, got); d != "" {
				t.Errorf("REST effects differ from the uninterrupted run (- missing, + extra):\n%s", d)
			}
			for line, n := range countLines(got) {
				if n > 1 {
					t.Errorf("REST effect done %d times: %s", n, line)
				}
			}
		})
	}
}

// killRun is one stand-in and one flowd process (restarted after each kill)
// on one SQLite file.
type killRun struct {
	t     *testing.T
	bin   string
	flows string
	sim   *twiliosim.Sim
	simS  *httptest.Server
	url   string // flowd's base URL (fixed port, so the stand-in's URLs survive restarts)
	env   []string
	log   *os.File
	api   *http.Client

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	rest    func(w http.ResponseWriter, r *http.Request, next http.Handler) bool
	webhook func(req *http.Request, form url.Values, forward func() (*http.Response, error)) (*http.Response, error, bool)

	kills           int
	armAfterTalking func()
	afterCommand    func(name string)
	resent          map[string]bool // idempotency tokens redelivered
	replayed        map[string]bool // … and answered as a replay
	mustReplay      string
	state           string // the last command reply's state
	killedIn        string
	callSid         string
	taskSid         string
}

func newKillRun(t *testing.T, bin, flows string) *killRun {
	k := &killRun{t: t, bin: bin, flows: flows, api: &http.Client{Timeout: 10 * time.Second},
		resent: map[string]bool{}, replayed: map[string]bool{}}
	dir := t.TempDir()
	k.sim = twiliosim.New(twiliosim.Options{AuthToken: killToken, OpenAPIDir: os.Getenv("TWILIO_OPENAPI_DIR"),
		HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: hookTransport{k}}})
	k.simS = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		hook := k.rest
		k.mu.Unlock()
		if hook != nil && hook(w, r, k.sim.Handler()) {
			return
		}
		k.sim.Handler().ServeHTTP(w, r)
	}))
	k.sim.SetURL(k.simS.URL)
	t.Cleanup(func() {
		k.kill()
		k.sim.Close()
		k.simS.Close()
		if t.Failed() {
			b, _ := os.ReadFile(k.log.Name())
			t.Logf("flowd's log:\n%s", tail(string(b), 60))
			for _, w := range k.sim.Webhooks() {
				t.Logf("webhook %s %s %s status=%d err=%q token=%s", w.Kind, w.URL, eventOf(w.Form), w.Status, w.Err, w.Token)
			}
		}
	})

	// TaskRouter as engine/scenario sets it up for contact-center.test.yaml.
	k.sim.AddQueue("support")
	k.sim.AddQueue("billing")
	wf := k.sim.AddWorkflow("flowd", "support")
	k.sim.AddWorker("alice", killAgent, nil, "support")
	if err := k.sim.SetWorkerAvailable("alice", true); err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	k.url = "http://127.0.0.1:" + strconv.Itoa(port)
	k.sim.AddNumber(killNumber, k.url+engine.PathVoice)
	k.sim.ConfigureWorkspace(twiliosim.WorkspaceConfig{
		AssignmentCallbackURL: k.url + engine.PathAssignment,
		EventCallbackURL:      k.url + engine.PathWorkspaceEvents,
	})

	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FLOWD_") && !strings.HasPrefix(kv, "TWILIO_") {
			k.env = append(k.env, kv)
		}
	}
	k.env = append(k.env,
		"FLOWD_ADDR=127.0.0.1:"+strconv.Itoa(port),
		"FLOWD_PUBLIC_URL="+k.url,
		"FLOWD_STORE=sqlite:"+filepath.Join(dir, "flowd.db"),
		"FLOWD_FLOWS="+flows,
		"FLOWD_LOG_LEVEL=debug",
		"TWILIO_ACCOUNT_SID="+k.sim.AccountSid(),
		"TWILIO_AUTH_TOKEN="+killToken,
		"FLOWD_TWILIO_API_URL="+k.simS.URL,
		scenario.EnvWorkspace+"="+k.sim.WorkspaceSid(),
		scenario.EnvWorkflow+"="+wf,
		scenario.EnvPostWorkActivity+"="+k.sim.ActivitySid("Unavailable"),
	)
	var err error
	if k.log, err = os.Create(filepath.Join(dir, "flowd.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.log.Close() })
	k.start()
	return k
}

// hookTransport lets a variant intercept the stand-in's webhooks to flowd.
type hookTransport struct{ k *killRun }

func (h hookTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h.k.mu.Lock()
	hook := h.k.webhook
	h.k.mu.Unlock()
	forward := func() (*http.Response, error) { return http.DefaultTransport.RoundTrip(req) }
	if hook == nil {
		return forward()
	}
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body.Close()
	}
	form, _ := url.ParseQuery(string(body))
	req.Body = io.NopCloser(bytes.NewReader(body))
	if resp, err, ok := hook(req, form, forward); ok {
		return resp, err
	}
	return forward()
}

func (k *killRun) restHook(h func(w http.ResponseWriter, r *http.Request, next http.Handler) bool) {
	k.mu.Lock()
	k.rest = h
	k.mu.Unlock()
}

func (k *killRun) webhookHook(h func(req *http.Request, form url.Values, forward func() (*http.Response, error)) (*http.Response, error, bool)) {
	k.mu.Lock()
	k.webhook = h
	k.mu.Unlock()
}

// start runs `flowd serve` and waits until /readyz answers 200.
func (k *killRun) start() {
	k.t.Helper()
	cmd := exec.Command(k.bin, "serve")
	cmd.Env = k.env
	cmd.Stdout, cmd.Stderr = k.log, k.log
	if err := cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	k.mu.Lock()
	k.cmd, k.exited = cmd, exited
	k.mu.Unlock()
	k.poll("flowd to be ready", func() bool {
		select {
		case <-exited:
			k.t.Fatalf("flowd exited during start-up: %v", cmd.ProcessState)
		default:
		}
		resp, err := k.api.Get(k.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// kill sends SIGKILL and waits for the process to be gone. Safe to call
// from the stand-in's goroutines.
func (k *killRun) kill() {
	k.mu.Lock()
	cmd, exited := k.cmd, k.exited
	k.cmd = nil
	k.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
	k.mu.Lock()
	k.kills++
	k.mu.Unlock()
}

func (k *killRun) alive() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cmd != nil
}

// poll waits for cond, checking every 20 ms until killDeadline: two
// processes share no clock, so waiting is polling with a deadline.
func (k *killRun) poll(what string, cond func() bool) {
	k.t.Helper()
	deadline := time.Now().Add(killDeadline)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			k.t.Fatalf("timed out after %s waiting for %s", killDeadline, what)
		}
		<-tick.C
	}
}

// restart starts flowd again if a variant killed it and redelivers the webhooks
// that failed meanwhile, as Twilio's retry would.
func (k *killRun) restart() {
	k.t.Helper()
	if k.alive() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), killDeadline)
	defer cancel()
	if err := k.sim.WaitIdle(ctx); err != nil {
		k.t.Fatalf("the stand-in did not settle while flowd was down: %v", err)
	}
	k.start()
	for _, w := range k.sim.Webhooks() {
		if w.Err == "" && w.Status >= 200 && w.Status < 300 || k.resent[w.Token] {
			continue
		}
		switch w.Kind {
		case "voice", "action", "redirect", "assignment":
			k.t.Fatalf("a %s webhook was lost while flowd was down (%s): Twilio does not redeliver it and the stand-in already acted on the failure", w.Kind, w.URL)
		}
		k.resent[w.Token] = true
		k.redeliver(w)
	}
}

// redeliver sends a recorded webhook again: same URL, form, signature and
// idempotency token.
func (k *killRun) redeliver(w twiliosim.Webhook) {
	k.t.Helper()
	form := url.Values(w.Form)
	var req *http.Request
	var err error
	if w.Method == http.MethodGet {
		u, perr := url.Parse(w.URL)
		if perr != nil {
			k.t.Fatal(perr)
		}
		q := u.Query()
		for key, vs := range form {
			for _, v := range vs {
				q.Add(key, v)
			}
		}
		u.RawQuery = q.Encode()
		req, err = http.NewRequest(w.Method, u.String(), nil)
		if err == nil {
			req.Header.Set("X-Twilio-Signature", twiliosim.Signature(killToken, u.String(), nil))
		}
	} else {
		req, err = http.NewRequest(w.Method, w.URL, strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Twilio-Signature", twiliosim.Signature(killToken, w.URL, form))
		}
	}
	if err != nil {
		k.t.Fatal(err)
	}
	req.Header.Set(server.IdempotencyTokenHeader, w.Token)
	resp, err := k.api.Do(req)
	if err != nil {
		k.t.Fatalf("redelivering %s %s: %v", w.Kind, eventOf(w.Form), err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		k.t.Fatalf("redelivered %s %s answered %d", w.Kind, eventOf(w.Form), resp.StatusCode)
	}
	if resp.Header.Get(server.ReplayedHeader) == "true" {
		k.replayed[w.Token] = true
	}
}

// settle waits until the stand-in has delivered everything and flowd's
// outbox is empty (restarting flowd first if it was killed). Pending is read
// before and after an idle stand-in: a webhook that queued a REST call
// commits it before it is answered, so the second read sees it.
func (k *killRun) settle() {
	k.t.Helper()
	k.restart()
	ctx, cancel := context.WithTimeout(context.Background(), killDeadline)
	defer cancel()
	k.poll("the call to settle (stand-in idle, outbox empty)", func() bool {
		if !k.alive() {
			return true // a kill point was reached: restart below
		}
		if k.pending() != 0 {
			return false
		}
		if err := k.sim.WaitIdle(ctx); err != nil {
			k.t.Fatalf("the stand-in did not settle: %v", err)
		}
		return k.alive() && k.pending() == 0 && k.sim.Idle()
	})
	if !k.alive() {
		k.settle()
	}
}

// pending reads flowd_outbox_pending from /metrics (-1 when unreachable).
func (k *killRun) pending() int {
	resp, err := k.api.Get(k.url + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "flowd_outbox_pending "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return -1
			}
			return int(f)
		}
	}
	return -1
}

func (k *killRun) task() engine.TaskView {
	k.t.Helper()
	resp, err := k.api.Get(k.url + "/v1/tasks/" + k.taskSid)
	if err != nil {
		k.t.Fatal(err)
	}
	defer resp.Body.Close()
	var v engine.TaskView
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		k.t.Fatalf("GET /v1/tasks/%s: %d %s", k.taskSid, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		k.t.Fatal(err)
	}
	return v
}

func (k *killRun) command(name string, params map[string]any) {
	k.t.Helper()
	if params == nil {
		params = map[string]any{}
	}
	body, _ := json.Marshal(params)
	resp, err := k.api.Post(k.url+"/v1/tasks/"+k.taskSid+"/commands/"+name, "application/json", bytes.NewReader(body))
	if err != nil {
		k.t.Fatalf("command %s: %v", name, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		k.t.Fatalf("command %s answered %d: %s", name, resp.StatusCode, b)
	}
	var v engine.TaskView
	if err := json.Unmarshal(b, &v); err != nil {
		k.t.Fatalf("command %s: %v: %s", name, err, b)
	}
	k.state = v.State
	if k.afterCommand != nil {
		k.afterCommand(name)
	}
}

func (k *killRun) expectState(want string) {
	k.t.Helper()
	if v := k.task(); v.State != want {
		k.t.Fatalf("state %q, want %q", v.State, want)
	}
}

// warmTransfer is contact-center.test.yaml's "warm transfer to a known
// person, completed", with a kill wherever the variant armed one.
func (k *killRun) warmTransfer() {
	t := k.t
	t.Helper()
	var err error
	if k.callSid, err = k.sim.PlaceCall(killCaller, killNumber); err != nil {
		t.Fatal(err)
	}
	k.settle()
	if err := k.sim.Answer(killAgent); err != nil {
		t.Fatal(err)
	}
	k.settle()
	for _, ti := range k.sim.Tasks() {
		if ti.CallSid == k.callSid {
			k.taskSid = ti.Sid
		}
	}
	if k.taskSid == "" {
		t.Fatal("no TaskRouter task for the call")
	}
	k.expectState("talking")
	if k.armAfterTalking != nil {
		k.armAfterTalking()
	}

	k.command("transfer", map[string]any{"mode": "warm", "to": killConsult})
	k.settle()
	k.expectState("consult_ringing")
	if c, ok := k.sim.Call(killConsult); !ok || c.Status != "ringing" {
		t.Fatalf("the consultee's phone is not ringing: %+v", c)
	}
	if !k.onHold(killCaller) {
		t.Fatal("the caller is not on hold during the consult")
	}

	if err := k.sim.Answer(killConsult); err != nil {
		t.Fatal(err)
	}
	k.settle()
	k.expectState("consulting")
	if !k.sim.Hears(killAgent, killConsult) || !k.sim.Hears(killConsult, killAgent) {
		t.Fatal("agent and consultee do not hear each other")
	}

	k.command("complete_transfer", nil)
	k.settle()
	k.expectState("talking")
	if !k.sim.Hears(killCaller, killConsult) || !k.sim.Hears(killConsult, killCaller) {
		t.Fatalf("caller and consultee do not hear each other; the caller hears %+v", k.sim.Hearing(killCaller))
	}
	if k.onHold(killCaller) {
		t.Fatal("the caller is still on hold")
	}
	if c, _ := k.sim.Call(killAgent); c.Status != "completed" {
		t.Fatalf("the first agent's call is %s, want completed", c.Status)
	}
	if ti, _ := k.sim.Task(k.taskSid); ti.AssignmentStatus != "completed" {
		t.Fatalf("the agent's task is %s, want completed", ti.AssignmentStatus)
	}
	if v := k.sim.Violations(); len(v) > 0 {
		t.Fatalf("REST requests that do not conform to Twilio's OpenAPI spec:\n%s", strings.Join(v, "\n"))
	}
}

func (k *killRun) onHold(party string) bool {
	c, ok := k.sim.Call(party)
	if !ok || c.ConferenceSid == "" {
		return false
	}
	for _, p := range k.sim.Participants(c.ConferenceSid) {
		if p.CallSid == c.Sid {
			return p.Hold
		}
	}
	return false
}

var (
	killSid  = regexp.MustCompile(`\b(CA|CF|WT|WR|WK|WS|WW|WQ|WA|AC)[0-9a-f]{32}\b`)
	killHost = regexp.MustCompile(`https?://127\.0\.0\.1:[0-9]+`)
)

// effects are the REST calls Twilio accepted (2xx, not GET), with SIDs and
// ports masked, sorted.
func (k *killRun) effects() []string {
	var out []string
	for _, r := range k.sim.Requests() {
		if r.Status < 200 || r.Status > 299 || r.Method == http.MethodGet {
			continue
		}
		keys := make([]string, 0, len(r.Form))
		for key := range r.Form {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		var kv []string
		for _, key := range keys {
			kv = append(kv, key+"="+strings.Join(r.Form[key], ","))
		}
		line := r.Method + " " + r.Path + " " + strings.Join(kv, " ")
		out = append(out, killHost.ReplaceAllString(killSid.ReplaceAllString(line, "$1…"), "http://flowd"))
	}
	sort.Strings(out)
	return out
}

func countLines(lines []string) map[string]int {
	n := map[string]int{}
	for _, l := range lines {
		n[l]++
	}
	return n
}

// diffEffects lists lines missing from got (-) and extra in it (+), as
// multisets; "" when equal.
func diffEffects(want, got []string) string {
	n := countLines(want)
	for _, l := range got {
		n[l]--
	}
	var out []string
	for l, c := range n {
		for ; c > 0; c-- {
			out = append(out, "- "+l)
		}
		for ; c < 0; c++ {
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func eventOf(f map[string][]string) string {
	for _, key := range []string{"StatusCallbackEvent", "EventType", "CallStatus"} {
		if v := f[key]; len(v) > 0 {
			return key + "=" + v[0]
		}
	}
	return ""
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
