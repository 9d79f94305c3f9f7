// Command audittrail-bench measures the server end to end: it runs the real
// server stack (gRPC over loopback TCP, Pebble in a temporary directory),
// ingests generated events through BatchCreateEvents from concurrent
// clients, then measures newest-50 search latency for a fixed query set.
// It is a benchmark, not a test; results go to docs/PERFORMANCE.md.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
	"github.com/audittrail/audittrail/internal/access"
	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/server"
	"github.com/audittrail/audittrail/internal/store"
	"github.com/audittrail/audittrail/internal/store/pebble"
	"github.com/audittrail/audittrail/internal/tlog"
)

func main() {
	var (
		events     = flag.Int("events", 1_000_000, "events to ingest")
		clients    = flag.Int("clients", 4, "concurrent ingest clients")
		batch      = flag.Int("batch", 1000, "events per BatchCreateEvents call")
		queries    = flag.Int("queries", 300, "searches per query kind")
		dir        = flag.String("dir", "", "data directory (default: a new temp dir, removed after)")
		cpuprofile = flag.String("cpuprofile", "", "write an ingest CPU profile here")
		pgServer   = flag.String("postgres", "", "PostgreSQL server URL (a user that may create databases): also run the PostgreSQL store and a hand-made table on the same workload")
		skipPebble = flag.Bool("skip-embedded", false, "with -postgres, skip the embedded store's run")
		exportTo   = flag.String("export", "", "measure the export sinks instead: \"dir\" (a local directory) or s3://BUCKET (with -s3-endpoint and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
		s3Endpoint = flag.String("s3-endpoint", "", "with -export s3://…, the S3 server URL")
		rounds     = flag.Int("rounds", 3, "with -export, ingest rounds without and with each sink")
	)
	flag.DurationVar(&settle, "settle", 60*time.Second, "pause before the quiescent search phase of the embedded store")
	flag.DurationVar(&underLoad, "under-load", 30*time.Second, "how long to search while ingest runs at -load of the measured maximum (0: skip)")
	flag.Float64Var(&loadFraction, "load", 0.8, "ingest rate of the search-under-ingest phase, as a fraction of the measured maximum")
	flag.Parse()
	fmt.Printf("machine: %d CPUs, %s/%s, %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	err := func() error {
		if *exportTo != "" {
			return runExport(*exportTo, *s3Endpoint, *events, *clients, *batch, *rounds)
		}
		if !*skipPebble {
			if err := run(*events, *clients, *batch, *queries, *dir, *cpuprofile); err != nil {
				return err
			}
		}
		if *pgServer != "" {
			return runPostgres(*pgServer, *events, *clients, *batch, *queries)
		}
		return nil
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "audittrail-bench:", err)
		os.Exit(1)
	}
}

const token = "bench-token"

var (
	settle, underLoad time.Duration
	loadFraction      float64
)

