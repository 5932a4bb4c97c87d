package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/flowd/flowd/engine/server"
)

// runServe is `flowd serve`: the webhook endpoint and /v1 API. Everything
// is configured by environment (docs/serve.md); flags mirror the non-secret
// variables and win over them. Secrets stay out of flags so they never show
// in ps output.
func runServe(ctx context.Context, args []string) error {
	cfg := server.ConfigFromEnv(os.Getenv)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: flowd serve [flags]\n\nServe Twilio webhooks and the /v1 API (see docs/serve.md).\n\nFlags (each defaults to its environment variable):")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Addr, "addr", serveDefault(cfg.Addr, server.DefaultAddr), "listen address (FLOWD_ADDR)")
	flows := fs.String("flows", serveDefault(strings.Join(cfg.Flows, ","), server.DefaultFlows), "flow files or directories, comma-separated (FLOWD_FLOWS)")
	fs.StringVar(&cfg.Store, "store", serveDefault(cfg.Store, server.DefaultStore), "store: memory:, sqlite:PATH or postgres://… (FLOWD_STORE)")
	fs.StringVar(&cfg.PublicURL, "public-url", cfg.PublicURL, "base URL Twilio uses to reach flowd (FLOWD_PUBLIC_URL; default "+server.DefaultPublicURL+")")
	fs.StringVar(&cfg.TwilioAPIURL, "twilio-api-url", cfg.TwilioAPIURL, "send Twilio REST calls here instead of Twilio (FLOWD_TWILIO_API_URL)")
	level := fs.String("log-level", serveDefault(os.Getenv("FLOWD_LOG_LEVEL"), "info"), "debug, info, warn or error (FLOWD_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	cfg.Flows = server.SplitPaths(*flows)
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("serve: -log-level: %w", err)
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return server.Run(ctx, cfg)
}

func serveDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
