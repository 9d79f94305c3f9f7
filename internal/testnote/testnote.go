// Package testnote makes a skipped test suite visible. `go test ./...`
// shows the output of passing packages to nobody, so a suite that skips
// for want of a database or a browser would pass unnoticed: Skip also
// writes one line, once per process and reason, to the terminal
// (/dev/tty) when there is one. Under `go test -v` the skip message shows
// as usual.
package testnote

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

var said sync.Map // reason → struct{}

// Skip skips t with reason and says so on the terminal, once per reason.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if _, dup := said.LoadOrStore(reason, struct{}{}); !dup {
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			fmt.Fprintf(tty, "SKIPPED: %s\n", reason)
			tty.Close()
		}
	}
	t.Skip(reason)
}