func run(events, clients, batch, queries int, dir, cpuprofile string) error {
	reg := prometheus.NewRegistry()
	if dir == "" {
		d, err := os.MkdirTemp("", "audittrail-bench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	opts := pebble.DefaultOptions()
	opts.Origin = benchOrigin
	opts.Registerer = reg
	st, err := pebble.Open(dir, opts)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Printf("\n## embedded store (Pebble)\n")
	_, err = runServer(st, reg, events, clients, batch, queries, func() error {
		fmt.Printf("waiting %v for background compactions to settle\n", settle)
		time.Sleep(settle)
		return nil
	}, cpuprofile)
	return err
}

const benchOrigin = "bench.example/audittrail"

// runServer serves st in-process and runs the ingest, proof and search
// measurements against it; it returns the ingest rate (events/s).
// settle, when not nil, prepares the store for a second, quiescent search
// phase.
func runServer(st store.Store, reg *prometheus.Registry, events, clients, batch, queries int, settle func() error, cpuprofile string) (float64, error) {
	bs, err := serveInProcess(st, reg)
	if err != nil {
		return 0, err
	}
	defer bs.close()
	checkpointer, ln, conn, c, ctx := bs.checkpointer, bs.ln, bs.conn, bs.c, bs.ctx

	fmt.Printf("ingest: %d events, %d clients, batches of %d\n", events, clients, batch)
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return 0, err
		}
		pprof.StartCPUProfile(f)
	}
	now := time.Now()
	elapsed, err := ingest(ctx, c, events, clients, batch, now)
	if cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return 0, err
	}
	rate := float64(events) / elapsed.Seconds()
	fmt.Printf("ingest: %.1fs, %.0f events/s\n", elapsed.Seconds(), rate)
	if mfs, err := reg.Gather(); err == nil {
		for _, mf := range mfs {
			if strings.HasPrefix(mf.GetName(), "audittrail_store_write_stall") {
				fmt.Printf("ingest: %s %.1f\n", mf.GetName(), mf.GetMetric()[0].GetCounter().GetValue())
			}
		}
	}

	rng := rand.New(rand.NewPCG(7, 8))
	// Queries end at the generation time: they measure the generated data,
	// not the self-audit events that the searches themselves add on top.
	kinds := queryKinds(now, rng)
	if err := proofs(ctx, pb.NewLogServiceClient(conn), checkpointer, uint64(events), queries); err != nil {
		return 0, err
	}
	if err := searches(ctx, c, kinds, queries, "right after ingest"); err != nil {
		return 0, err
	}
	if settle != nil {
		if err := settle(); err != nil {
			return 0, err
		}
		if err := searches(ctx, c, kinds, queries, "quiescent store"); err != nil {
			return 0, err
		}
	}
	if underLoad > 0 {
		// Searches see the newest events, the ones being ingested.
		live := queryKinds(time.Now().Add(time.Hour), rng)
		// The reader has a connection of its own, as a reader and the
		// writers would: on one HTTP/2 connection its small frames queue
		// behind the batches' large ones.
		rconn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return 0, err
		}
		defer rconn.Close()
		before, _ := reg.Gather()
		if err := searchUnderIngest(ctx, c, pb.NewEventServiceClient(rconn), live, rate, loadFraction, clients, batch, underLoad); err != nil {
			return 0, err
		}
		after, _ := reg.Gather()
		histDelta(before, after, "audittrail_store_commit_seconds", "audittrail_store_commit_group_events", "audittrail_store_search_seconds")
	}
	return rate, storeSearches(st, kinds, queries)
}

// benchServer is the server running in-process over a store, and a gRPC
// client of it as the bootstrap admin.
type benchServer struct {
	checkpointer *tlog.Checkpointer
	signerKey    string
	ln           net.Listener
	conn         *grpc.ClientConn
	c            pb.EventServiceClient
	ctx          context.Context
	close        func()
}

func serveInProcess(st store.Store, reg *prometheus.Registry) (*benchServer, error) {
	skey, _, err := tlog.GenerateKey(benchOrigin)
	if err != nil {
		return nil, err
	}
	checkpointer, err := tlog.NewCheckpointer(st, skey, tlog.DefaultCheckpointerOptions())
	if err != nil {
		return nil, err
	}
	logCtx, cancelLog := context.WithCancel(context.Background())
	logDone := make(chan struct{})
	go func() { checkpointer.Run(logCtx); close(logDone) }()
	stopLog := func() { cancelLog(); <-logDone }
	cfg := server.DefaultConfig()
	cfg.PageTokenKey = bytes.Repeat([]byte{1}, 32)
	// The bench calls as the bootstrap admin, which needs no policy.
	if err := st.CreateToken(context.Background(), store.Token{ID: "bench", Hash: server.HashToken(token), Principal: access.AdminPrincipal, CreateTime: time.Now()}); err != nil {
		stopLog()
		return nil, err
	}
	srv, err := server.New(cfg, server.Deps{
		Store:  st,
		Log:    checkpointer,
		Logger: slog.New(slog.DiscardHandler), Registerer: reg, Gatherer: reg,
	})
	if err != nil {
		stopLog()
		return nil, err
	}
	h, err := srv.Handler()
	if err != nil {
		stopLog()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		stopLog()
		return nil, err
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: h, Protocols: &protocols}
	go hs.Serve(ln)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		hs.Close()
		stopLog()
		return nil, err
	}
	return &benchServer{
		checkpointer: checkpointer, signerKey: skey, ln: ln, conn: conn, c: pb.NewEventServiceClient(conn),
		ctx:   metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token),
		close: func() { conn.Close(); hs.Close(); stopLog() },
	}, nil
}

