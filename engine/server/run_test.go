package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowd/flowd/engine/store"
)

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"FLOWD_ADDR": ":9090", "FLOWD_FLOWS": "flows,extra/a.yaml", "FLOWD_STORE": "memory:",
		"FLOWD_PUBLIC_URL": "https://flowd.example.com", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "tok",
		"TWILIO_API_KEY": "SK1", "TWILIO_API_SECRET": "sec", "FLOWD_TWILIO_API_URL": "http://127.0.0.1:8099",
		"FLOWD_API_TOKEN": "api", "TWILIO_EDGE": "dublin", "TWILIO_REGION": "ie1",
	}
	cfg := ConfigFromEnv(func(k string) string { return env[k] })
	if cfg.Addr != ":9090" || !slices.Equal(cfg.Flows, []string{"flows", "extra/a.yaml"}) || cfg.Store != "memory:" ||
		cfg.PublicURL != "https://flowd.example.com" || cfg.AccountSid != "AC1" || cfg.AuthToken != "tok" ||
		cfg.APIKey != "SK1" || cfg.APISecret != "sec" || cfg.TwilioAPIURL != "http://127.0.0.1:8099" ||
		cfg.APIToken != "api" || cfg.Edge != "dublin" || cfg.Region != "ie1" {
		t.Fatalf("%+v", cfg)
	}
	if empty := ConfigFromEnv(func(string) string { return "" }); empty.Flows != nil || empty.Addr != "" {
		t.Fatalf("unset variables must leave fields empty: %+v", empty)
	}
	t.Setenv("TWILIO_AUTH_TOKEN", "secret")
	t.Setenv("FLOWD_TEST_VISIBLE", "yes")
	if pe := ProcessEnv(); pe["TWILIO_AUTH_TOKEN"] != "" || pe["FLOWD_TEST_VISIBLE"] != "yes" {
		t.Fatalf("flows must not see secrets: %v", pe["TWILIO_AUTH_TOKEN"])
	}
}

// TestConfigFromEnvTrims: a value with whitespace around it (a Kubernetes
// secret made with --from-file ends in the file's newline) is used without
// it, and the variable is named for Run's warning.
func TestConfigFromEnvTrims(t *testing.T) {
	for _, tc := range []struct {
		name, value, want string
		field             func(Config) string
	}{
		{"TWILIO_AUTH_TOKEN", "tok\n", "tok", func(c Config) string { return c.AuthToken }},
		{"TWILIO_API_SECRET", "  sec\r\n", "sec", func(c Config) string { return c.APISecret }},
		{"FLOWD_API_TOKEN", "\tapi \n", "api", func(c Config) string { return c.APIToken }},
		{"TWILIO_ACCOUNT_SID", "AC1\n", "AC1", func(c Config) string { return c.AccountSid }},
		{"FLOWD_STORE", "postgres://u:p@db/flowd\n", "postgres://u:p@db/flowd", func(c Config) string { return c.Store }},
		{"FLOWD_PUBLIC_URL", "https://flowd.example.com\n", "https://flowd.example.com", func(c Config) string { return c.PublicURL }},
		{"TWILIO_AUTH_TOKEN", "\n", "", func(c Config) string { return c.AuthToken }},
	} {
		cfg := ConfigFromEnv(func(k string) string {
			if k == tc.name {
				return tc.value
			}
			return ""
		})
		if got := tc.field(cfg); got != tc.want {
			t.Errorf("%s=%q: got %q, want %q", tc.name, tc.value, got, tc.want)
		}
		if !slices.Equal(cfg.TrimmedEnv, []string{tc.name}) {
			t.Errorf("%s=%q: TrimmedEnv = %q, want the variable named", tc.name, tc.value, cfg.TrimmedEnv)
		}
	}
	if cfg := ConfigFromEnv(func(k string) string { return map[string]string{"TWILIO_AUTH_TOKEN": "a b"}[k] }); cfg.AuthToken != "a b" || cfg.TrimmedEnv != nil {
		t.Errorf("inner whitespace is the value's: %q, trimmed %q", cfg.AuthToken, cfg.TrimmedEnv)
	}
}

