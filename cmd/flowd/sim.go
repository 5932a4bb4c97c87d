package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/flowd/flowd/engine"
	"github.com/flowd/flowd/engine/flow"
	"github.com/flowd/flowd/engine/scenario"
	"github.com/flowd/flowd/engine/twiliosim"
)

const simUsage = "sim [--addr 127.0.0.1:8081] [--flowd http://127.0.0.1:8080] [--flows flows/] [--queues support,sales,billing] [--workers alice:support,bob:sales]"

// runSim is `flowd sim`: the Twilio stand-in on its own, so flows can be
// tried with no Twilio account. It prints the environment for `flowd serve`
// and the curl commands that place calls, answer them and ask who hears whom.
func runSim(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sim", simUsage, stderr)
	addr := fs.String("addr", "127.0.0.1:8081", "where the stand-in listens")
	flowdURL := fs.String("flowd", "http://127.0.0.1:8080", "where flowd serve listens (its FLOWD_PUBLIC_URL)")
	flows := fs.String("flows", "flows/", "flow files or directories: their numbers are routed to flowd")
	queues := fs.String("queues", "support,sales,billing", "TaskRouter queues; the first is the default")
	workers := fs.String("workers", "alice:support,bob:sales,carol:billing", "workers as name:queue[+queue], comma-separated; their contact URI is client:name")
	token := fs.String("auth-token", "simtoken", "the auth token webhooks are signed with (flowd's TWILIO_AUTH_TOKEN)")
	if _, err := parseInterspersed(fs, args); err != nil {
		return flagExit(err)
	}
	set, diags := flow.LoadSet(strings.Split(*flows, ","), flow.LoadOptions{Env: map[string]string{}})
	if diags.HasErrors() {
		for _, d := range diags {
			fmt.Fprintln(stderr, d.String())
		}
		return 1
	}
	sim := twiliosim.New(twiliosim.Options{AuthToken: *token, OpenAPIDir: os.Getenv("TWILIO_OPENAPI_DIR")})
	if err := sim.SpecError(); err != nil {
		fmt.Fprintf(stderr, "flowd sim: TWILIO_OPENAPI_DIR: %v\n", err)
		return 1
	}
	defer sim.Close()
	u, err := sim.Start(*addr)
	if err != nil {
		fmt.Fprintf(stderr, "flowd sim: %v\n", err)
		return 1
	}
	qs := strings.Split(*queues, ",")
	for _, q := range qs {
		sim.AddQueue(q)
	}
	wf := sim.AddWorkflow("flowd", qs[0])
	for _, w := range strings.Split(*workers, ",") {
		if w == "" {
			continue
		}
		name, q, _ := strings.Cut(w, ":")
		wq := strings.Split(q, "+")
		if q == "" {
			wq = qs[:1]
		}
		sim.AddWorker(name, "client:"+name, nil, wq...)
		if err := sim.SetWorkerAvailable(name, true); err != nil {
			fmt.Fprintf(stderr, "flowd sim: worker %s: %v\n", name, err)
			return 1
		}
	}
	base := strings.TrimRight(*flowdURL, "/")
	var numbers []string
	for _, f := range set.Flows {
		for _, n := range f.Numbers {
			sim.AddNumber(n, base+engine.PathVoice)
			numbers = append(numbers, n+" ("+f.Name+")")
		}
	}
	sim.ConfigureWorkspace(twiliosim.WorkspaceConfig{AssignmentCallbackURL: base + engine.PathAssignment, EventCallbackURL: base + engine.PathWorkspaceEvents})

	fmt.Fprintf(stdout, "Twilio stand-in on %s; numbers: %s\n\n", u, strings.Join(numbers, ", "))
	// flowd must listen where the stand-in sends webhooks.
	listen := ":8080"
	if pu, err := url.Parse(base); err == nil && pu.Port() != "" {
		listen = pu.Host
	}
	fmt.Fprintf(stdout, "Run flowd against it:\n\n  FLOWD_TWILIO_API_URL=%s TWILIO_ACCOUNT_SID=%s TWILIO_AUTH_TOKEN=%s \\\n  %s=%s %s=%s %s=%s \\\n  FLOWD_ADDR=%s FLOWD_PUBLIC_URL=%s go run ./cmd/flowd serve\n\n",
		u, sim.AccountSid(), *token, scenario.EnvWorkspace, sim.WorkspaceSid(), scenario.EnvWorkflow, wf, scenario.EnvPostWorkActivity, sim.ActivitySid("Available"), listen, base)
	fmt.Fprintf(stdout, "Then drive calls:\n\n  curl --data-urlencode from=+447700900123 --data-urlencode to=%s %s/_sim/call\n  curl -d party=client:alice %s/_sim/answer\n  curl '%s/_sim/hears?a=%%2B447700900123&b=client:alice'\n  curl '%s/_sim/timeline?party=%%2B447700900123'\n  curl %s/_sim/state\n\n"+
		"flowd's /v1 API takes the call's CallSid (printed by /_sim/call) or any of its TaskSids:\n\n"+
		"  curl -X POST %s/v1/tasks/CA…/commands/hold\n\n"+
		"More of the stand-in (POST, form values): /_sim/press (party, digits), /_sim/hangup, /_sim/decline,\n"+
		"/_sim/noanswer, /_sim/drop (party), /_sim/advance (d: a Go duration such as 30s), /_sim/available\n"+
		"(worker, available=true|false).\n\n"+
		"Quote a + in a form value (--data-urlencode party=+447700900456): with -d it arrives as a space.\n\n",
		firstNumber(set), u, u, u, u, u, base)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return 0
}

func firstNumber(set *flow.Set) string {
	for _, f := range set.Flows {
		if len(f.Numbers) > 0 {
			return f.Numbers[0]
		}
	}
	return "+15550100200"
}
