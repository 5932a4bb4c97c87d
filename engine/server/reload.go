package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/flowd/flowd/engine"
	"github.com/flowd/flowd/engine/flow"
)

// reloader swaps in new flows when asked (SIGHUP) or when the files change.
// Polling mtimes every couple of seconds needs no new dependency and works
// on every filesystem, including mounted ConfigMaps where inotify does not.
type reloader struct {
	paths   []string
	opts    flow.LoadOptions
	eng     *engine.Engine
	log     *slog.Logger
	metrics *metrics
	last    string // fingerprint of the files last loaded (or refused)
}

func (r *reloader) run(ctx context.Context, interval time.Duration, hup <-chan os.Signal) {
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload("SIGHUP")
		case <-tick:
			if fingerprint(r.paths) != r.last {
				r.reload("files changed")
			}
		}
	}
}

// reload validates the files first: an invalid edit is logged with its
// diagnostics and the running revision stays. Sessions keep the revision
// they started on either way (Engine.SetFlows).
func (r *reloader) reload(why string) {
	// Taken before loading, so an edit made while loading triggers
	// another reload.
	r.last = fingerprint(r.paths)
	set, diags := flow.LoadSet(r.paths, r.opts)
	if diags.HasErrors() {
		r.metrics.reloads.WithLabelValues("invalid").Inc()
		r.log.Error("flow reload refused; the running flows stay", "reason", why,
			"running", flowNames(r.eng.Flows()), "diagnostics", formatDiagnostics(diags))
		return
	}
	logWarnings(r.log, diags)
	old := r.eng.Flows()
	r.eng.SetFlows(set)
	r.metrics.reloads.WithLabelValues("ok").Inc()
	r.log.Info("flows reloaded", "reason", why, "flows", flowNames(set), "changed", changedFlows(old, set))
}

// changedFlows names flows added, removed or edited between two sets.
func changedFlows(old, cur *flow.Set) []string {
	before := map[string]string{}
	if old != nil {
		for _, f := range old.Flows {
			before[f.Name] = f.Revision
		}
	}
	out := []string{} // "changed": [] in the log when nothing did, not null
	if cur != nil {
		for _, f := range cur.Flows {
			rev, ok := before[f.Name]
			switch {
			case !ok:
				out = append(out, "+"+f.Name)
			case rev != f.Revision:
				out = append(out, f.Name)
			}
			delete(before, f.Name)
		}
	}
	for name := range before {
		out = append(out, "-"+name)
	}
	sort.Strings(out)
	return out
}

// fingerprint summarises the flow files' names, sizes and mtimes. The
// files are listed the way the loader lists them (flow.ExpandPaths), so a
// file added to or removed from a flows directory counts as a change.
func fingerprint(paths []string) string {
	files, _ := flow.ExpandPaths(paths)
	var b strings.Builder
	for _, p := range files {
		fi, err := os.Stat(p)
		if err != nil {
			fmt.Fprintf(&b, "%s\x00missing\n", p)
			continue
		}
		fmt.Fprintf(&b, "%s\x00%d\x00%d\n", p, fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String()
}
