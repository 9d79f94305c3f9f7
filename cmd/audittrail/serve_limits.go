package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/audittrail/audittrail/internal/server"
)

// limitFlags are the server's load bounds (SPEC §5): request bytes and
// create calls in progress, and the Go runtime's soft memory limit.
type limitFlags struct {
	inflight    byteSize
	writes      int
	memoryLimit byteSize
	diskReserve byteSize
}

func (l *limitFlags) register(fs *flag.FlagSet, def server.Config) {
	l.inflight = byteSize(def.MaxInflightBytes)
	fs.Var(&l.inflight, "max-inflight-bytes", "bytes of API requests read and served at once (e.g. 64MiB); past it requests get 429 with Retry-After")
	fs.IntVar(&l.writes, "max-concurrent-writes", def.MaxConcurrentWrites, "create calls in progress at once; past it they get 429 with Retry-After")
	fs.Var(&l.diskReserve, "disk-reserve", "embedded store: free space below which creates are refused with 503 (disk full) before they are written; the server's own search records may use half of it (default: twice the memtable, 160MiB)")
	fs.Var(&l.memoryLimit, "memory-limit", "soft memory limit of the process (GOMEMLIMIT; e.g. 2GiB). Default: $GOMEMLIMIT, else 3/4 of the memory of the machine or its cgroup")
}

// apply sets the soft memory limit and the admission bounds of cfg.
func (l *limitFlags) apply(cfg *server.Config, getenv func(string) string) (memLimit int64) {
	cfg.MaxInflightBytes, cfg.MaxConcurrentWrites = int64(l.inflight), l.writes
	switch {
	case l.memoryLimit > 0:
		memLimit = int64(l.memoryLimit)
	case getenv("GOMEMLIMIT") != "":
		return debug.SetMemoryLimit(-1) // the runtime read it already
	default:
		if total := machineMemory(); total > 0 {
			memLimit = total / 4 * 3
		}
	}
	if memLimit > 0 {
		debug.SetMemoryLimit(memLimit)
	}
	return memLimit
}

// machineMemory is the cgroup's memory limit when one is set (v2
// memory.max, v1 memory.limit_in_bytes), else MemTotal from /proc/meminfo;
// 0 when none can be read.
func machineMemory() int64 {
	total := memTotal()
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(p); err == nil {
			// "max", or v1's huge "unlimited" value, mean no limit.
			if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
				return n
			}
		}
	}
	return total
}

func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// byteSize is a flag of bytes with an optional KiB/MiB/GiB (or KB/MB/GB)
// suffix.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q: want a byte count such as 64MiB", s)
	}
	*b = byteSize(n * mult)
	return nil
}