// queryKinds is the search query set of the core issue.
func queryKinds(now time.Time, rng *rand.Rand) []queryKind {
	end := timestamppb.New(now)
	return []queryKind{
		{"time window only (last 24h)", func() *pb.Filter {
			return &pb.Filter{StartEventTime: timestamppb.New(now.Add(-24 * time.Hour)), EndEventTime: end}
		}},
		{"principal exact", func() *pb.Filter {
			return &pb.Filter{EndEventTime: end, PrincipalExact: new(fmt.Sprintf("users/%04d", rng.IntN(10000)))}
		}},
		{"action regex .*CREATE$", func() *pb.Filter { return &pb.Filter{EndEventTime: end, ActionRegex: new(".*CREATE$")} }},
		{"metadata exact env=staging", func() *pb.Filter {
			return &pb.Filter{EndEventTime: end, MetadataExact: map[string]string{"env": "staging"}}
		}},
		{"principal regex ^users/00", func() *pb.Filter { return &pb.Filter{EndEventTime: end, PrincipalRegex: new("^users/00")} }},
	}
}

// proofs measures GetEventProof for random events of the log: latency,
// proof size, and the client's verification time.
func proofs(ctx context.Context, lc pb.LogServiceClient, cp *tlog.Checkpointer, events uint64, n int) error {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cp.WaitFor(wctx, events); err != nil {
		return fmt.Errorf("no checkpoint covers the ingest: %w", err)
	}
	var lat, ver []time.Duration
	var hashes, size int
	for i := range n {
		id := sampleIDs[i%len(sampleIDs)]
		start := time.Now()
		p, err := lc.GetEventProof(ctx, &pb.GetEventProofRequest{Name: "events/" + id})
		if err != nil {
			return fmt.Errorf("event proof: %w", err)
		}
		lat = append(lat, time.Since(start))
		start = time.Now()
		if _, _, err := tlog.VerifyEvent(cp.Verifier(), tlog.EventEvidence{Stored: p.StoredEvent, Salt: p.Salt, Seq: uint64(p.Seq), Leaf: p.Leaf, Proof: p.Inclusion.Hashes, Checkpoint: []byte(p.Checkpoint.SignedNote)}); err != nil {
			return fmt.Errorf("event proof does not verify: %w", err)
		}
		ver = append(ver, time.Since(start))
		hashes += len(p.Inclusion.Hashes)
		size += proto.Size(p)
	}
	slices.Sort(lat)
	slices.Sort(ver)
	fmt.Printf("event proof (GetEventProof, gRPC, %d random events): p50 %s, p99 %s; client verification p50 %s; %.1f hashes, %d bytes per proof message (event, stored bytes, leaf, path, signed checkpoint)\n",
		n, ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), ms(ver[len(ver)/2]), float64(hashes)/float64(n), size/n)
	return nil
}

// storeSearches times the same queries on the store alone: no gRPC, no
// authentication, no self-audit write. The difference to the end-to-end
// numbers is the transport and the synced self-audit append.
func storeSearches(st store.Store, kinds []queryKind, queries int) error {
	fmt.Printf("store only (quiescent, no transport, no self-audit): newest 50\n")
	fmt.Printf("| query | p50 | p99 |\n|---|---|---|\n")
	for _, k := range kinds {
		var lat []time.Duration
		for range queries {
			f := k.filter()
			spec := event.FilterSpec{MetadataExact: f.MetadataExact}
			if f.StartEventTime != nil {
				t := f.StartEventTime.AsTime()
				spec.Start = &t
			}
			e := f.EndEventTime.AsTime()
			spec.End = &e
			spec.Exact[event.FieldPrincipal] = f.PrincipalExact
			spec.Regex[event.FieldPrincipal] = f.PrincipalRegex
			spec.Regex[event.FieldAction] = f.ActionRegex
			start := time.Now()
			flt, err := spec.Compile(time.Now())
			if err != nil {
				return err
			}
			if _, err := st.Search(context.Background(), store.Query{Filter: flt, Limit: 50, Deadline: time.Now().Add(2 * time.Second)}); err != nil {
				return err
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		fmt.Printf("| %s | %s | %s |\n", k.name, ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]))
	}
	return nil
}

type queryKind struct {
	name   string
	filter func() *pb.Filter
}