// TestRunStartLines: what will not work is said in the first lines, before
// the store is opened (here it cannot be): a trimmed secret is named
// without its value, and a missing account SID is reported.
func TestRunStartLines(t *testing.T) {
	logs := &syncBuffer{}
	cfg := ConfigFromEnv(func(k string) string {
		return map[string]string{"TWILIO_AUTH_TOKEN": "s3cr3t-token\n", "FLOWD_API_TOKEN": "api-t0ken\n"}[k]
	})
	cfg.Flows, cfg.Store, cfg.Env, cfg.Listener = []string{"testdata/flows"}, "bogus:", testEnv, nopListener{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	if err := Run(t.Context(), cfg); err == nil {
		t.Fatal("Run started on a bogus store")
	}
	if strings.Contains(logs.String(), "s3cr3t") || strings.Contains(logs.String(), "api-t0ken") {
		t.Fatalf("a secret's value was logged:\n%s", logs)
	}
	for _, name := range []string{"TWILIO_AUTH_TOKEN", "FLOWD_API_TOKEN"} {
		if rec := logs.find(t, "variable", name, "level", "WARN"); rec == nil {
			t.Errorf("no warning naming %s:\n%s", name, logs)
		}
	}
	if !strings.Contains(logs.String(), "TWILIO_ACCOUNT_SID is not set") {
		t.Errorf("the missing account SID is not among the first lines:\n%s", logs)
	}
}

// TestRunRefusesAddrWithoutPort: FLOWD_ADDR=8090 is refused with what to
// write instead, before a warning names a public URL on port 8080.
func TestRunRefusesAddrWithoutPort(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"8090", `write ":8090"`},
		{"localhost", "host:port"},
		{":8090", ""},
		{"127.0.0.1:8093", ""},
		{"[::1]:80", ""},
	} {
		err := checkAddr(tc.addr)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("checkAddr(%q) = %v, want %q", tc.addr, err, tc.want)
		}
	}
	logs := &syncBuffer{}
	err := Run(t.Context(), Config{Addr: "8090", Flows: []string{"testdata/flows"}, Store: "memory:", Env: testEnv,
		AuthToken: "x", Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err == nil || !strings.Contains(err.Error(), `":8090"`) {
		t.Fatalf("Run with FLOWD_ADDR=8090: %v", err)
	}
	if strings.Contains(logs.String(), "8080") {
		t.Fatalf("the log names port 8080 for FLOWD_ADDR=8090:\n%s", logs)
	}
}

// TestRunRefusesReadOnlyStore: a SQLite file flowd may not write opens
// (nothing to migrate), but `flowd serve` does not start on it: the first
// write, the flows' revisions, fails and the error says what to check. It
// used to start, look ready and answer every webhook 500. (The file is
// made read-only in its header, which SQLite honours even for root.)
func TestRunRefusesReadOnlyStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ro.db")
	st, err := store.Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{3}, 18); err != nil { // file format write version 3: read only
		t.Fatal(err)
	}
	f.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	started := false
	err = Run(ctx, Config{Listener: ln, Flows: []string{"testdata/flows"}, Store: "sqlite:" + path, PublicURL: testPublicURL,
		AuthToken: testAuthToken, Env: testEnv, Sender: &fakeSender{}, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Ready: func(net.Addr) { started = true; cancel() }})
	if started || err == nil {
		t.Fatalf("flowd started on a read-only store (Run: %v)", err)
	}
	for _, want := range []string{"cannot be written", "readonly", "read-only to flowd", "PATH-wal"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Run: %v\nwant it to say %q", err, want)
		}
	}
}

func TestRunRefusesBadStart(t *testing.T) {
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	// Without an auth token the first log line says webhooks are refused.
	err := Run(t.Context(), Config{Flows: []string{"testdata/flows"}, Store: "bogus:", Env: testEnv, Logger: log, Listener: nopListener{}})
	if err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("bad store: %v", err)
	}
	recs := logs.records(t)
	if len(recs) == 0 || !strings.Contains(recs[0]["msg"].(string), "TWILIO_AUTH_TOKEN") || recs[0]["level"] != "ERROR" {
		t.Fatalf("first log line: %v", recs)
	}
	// Invalid flows: no start, and the diagnostics say where.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "bad.yaml"), "flow: bad\ninitial: nowhere\nstates:\n  a: { final: true }\n")
	err = Run(t.Context(), Config{Flows: []string{dir}, Store: "memory:", Env: testEnv, Logger: log, AuthToken: "x", Listener: nopListener{}})
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:") {
		t.Fatalf("invalid flows: %v", err)
	}
}

// nopListener is never served: Run must fail before it gets there.
type nopListener struct{}

func (nopListener) Accept() (net.Conn, error) { return nil, io.EOF }
func (nopListener) Close() error              { return nil }
func (nopListener) Addr() net.Addr            { return &net.TCPAddr{} }

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	// Distinct mtimes even on coarse filesystems.
	mt := time.Now().Add(time.Duration(len(data)) * time.Millisecond)
	if err := os.Chtimes(path, mt, mt); err != nil {
		t.Fatal(err)
	}
}

