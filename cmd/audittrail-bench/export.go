package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/audittrail/audittrail/internal/export"
	"github.com/audittrail/audittrail/internal/store/pebble"
)

// runExport measures the export sinks on the embedded store: the ingest
// rate with no sink, the ingest rate while a sink runs (its cost), and the
// sink's own throughput catching up on a quiescent log. dest is "dir" (a
// local directory) or an s3 bucket URL (s3://bucket/prefix, with
// -s3-endpoint and the AWS_* credentials).
func runExport(dest, s3Endpoint string, events, clients, batch, reps int) error {
	root, err := os.MkdirTemp("", "audittrail-bench-export")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	fmt.Printf("\n## export sinks (destination %s, %d events, %d clients, batches of %d, %d rounds)\n", dest, events, clients, batch, reps)
	n := 0
	next := func() string { n++; return filepath.Join(root, fmt.Sprint(n)) }
	for _, typ := range []string{"s3-archive", "parquet"} {
		// Cost: rounds of ingest into a fresh store without and with the
		// sink running, interleaved so that drift of the machine hits both.
		var without, with []float64
		for range reps {
			for _, sink := range []bool{false, true} {
				bs, err := openBenchStore(next())
				if err != nil {
					return err
				}
				var during func() (func(), error)
				if sink {
					objs, err := openDest(dest, s3Endpoint, next())
					if err != nil {
						return err
					}
					during = func() (func(), error) {
						_, stop, err := bs.startSink(typ, "live", objs, fmt.Sprint("bench/", n))
						return stop, err
					}
				}
				rate, err := bs.ingest(events, clients, batch, during)
				if err != nil {
					return err
				}
				if sink {
					with = append(with, rate)
				} else {
					without = append(without, rate)
				}
				// Throughput: the sink catches up on the quiescent log.
				if !sink && len(without) == 1 {
					objs, err := openDest(dest, s3Endpoint, next())
					if err != nil {
						return err
					}
					start := time.Now()
					r, stop, err := bs.startSink(typ, "catchup", objs, fmt.Sprint("bench/", n))
					if err != nil {
						return err
					}
					if err := waitCaughtUp(r, uint64(events)); err != nil {
						return err
					}
					took := time.Since(start)
					stop()
					fmt.Printf("%s: catch-up of %d events on a quiescent log in %.2fs: %.0f events/s\n", typ, events, took.Seconds(), float64(events)/took.Seconds())
				}
				bs.close()
			}
		}
		m0, m1 := median(without), median(with)
		fmt.Printf("%s: ingest without the sink %s events/s, with it running %s events/s: median %.0f vs %.0f, %.1f%% lower\n",
			typ, rates(without), rates(with), m0, m1, 100*(m0-m1)/m0)
	}
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func rates(xs []float64) string {
	var b strings.Builder
	for i, x := range xs {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%.0f", x)
	}
	return b.String()
}

// benchStore is an embedded store served in-process.
type benchStore struct {
	st  *pebble.Store
	reg *prometheus.Registry
	bs  *benchServer
}

func openBenchStore(dir string) (*benchStore, error) {
	reg := prometheus.NewRegistry()
	opts := pebble.DefaultOptions()
	opts.Origin = benchOrigin
	opts.Registerer = reg
	st, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	bs, err := serveInProcess(st, reg)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &benchStore{st: st, reg: reg, bs: bs}, nil
}

// ingest runs the ingest measurement; during, when set, starts something
// just before and stops it after.
func (b *benchStore) close() {
	b.bs.close()
	b.st.Close()
}

func (b *benchStore) ingest(events, clients, batch int, during func() (func(), error)) (float64, error) {
	if during != nil {
		stop, err := during()
		if err != nil {
			return 0, err
		}
		defer stop()
	}
	elapsed, err := ingest(b.bs.ctx, b.bs.c, events, clients, batch, time.Now())
	if err != nil {
		return 0, err
	}
	return float64(events) / elapsed.Seconds(), nil
}

// startSink runs a sink writing under prefix (a new one per run: runs must
// not meet each other's objects in a shared bucket).
func (b *benchStore) startSink(typ, name string, objs export.Objects, prefix string) (*export.Runner, func(), error) {
	signer, err := note.NewSigner(b.bs.signerKey)
	if err != nil {
		return nil, nil, err
	}
	var sink export.Sink = export.NewParquetSink(objs, prefix)
	if typ == "s3-archive" {
		sink = export.NewArchiveSink(objs, b.st, signer, prefix)
	}
	opts := export.DefaultOptions()
	opts.Name, opts.Type = name, typ
	r, err := export.NewRunner(b.st, sink, export.NewMetrics(nil), opts)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx, time.Minute); close(done) }()
	return r, func() {
		cancel()
		<-done
		if e := r.Status().LastError; e != "" {
			fmt.Printf("%s sink %s: last error: %s\n", typ, name, e)
		}
	}, nil
}

func waitCaughtUp(r *export.Runner, size uint64) error {
	deadline := time.Now().Add(30 * time.Minute)
	for r.Status().Next < size {
		if time.Now().After(deadline) {
			return fmt.Errorf("sink stuck at %d of %d: %s", r.Status().Next, size, r.Status().LastError)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func openDest(dest, endpoint, dir string) (export.Objects, error) {
	if dest == "dir" {
		return export.NewDir(dir)
	}
	bucket, _, err := export.ParseS3URL(dest)
	if err != nil {
		return nil, err
	}
	return export.NewS3(export.S3Config{Bucket: bucket, Endpoint: endpoint, PathStyle: true,
		AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY")})
}