func searches(ctx context.Context, c pb.EventServiceClient, kinds []queryKind, queries int, phase string) error {
	fmt.Printf("search (%s): newest 50, %d searches per kind, sequential, self-audit on\n", phase, queries)
	fmt.Printf("| query | p50 | p99 | events/page |\n|---|---|---|---|\n")
	for _, k := range kinds {
		var lat []time.Duration
		got := 0
		for range queries {
			start := time.Now()
			resp, err := c.SearchEvents(ctx, &pb.SearchEventsRequest{Filter: k.filter(), PageSize: 50})
			if err != nil {
				return fmt.Errorf("%s: %w", k.name, err)
			}
			lat = append(lat, time.Since(start))
			got += len(resp.Events)
		}
		slices.Sort(lat)
		fmt.Printf("| %s | %s | %s | %.1f |\n", k.name, ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), float64(got)/float64(queries))
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

var actions = []string{
	"actions/enginemanager/daiEngines/CREATE", "actions/enginemanager/daiEngines/DELETE",
	"actions/enginemanager/daiEngines/GET", "actions/enginemanager/daiEngines/UPDATE",
	"actions/mlops/deployments/CREATE", "actions/mlops/deployments/GET",
	"actions/storage/buckets/LIST", "actions/storage/objects/GET",
}

// ingest sends the events; event times spread over the last 30 days and
// mostly increase with ingestion, as in a live system. Requests are built
// before the clock starts, so the time measured is the server's (and gRPC's)
// work, not the generator's.
func ingest(ctx context.Context, c pb.EventServiceClient, events, clients, batch int, now time.Time) (time.Duration, error) {
	reqs := generate(events, batch, now)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(reqs)) {
					return
				}
				resp, err := c.BatchCreateEvents(ctx, reqs[i])
				if err == nil && len(resp.FailedRequests) > 0 {
					err = fmt.Errorf("%d failed requests, e.g. %v", len(resp.FailedRequests), resp.FailedRequests)
				}
				reqs[i] = nil
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), firstErr
}

// sampleIDs are ids of generated events, for the proof measurements.
var sampleIDs []string

func generate(events, batch int, now time.Time) []*pb.BatchCreateEventsRequest {
	rng := rand.New(rand.NewPCG(1, 42))
	sampleIDs = nil
	span := 30 * 24 * time.Hour
	var reqs []*pb.BatchCreateEventsRequest
	for from := 0; from < events; from += batch {
		n := min(batch, events-from)
		req := &pb.BatchCreateEventsRequest{Requests: make([]*pb.CreateEventRequest, n)}
		for i := range n {
			seq := from + i
			at := now.Add(-span + time.Duration(float64(span)*float64(seq)/float64(events)) - time.Duration(rng.IntN(60))*time.Second)
			req.Requests[i] = genRequest(rng, at)
			if rng.IntN(1000) == 0 {
				sampleIDs = append(sampleIDs, req.Requests[i].EventId)
			}
		}
		reqs = append(reqs, req)
	}
	return reqs
}

// genRequest is one generated event of the workload, at time at.
func genRequest(rng *rand.Rand, at time.Time) *pb.CreateEventRequest {
	ws := rng.IntN(100)
	return &pb.CreateEventRequest{EventId: uuid.NewString(), Event: &pb.Event{
		EventTime:       timestamppb.New(at),
		EventSource:     fmt.Sprintf("service-%d", rng.IntN(10)),
		Action:          actions[rng.IntN(len(actions))],
		ReadOnly:        rng.IntN(2) == 0,
		Status:          &pb.Status{Code: int32([]int{0, 0, 0, 0, 3, 5, 7}[rng.IntN(7)])},
		Principal:       fmt.Sprintf("users/%04d", rng.IntN(10000)),
		SourceIpAddress: []string{"8.8.8.8", "10.0.0.7", "2001:4860::8888", "203.0.113.9"}[rng.IntN(4)],
		Resource:        fmt.Sprintf("//engine-manager/workspaces/ws%03d/daiEngines/e%d", ws, rng.IntN(1000)),
		UserAgent:       "bench/1.0",
		Metadata:        map[string]string{"env": []string{"prod", "dev", "staging"}[rng.IntN(3)], "tier": fmt.Sprint(rng.IntN(5))},
	}}
}

