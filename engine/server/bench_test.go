package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flowd/flowd/engine"
	"github.com/flowd/flowd/engine/store"
	"github.com/flowd/flowd/engine/twilio"
)

// BenchmarkCallback splits a callback's cost between the server (signature,
// form, routing, metrics, log line) and the engine with its store: "engine"
// calls Engine.Handle with the event the server would build, "server"
// sends the signed request through ServeHTTP (no network).
//
//	go test -run XXX -bench BenchmarkCallback ./engine/server/
func BenchmarkCallback(b *testing.B) {
	for _, backend := range []string{"memory", "sqlite"} {
		for _, layer := range []string{"engine", "server"} {
			b.Run(backend+"/"+layer, func(b *testing.B) { benchCallback(b, backend, layer) })
		}
	}
}

func benchCallback(b *testing.B, backend, layer string) {
	ctx := context.Background()
	var st store.Store = store.NewMemory()
	if backend == "sqlite" {
		var err error
		if st, err = store.Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "bench.db")); err != nil {
			b.Fatal(err)
		}
	}
	defer st.Close()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	eng, err := engine.New(engine.Config{Store: st, Twilio: &fakeSender{}, PublicURL: testPublicURL, Logger: log}, loadTestFlows(b))
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(Options{Engine: eng, Store: st, PublicURL: testPublicURL, AuthToken: testAuthToken, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	const sessions = 100
	for i := range sessions {
		call := fmt.Sprintf("CA%032d", i)
		if _, err := eng.Handle(ctx, engine.VoiceEvent(mustVoice(b, incomingCall(call, supportNumber)), false, "", "")); err != nil {
			b.Fatal(err)
		}
	}
	// Requests are built before the clock starts so that only the
	// server's work is measured; the token (not signed) makes each one new.
	type prepared struct {
		form      map[string][]string
		body, sig string
	}
	reqs := make([]prepared, sessions)
	for i := range reqs {
		form := assignmentForm(fmt.Sprintf("WT%032d", i), fmt.Sprintf("WR%032d", i), fmt.Sprintf("CA%032d", i))
		reqs[i] = prepared{form, form.Encode(), sign(testAuthToken, testPublicURL+engine.PathAssignment, form)}
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		p := reqs[n%sessions]
		token := "bench-" + strconv.Itoa(n)
		if layer == "engine" {
			a, err := twilio.ParseAssignment(p.form)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := eng.Handle(ctx, engine.AssignmentEvent(a, token)); err != nil {
				b.Fatal(err)
			}
			continue
		}
		r, _ := http.NewRequest(http.MethodPost, engine.PathAssignment, strings.NewReader(p.body))
		r.Header["Content-Type"] = []string{"application/x-www-form-urlencoded"}
		r.Header["X-Twilio-Signature"] = []string{p.sig}
		r.Header[IdempotencyTokenHeader] = []string{token}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

func mustVoice(b testing.TB, form map[string][]string) twilio.VoiceRequest {
	r, err := twilio.ParseVoice(form)
	if err != nil {
		b.Fatal(err)
	}
	return r
}
