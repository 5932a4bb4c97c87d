package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flowd/flowd/engine/server"
)

const serveUsage = "serve [flags]"

// runServe is `flowd serve`: the Twilio webhook endpoint and the /v1 API
// until SIGINT or SIGTERM. Configuration comes from the environment
// (docs/serve.md); flags mirror the non-secret variables and win over them.
// Secrets have no flags, so they never show in ps output.
func runServe(args []string, stdout, stderr io.Writer) int {
	cfg := server.ConfigFromEnv(getenv)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: flowd "+serveUsage)
		fmt.Fprintln(stderr, "\nServe Twilio webhooks and the /v1 API (docs/serve.md). Secrets come from the environment only:\nTWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_API_KEY, TWILIO_API_SECRET, FLOWD_API_TOKEN.\n\nFlags (each defaults to its environment variable):")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Addr, "addr", serveDefault(cfg.Addr, server.DefaultAddr), "listen address (FLOWD_ADDR)")
	flows := fs.String("flows", serveDefault(strings.Join(cfg.Flows, ","), server.DefaultFlows), "flow files, directories or globs, comma- or colon-separated (FLOWD_FLOWS)")
	fs.StringVar(&cfg.Store, "store", serveDefault(cfg.Store, server.DefaultStore), "store: memory:, sqlite:PATH or postgres://… (FLOWD_STORE)")
	fs.StringVar(&cfg.PublicURL, "public-url", cfg.PublicURL, "base URL Twilio uses to reach flowd (FLOWD_PUBLIC_URL; default http:// and the host:port of -addr, with localhost for no host or 0.0.0.0)")
	fs.StringVar(&cfg.TwilioAPIURL, "twilio-api-url", cfg.TwilioAPIURL, "send Twilio REST calls here instead of Twilio (FLOWD_TWILIO_API_URL)")
	retain := fs.String("retain", serveDefault(env("FLOWD_RETAIN"), "30d"), "keep a finished call's history this long: a duration (72h), days (30d) or off (FLOWD_RETAIN)")
	retainKeys := fs.String("retain-keys", serveDefault(env("FLOWD_RETAIN_KEYS"), "24h"), "keep idempotency keys this long: a duration, days or off (FLOWD_RETAIN_KEYS)")
	drain := fs.String("drain-delay", serveDefault(env("FLOWD_DRAIN_DELAY"), "0s"), "on SIGTERM, keep serving this long with /readyz failing, so a load balancer stops sending first (FLOWD_DRAIN_DELAY)")
	level := fs.String("log-level", serveDefault(env("FLOWD_LOG_LEVEL"), "info"), "debug, info, warn or error (FLOWD_LOG_LEVEL)")
	// The usage text shows each default; a DSN's or URL's password from
	// the environment must not be in it (a typo prints it to the terminal
	// and to CI logs). Only the text changes, not the value.
	fs.Lookup("store").DefValue = server.RedactStore(fs.Lookup("store").DefValue)
	if u := fs.Lookup("twilio-api-url"); u.DefValue != "" {
		u.DefValue = redactURL(u.DefValue)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "flowd serve: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return 2
	}
	cfg.Flows = server.SplitPaths(*flows)
	for _, r := range []struct {
		flag, env string
		v         string
		dst       *time.Duration
	}{{"retain", "FLOWD_RETAIN", *retain, &cfg.Retain}, {"retain-keys", "FLOWD_RETAIN_KEYS", *retainKeys, &cfg.RetainKeys}} {
		d, err := server.ParseRetention(r.v)
		if err != nil {
			fmt.Fprintf(stderr, "flowd serve: -%s (%s): %v\n", r.flag, r.env, err)
			return 2
		}
		*r.dst = d
	}
	if d, err := time.ParseDuration(*drain); err != nil || d < 0 {
		fmt.Fprintf(stderr, "flowd serve: -drain-delay (FLOWD_DRAIN_DELAY): %q is not a duration such as 5s\n", *drain)
		return 2
	} else {
		cfg.DrainDelay = d
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "flowd serve: -log-level (FLOWD_LOG_LEVEL): %v\n", err)
		return 2
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lv}))

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, stop := onSignals(sigs, cfg.Logger, os.Exit)
	defer stop()
	if err := server.Run(ctx, cfg); err != nil {
		fmt.Fprintf(stderr, "flowd serve: %v\n", err)
		return 1
	}
	return 0
}

// onSignals returns a context that the first signal on sigs ends (Run
// then shuts down gracefully); a second one, for someone who will not
// wait for the drain, the in-flight requests and the outbox flush, is
// logged and exits at once with 128 + the signal's number. stop ends the
// watch.
func onSignals(sigs <-chan os.Signal, log *slog.Logger, exit func(int)) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan struct{})
	go func() {
		var first os.Signal
		select {
		case first = <-sigs:
			cancel(fmt.Errorf("%v signal received", first))
		case <-done:
			return
		}
		select {
		case sig := <-sigs:
			code := 1
			if n, ok := sig.(syscall.Signal); ok {
				code = 128 + int(n)
			}
			log.Warn("second signal during shutdown: exiting now; in-flight requests are cut off and the outbox is sent by the next start",
				"signal", sig.String(), "first", first.String(), "exit_status", code)
			exit(code)
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() { once.Do(func() { close(done); cancel(context.Canceled) }) }
}

// env is getenv without surrounding whitespace (as server.ConfigFromEnv
// reads its variables).
func env(name string) string { return strings.TrimSpace(getenv(name)) }

// redactURL is u without the password of its user info, if it has one.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(set)"
	}
	return u.Redacted()
}

func serveDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