func eventually(t testing.TB, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRunLifecycle runs the real server on a loopback listener: readiness,
// webhooks and commands over TCP, the outbox dispatcher, flow reloads on
// file change and SIGHUP (an invalid edit keeps the running revision; a
// running call keeps its revision), and graceful shutdown.
func TestRunLifecycle(t *testing.T) {
	src, err := os.ReadFile("testdata/flows/support.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "support.yaml")
	writeFile(t, file, string(src))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	sender := &fakeSender{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := Config{Listener: ln, Flows: []string{dir}, Store: "memory:", PublicURL: testPublicURL, AuthToken: testAuthToken,
		Env: testEnv, Sender: sender, ReloadInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (int, string) {
		resp, err := client.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(path string, form url.Values) int {
		r, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("X-Twilio-Signature", sign(testAuthToken, testPublicURL+path, form))
		resp, err := client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	revision := func() string {
		_, body := get("/v1/flows")
		var fs []FlowSummary
		_ = json.Unmarshal([]byte(body), &fs)
		if len(fs) != 1 {
			return ""
		}
		return fs[0].Revision
	}

	eventually(t, "readiness", func() bool { code, _ := get("/readyz"); return code == 200 })
	if recs := logs.records(t); !strings.Contains(recs[0]["msg"].(string), "FLOWD_API_TOKEN") {
		t.Fatalf("first log line should say /v1 is open: %v", recs[0])
	}
	rev1 := revision()

	// A call over real TCP, then a command whose REST call the dispatcher sends.
	if c := post("/twilio/voice", incomingCall("CA300", supportNumber)); c != 200 {
		t.Fatalf("voice %d", c)
	}
	if c := post("/twilio/taskrouter/assignment", assignmentForm("WT300", "WR300", "CA300")); c != 200 {
		t.Fatalf("assignment %d", c)
	}
	q := "/twilio/conference/status?session=CA300"
	post(q, conferenceForm("participant-join", "CF300", "WT300", "CA300", "customer", 1))
	post(q, conferenceForm("participant-join", "CF300", "WT300", "CA301", "agent", 2))
	resp, err := client.Post(base+"/v1/tasks/WT300/commands/hold", "application/json", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("hold: %v %v", resp, err)
	}
	resp.Body.Close()
	eventually(t, "the dispatcher to send the hold", func() bool { return sender.n.Load() > 0 })

	// An edit is picked up by polling.
	writeFile(t, file, strings.Replace(string(src), "Inbound support line (server tests).", "Edited.", 1))
	eventually(t, "the edited flow", func() bool { r := revision(); return r != "" && r != rev1 })
	rev2 := revision()

	// An invalid edit is refused: the running revision stays.
	writeFile(t, file, "flow: support\nstates: [\n")
	eventually(t, "the refusal", func() bool { return logs.find(t, "msg", "flow reload refused; the running flows stay") != nil })
	if r := revision(); r != rev2 {
		t.Fatalf("an invalid edit replaced the flows: %s -> %s", rev2, r)
	}
	if rec := logs.find(t, "msg", "flow reload refused; the running flows stay"); !strings.Contains(rec["diagnostics"].(string), "support.yaml:") {
		t.Fatalf("refusal without diagnostics: %v", rec)
	}
	// The call in progress keeps the revision it started on.
	_, body := get("/v1/tasks/WT300")
	if !strings.Contains(body, `"revision":"`+rev1+`"`) {
		t.Fatalf("the running call moved off its revision %s: %s", rev1, body)
	}

	// SIGHUP reloads too (here: the file restored, with polling off the
	// path because the content equals what the fingerprint last saw).
	writeFile(t, file, string(src))
	eventually(t, "the restored flow", func() bool { return revision() == rev1 })
	if sendHUP(t) {
		eventually(t, "the SIGHUP reload", func() bool { return logs.find(t, "msg", "flows reloaded", "reason", "SIGHUP") != nil })
	}

	_, mbody := get("/metrics")
	if !strings.Contains(mbody, `flowd_flow_reloads_total{result="invalid"}`) || !strings.Contains(mbody, `flowd_flow_reloads_total{result="ok"}`) {
		t.Fatalf("reload metrics missing")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop")
	}
	if logs.find(t, "msg", "stopped") == nil {
		t.Fatal("no final log line")
	}
	if _, err := client.Get(base + "/healthz"); err == nil {
		t.Fatal("still serving after shutdown")
	}
}

// With a drain delay, a stopping server keeps answering for that long with
// /readyz failing, so a load balancer sees the probe fail before the port
// closes (without one, new connections are refused at once).
func TestRunDrainDelayKeepsServingWhileNotReady(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	cfg := Config{Listener: ln, Flows: []string{"testdata/flows/support.yaml"}, Store: "memory:", PublicURL: testPublicURL,
		AuthToken: testAuthToken, Env: testEnv, Sender: &fakeSender{}, DrainDelay: 3 * time.Second,
		Ready:  func(net.Addr) { close(ready) },
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	<-ready
	cancel()
	client := &http.Client{Timeout: time.Second}
	eventually(t, "/readyz to fail while the server still answers", func() bool {
		resp, err := client.Get("http://" + ln.Addr().String() + "/readyz")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 503 && strings.Contains(string(b), "shutting down")
	})
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestLocalURL: without FLOWD_PUBLIC_URL, signatures are checked against
// this machine on the port flowd listens on, not always port 8080.
func TestLocalURL(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{":8080", "http://localhost:8080"},
		{"127.0.0.1:18080", "http://127.0.0.1:18080"},
		{"0.0.0.0:9000", "http://localhost:9000"},
		{"[::]:9000", "http://localhost:9000"},
		{"[::1]:9000", "http://[::1]:9000"},
		{"flowd.internal:80", "http://flowd.internal:80"},
		{"no port", DefaultPublicURL},
	} {
		if got := localURL(nil, tc.addr); got != tc.want {
			t.Errorf("localURL(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got, want := localURL(ln, ":8080"), "http://"+ln.Addr().String(); got != want {
		t.Errorf("with a listener: %q, want %q", got, want)
	}
}
