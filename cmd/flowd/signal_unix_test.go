//go:build unix

package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecondSignalExitsAtOnce: `flowd serve` in a long drain (SIGTERM,
// FLOWD_DRAIN_DELAY=60s) exits at once on a second signal, with 128 + its
// number, and says so; it used to ignore it until the shutdown was over.
// The serve runs in a child: this test binary again, in serve mode.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	if os.Getenv("FLOWD_TEST_SERVE_CHILD") == "1" {
		os.Exit(run([]string{"serve"}, os.Stdout, os.Stderr))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecondSignalExitsAtOnce$")
	cmd.Env = append(os.Environ(), "FLOWD_TEST_SERVE_CHILD=1", "FLOWD_STORE=memory:", "FLOWD_ADDR=127.0.0.1:0",
		"FLOWD_FLOWS="+validDir, "FLOWD_DRAIN_DELAY=60s", "FLOWD_PUBLIC_URL=http://127.0.0.1", "TWILIO_AUTH_TOKEN=x",
		"FLOWD_API_TOKEN=x", "TWILIO_ACCOUNT_SID=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	var log strings.Builder
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("flowd serve's log:\n%s", log.String())
		}
	})
	deadline := time.After(20 * time.Second)
	waitFor := func(what string) {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("flowd serve ended before %q", what)
				}
				log.WriteString(l + "\n")
				if strings.Contains(l, what) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q in time", what)
			}
		}
	}
	waitFor(`"msg":"flowd serving"`)
	cmd.Process.Signal(syscall.SIGTERM)
	waitFor(`"msg":"draining: /readyz fails, still serving"`)
	cmd.Process.Signal(syscall.SIGINT)
	waitFor("second signal during shutdown: exiting now")
	for l := range lines {
		log.WriteString(l + "\n")
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 128+int(syscall.SIGINT) {
			t.Fatalf("exit: %v, want status %d", err, 128+int(syscall.SIGINT))
		}
	case <-deadline:
		t.Fatal("flowd serve did not exit on the second signal")
	}
}