// searchUnderIngest keeps ingest running at load × the measured maximum
// rate (batches generated as they are sent, paced per client) while one
// client searches newest-50 sequentially, self-audit on: the latency a
// reader sees on a busy server (each search waits for its self-audit
// commit, which the store's urgent lane keeps out of the bulk backlog).
func searchUnderIngest(ctx context.Context, c, reader pb.EventServiceClient, kinds []queryKind, maxRate, load float64, clients, batch int, d time.Duration) error {
	rate := maxRate * load
	interval := time.Duration(float64(time.Second) * float64(batch*clients) / rate)
	fmt.Printf("search under ingest: %.0f%% of %.0f events/s (%d clients, a %d-event batch each every %v), %v\n",
		load*100, maxRate, clients, batch, interval.Round(time.Millisecond), d)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var sent atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, clients)
	start := time.Now()
	for i := range clients {
		wg.Go(func() {
			// A pool of batches built up front, sent again with new ids:
			// the client then costs what it cost in the maximum-rate run,
			// where requests were built before the clock started.
			rng := rand.New(rand.NewPCG(uint64(i), 99))
			pool := make([]*pb.BatchCreateEventsRequest, 8)
			for p := range pool {
				pool[p] = &pb.BatchCreateEventsRequest{Requests: make([]*pb.CreateEventRequest, batch)}
				for j := range pool[p].Requests {
					pool[p].Requests[j] = genRequest(rng, time.Now().Add(-time.Duration(rng.IntN(60))*time.Second))
				}
			}
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for n := 0; ; n++ {
				req := pool[n%len(pool)]
				for _, r := range req.Requests {
					r.EventId = uuid.NewString()
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if _, err := c.BatchCreateEvents(ctx, req); err != nil {
					if ctx.Err() == nil && status.Code(err) != codes.DeadlineExceeded {
						errc <- err
					}
					return
				}
				sent.Add(int64(batch))
			}
		})
	}
	fmt.Printf("| query | p50 | p99 | searches |\n|---|---|---|---|\n")
	lat := map[string][]time.Duration{}
	for i := 0; ctx.Err() == nil; i++ {
		k := kinds[i%2] // time window only, principal exact: the index paths
		t0 := time.Now()
		if _, err := reader.SearchEvents(ctx, &pb.SearchEventsRequest{Filter: k.filter(), PageSize: 50}); err != nil {
			if ctx.Err() != nil || status.Code(err) == codes.DeadlineExceeded {
				break
			}
			return fmt.Errorf("%s: %w", k.name, err)
		}
		lat[k.name] = append(lat[k.name], time.Since(t0))
	}
	wg.Wait()
	select {
	case err := <-errc:
		return fmt.Errorf("ingest under search: %w", err)
	default:
	}
	for _, k := range kinds[:2] {
		l := lat[k.name]
		slices.Sort(l)
		fmt.Printf("| %s | %s | %s | %d |\n", k.name, ms(l[len(l)/2]), ms(l[len(l)*99/100]), len(l))
	}
	fmt.Printf("ingest while searching: %.0f events/s\n", float64(sent.Load())/time.Since(start).Seconds())
	return nil
}

// histDelta prints, for the named histograms, the upper bounds under which
// 50% and 99% of the observations between two gathers fall.
func histDelta(before, after []*dto.MetricFamily, names ...string) {
	find := func(mfs []*dto.MetricFamily, name string) *dto.Histogram {
		for _, mf := range mfs {
			if mf.GetName() == name && len(mf.GetMetric()) > 0 {
				return mf.GetMetric()[0].GetHistogram()
			}
		}
		return nil
	}
	for _, name := range names {
		a, b := find(after, name), find(before, name)
		if a == nil {
			continue
		}
		total := a.GetSampleCount()
		if b != nil {
			total -= b.GetSampleCount()
		}
		q := func(frac float64) float64 {
			for i, bk := range a.GetBucket() {
				n := bk.GetCumulativeCount()
				if b != nil {
					n -= b.GetBucket()[i].GetCumulativeCount()
				}
				if float64(n) >= frac*float64(total) {
					return bk.GetUpperBound()
				}
			}
			return math.Inf(1)
		}
		fmt.Printf("%s during the phase: %d observations, p50 ≤ %g, p99 ≤ %g\n", name, total, q(0.5), q(0.99))
	}
}
