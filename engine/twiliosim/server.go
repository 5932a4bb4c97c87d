package twiliosim

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"
)

// Start serves the REST API (and the /_sim/ control API) on addr
// ("127.0.0.1:0" when empty: a free loopback port), sets URL and returns
// it. Close stops the server too. For tests prefer NewTest.
func (s *Sim) Start(addr string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	u := "http://" + ln.Addr().String()
	s.SetURL(u)
	go func() {
		<-s.stop
		_ = srv.Close()
	}()
	return u, nil
}

// serveControl is a small HTTP face of the driver API for a standalone
// `flowd sim`: POST /_sim/{call,answer,decline,noanswer,hangup,drop,press,
// advance,available}, GET /_sim/{state,hears,timeline}. Parameters are
// form or query values: from, to, party, digits, d (Go duration), worker,
// available, a, b.
func (s *Sim) serveControl(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f := r.Form
	var out any
	var err error
	switch strings.TrimPrefix(r.URL.Path, "/_sim/") {
	case "call":
		var sid string
		sid, err = s.PlaceCall(f.Get("from"), f.Get("to"))
		out = map[string]string{"call_sid": sid}
	case "answer":
		err = s.Answer(f.Get("party"))
	case "decline":
		err = s.Decline(f.Get("party"))
	case "noanswer":
		err = s.NoAnswer(f.Get("party"))
	case "hangup":
		err = s.Hangup(f.Get("party"))
	case "drop":
		err = s.DropCall(f.Get("party"))
	case "press":
		err = s.Press(f.Get("party"), f.Get("digits"))
	case "advance":
		var d time.Duration
		if d, err = time.ParseDuration(f.Get("d")); err == nil {
			s.Advance(d)
		}
	case "available":
		err = s.SetWorkerAvailable(f.Get("worker"), f.Get("available") != "false")
	case "hears":
		out = map[string]bool{"hears": s.Hears(f.Get("a"), f.Get("b"))}
	case "timeline":
		out = s.Timeline(f.Get("party"))
	case "state":
		out = map[string]any{"now": s.Now(), "calls": s.Calls(), "tasks": s.Tasks(), "idle": s.Idle()}
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		out = map[string]string{"error": err.Error()}
	} else if out == nil {
		out = map[string]bool{"ok": true} // an action done: say so, not null
	}
	_ = json.NewEncoder(w).Encode(out)
}
