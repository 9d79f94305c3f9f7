package server

import (
	"sync"
	"time"
)

// logLimiter lets one log line per key through every interval and counts
// the ones it holds back.
type logLimiter struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]*limitedLine
}

type limitedLine struct {
	at         time.Time
	suppressed int
}

// allow reports whether a line for key may be logged now, and how many
// were held back since the last one.
func (l *logLimiter) allow(key string, now time.Time) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.last[key]
	if e == nil {
		l.last[key] = &limitedLine{at: now}
		return 0, true
	}
	if now.Sub(e.at) < l.every {
		e.suppressed++
		return 0, false
	}
	n := e.suppressed
	e.at, e.suppressed = now, 0
	return n, true
}
